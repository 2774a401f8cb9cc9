# The two commands of the README: `make atlas` and `make test`. Each bootstraps .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
TORCH_PIN := torch==2.13.0
# OpenMP threads sleep between parallel regions instead of spinning (see src/archlab/__init__.py).
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: atlas test bench venv venv-test clean

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH_PIN)
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.test: $(VENV)/.base
	$(PIP) install --quiet -e '.[test]'
	touch $@

$(VENV)/.atlas: $(VENV)/.base
	$(PIP) install --quiet -e '.[atlas]'
	touch $@

venv: $(VENV)/.base
venv-test: $(VENV)/.test

atlas: $(VENV)/.atlas
	$(VENV)/bin/archlab atlas --scale quick --out atlas

test: $(VENV)/.test
	$(PY) -m pytest -q --durations=25

bench: $(VENV)/.test
	$(VENV)/bin/archlab bench

clean:
	rm -rf $(VENV) atlas
