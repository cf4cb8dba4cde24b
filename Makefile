# patrols: two commands on a fresh machine.
#   make demo   plan the bundled Westminster week -> maps/westminster-demo/
#   make test   run the test suite
# Both create the virtual environment and install what they need first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench lint setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "patrols needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/patrols demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/run.py --seconds 10

lint: $(STAMP)
	$(VENV)/bin/ruff check patrols tests bench

clean:
	rm -rf $(VENV) maps/*/ .pytest_cache .ruff_cache
