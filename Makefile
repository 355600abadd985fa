# sklearn-hallu: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# The ESC-50 copy; the library also reads $SKLEARN_HALLU_ESC50 or downloads it.
export SKLEARN_HALLU_ESC50 ?= $(abspath ../shared/data/esc50)

.PHONY: install test demo reproduce reproduce-quick docs bench lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# CPU torch first, so that no CUDA build is pulled in (2.13.0 lies on this disk).
	$(PIP) install -q torch==2.13.0 || $(PIP) install -q torch --index-url https://download.pytorch.org/whl/cpu
	$(PIP) install -q -e ".[tests,docs]"
	touch $@

install: $(VENV)/.installed

test: install  ## the test suite (about 3 minutes on 2 cores)
	$(PY) -m pytest

demo: install  ## train a small HalluAudio and baseline on ESC-50, print and plot accuracies
	$(PY) -m sklearn_hallu.apps.demo --out results/demo

reproduce: install  ## the paper's protocol in full (hours on CPU; --device cuda on a GPU)
	$(PY) -m sklearn_hallu.apps.reproduce --sweep 500 1000 1500 2000 3000 4000 --seeds 0 1 2 --floor --out results/reproduce

reproduce-quick: install
	$(PY) -m sklearn_hallu.apps.reproduce --quick --out results/reproduce-quick

docs: install  ## build the docs and run the gallery (offline, warnings are errors)
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

bench: install
	$(PY) benchmarks/bench_logmel.py
	$(PY) benchmarks/bench_train.py

lint: install
	$(VENV)/bin/ruff check sklearn_hallu tests benchmarks examples

clean:
	rm -rf $(VENV) docs/_build docs/auto_examples docs/gen_modules results
