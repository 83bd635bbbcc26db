# Every target builds what it needs: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
IMAGE  ?= baw-gateway:0.1.0

.PHONY: run test bench-smoke spec lint deploy-check image bench soak clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP) ## start the gateway against the embedded BAW simulator, print sample curl lines
	$(BIN)/baw-gateway demo

test: $(STAMP) ## the whole suite, warnings as errors (includes the Dockerfile lint and the manifest checks)
	$(BIN)/pytest

bench-smoke: $(STAMP) ## the whole bench harness for a second per scenario (installs wrk and nginx with apt-get; CI runs it)
	$(BIN)/pytest -m bench tests/perf

spec: $(STAMP) ## regenerate specs/openapi.json from the code
	$(BIN)/baw-gateway openapi > specs/openapi.json

lint: $(STAMP) ## static checks: ruff and hadolint
	$(BIN)/pip install --quiet 'ruff>=0.6'
	$(BIN)/ruff check gateway tests
	$(BIN)/ruff format --check gateway tests
	$(BIN)/lint-imports setup.cfg
	$(BIN)/hadolint deploy/Dockerfile

deploy-check: $(STAMP) ## render every kustomize overlay and validate it against the Kubernetes schemas
	@for overlay in deploy/k8s/overlays/*/; do \
	  echo "== $$overlay"; \
	  $(BIN)/kubectl kustomize $$overlay > $(VENV)/rendered.yaml || exit 1; \
	  $(BIN)/kubernetes-validate --strict --quiet $(VENV)/rendered.yaml || exit 1; \
	done

bench: $(STAMP) ## gateway vs references side by side (installs wrk and nginx with apt-get when missing)
	$(BIN)/python tests/perf/bench.py

soak: $(STAMP) ## 10 minutes of distinct lookups: RSS over time must stay flat
	$(BIN)/python tests/perf/bench.py --soak 600 --out .soak

image: ## build the container image (needs a Docker engine; none runs on the CI machines)
	docker build -f deploy/Dockerfile -t $(IMAGE) .

clean:
	rm -rf $(VENV) build dist *.egg-info
