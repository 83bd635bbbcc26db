# Every target builds what it needs: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP  := $(VENV)/.installed
TS_STAMP := tests/ts/node_modules/.installed
IMAGE  ?= baw-gateway:0.1.0

.PHONY: help run test bench-smoke spec docs views views-png rules-test lint deploy-check image bench soak dashboard-png clean

$(VENV)/bin/python:
	@echo "== creating $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# `make run` needs the gateway and the simulator only (a few dozen packages), not the test tools.
$(RUN_STAMP): setup.cfg pyproject.toml | $(VENV)/bin/python
	@echo "== installing the gateway and its simulator into $(VENV)"
	$(BIN)/pip install --progress-bar on -e '.[simulator]'
	touch $(RUN_STAMP)

$(STAMP): setup.cfg pyproject.toml | $(VENV)/bin/python
	@echo "== installing the gateway and the test tools into $(VENV)"
	$(BIN)/pip install --quiet -e '.[simulator,test]'
	touch $(RUN_STAMP) $(STAMP)

# The MCP TypeScript SDK client for its conformance test, when npm is there (otherwise that test says why it skips).
$(TS_STAMP): tests/ts/package.json tests/ts/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  echo "== installing the MCP TypeScript SDK client (tests/ts)"; \
	  (cd tests/ts && npm ci --no-audit --no-fund --loglevel=error) && touch $(TS_STAMP) \
	    || echo "== npm ci failed: the TypeScript SDK client test will be skipped"; \
	else echo "== npm not found: the TypeScript SDK client test will be skipped"; fi

help: ## this list: every target with one line
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 24

run: $(RUN_STAMP) ## start the gateway against the embedded BAW simulator, print sample curl lines
	$(BIN)/baw-gateway demo

# The image test builds the image's wheels offline: what it needs from PyPI is fetched here, before pytest starts.
IMAGE_WHEELS := $(VENV)/image-wheels
$(IMAGE_WHEELS)/.fetched: setup.cfg pyproject.toml deploy/Dockerfile | $(STAMP)
	@echo "== fetching the image's dependencies as wheels into $(IMAGE_WHEELS) (the image test builds offline)"
	$(BIN)/pip wheel --quiet --wheel-dir $(IMAGE_WHEELS) '.[tracing,uvloop,hiredis]' 'setuptools>=68' wheel
	touch $@

test: $(STAMP) $(TS_STAMP) $(IMAGE_WHEELS)/.fetched ## the whole suite, warnings as errors (includes the Dockerfile lint and the manifest checks)
	$(BIN)/python tests/debian.py install
	$(BIN)/pytest

bench-smoke: $(STAMP) ## the whole bench harness for a second per scenario (installs wrk and nginx with apt-get; CI runs it)
	$(BIN)/python tests/debian.py install-bench
	$(BIN)/pytest -m bench tests/perf

spec: $(RUN_STAMP) ## regenerate specs/openapi.json from the code (the caller's GATEWAY_*/PLUGIN_* do not count)
	env -i PATH="$$PATH" $(BIN)/baw-gateway openapi > specs/openapi.json

docs: $(RUN_STAMP) ## regenerate docs/configuration.md from the settings' declarations (gateway/config.py)
	$(BIN)/baw-gateway settings > docs/configuration.md

views: ## rebuild gateway/web/views/views.html (the MCP Apps views) with the MCP Apps SDK (needs npm; committed, so run and test do not)
	cd gateway/web/views && npm ci --no-audit --no-fund --loglevel=error && node build.mjs

views-png: $(STAMP) ## redraw the pictures of the views (README, docs/hosts.md) (headless Chromium, from the browser test)
	VIEWS_SCREENSHOTS=docs/views $(BIN)/pytest -q tests/integration/test_views_in_a_browser.py

rules-test: ## the alerting rules' unit tests (promtool, from Debian's prometheus package)
	promtool test rules deploy/monitoring/rules-test.yaml

lint: $(STAMP) ## static checks: ruff, the import contracts (layers, no cycles) and hadolint
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

dashboard-png: $(STAMP) ## redraw deploy/monitoring/dashboard.png from a real run (simulator, gateway, Prometheus; 4 min)
	$(BIN)/pip install --quiet 'matplotlib>=3.8,<4'
	$(BIN)/python deploy/monitoring/render_dashboard.py

image: ## build the container image (needs a Docker engine; none runs on the CI machines)
	docker build -f deploy/Dockerfile -t $(IMAGE) .

clean: ## remove the virtual environment and build output
	rm -rf $(VENV) build dist *.egg-info
