# sklearn-hallu: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  ?= torch==2.13.0
# The ESC-50 copy; the library also reads $SKLEARN_HALLU_ESC50 or downloads it.
export SKLEARN_HALLU_ESC50 ?= $(abspath ../shared/data/esc50)

.PHONY: install test ci demo headline reproduce reproduce-quick docs bench lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# CPU torch first, so that no CUDA build is pulled in (2.13.0 lies on this disk). No
	# silent fallback: elsewhere, say which, e.g.
	# make TORCH="torch --index-url https://download.pytorch.org/whl/cpu"
	$(PIP) install -q $(TORCH) || { echo "could not install $(TORCH); set TORCH=..." >&2; exit 1; }
	$(PIP) install -q -e ".[tests,docs]"
	touch $@

install: $(VENV)/.installed

# The README's test command. The pytest script (not `python -m`, which puts the checkout on
# sys.path) with --pyargs: the doctests and tests import sklearn_hallu as installed.
# `slow` tests are deselected (pyproject addopts): make test PYTEST_ARGS="-m slow" runs them.
test: install  ## the test suite (about 3 minutes on 2 cores)
	$(VENV)/bin/pytest --pyargs sklearn_hallu $(CURDIR)/tests $(PYTEST_ARGS)

ci:  ## what CI runs: a fresh environment, non-editable install, lint, console script, tests
	bash .ci/run

demo: install  ## train a small HalluAudio and baseline on ESC-50, print and plot accuracies
	$(PY) -m sklearn_hallu.apps.demo --out results/demo

# The README's headline, every model trained by this checkout (about 3 h on 2 CPU cores): the
# baseline and HalluAudio over 5 seeds, then the time concept over 3 seeds beside seeds 0-2 of
# the first run's models (copied, not retrained), then the README's tables.
HEADLINE ?= results/headline
headline: install  ## the README's headline tables, every model trained by this commit (~3 h CPU)
	$(PY) -m research.reproduce --models baseline halluaudio --seeds 0 1 2 3 4 --floor \
		--device cpu --out $(HEADLINE)
	mkdir -p $(HEADLINE)_time/models
	for k in baseline halluaudio; do for s in 0 1 2; do \
		cp $(HEADLINE)/models/$${k}_seed$$s.* $(HEADLINE)_time/models/; done; done
	$(PY) -m research.reproduce --models baseline halluaudio time_concept --seeds 0 1 2 \
		--floor --device cpu --out $(HEADLINE)_time
	$(PY) -m research.reproduce.headline $(HEADLINE) --time $(HEADLINE)_time

reproduce: install  ## the paper's protocol in full (hours on CPU; --device cuda on a GPU)
	$(PY) -m research.reproduce --sweep 500 1000 1500 2000 3000 4000 --seeds 0 1 2 --floor --out results/reproduce

reproduce-quick: install
	$(PY) -m research.reproduce --quick --out results/reproduce-quick

docs: install  ## build the docs and run the gallery (offline, warnings are errors)
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

bench: install
	$(PY) benchmarks/bench_logmel.py
	$(PY) benchmarks/bench_train.py

lint: install
	$(VENV)/bin/ruff check sklearn_hallu tests benchmarks examples research

clean:
	rm -rf $(VENV) docs/_build docs/auto_examples docs/gen_modules results
