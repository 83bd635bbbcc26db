# Every target builds what it needs: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test spec lint clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP) ## start the gateway against the embedded BAW simulator, print sample curl lines
	$(BIN)/baw-gateway demo

test: $(STAMP) ## the whole suite (warnings are errors)
	$(BIN)/pytest

spec: $(STAMP) ## regenerate specs/openapi.json from the code
	$(BIN)/baw-gateway openapi > specs/openapi.json

clean:
	rm -rf $(VENV) build dist *.egg-info

lint: $(STAMP) ## static checks
	$(BIN)/pip install --quiet 'ruff>=0.6'
	$(BIN)/ruff check gateway tests
	$(BIN)/ruff format --check gateway tests
