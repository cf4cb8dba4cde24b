# patrols: two commands on a fresh machine.
#   make demo   plan the bundled Westminster week -> maps/westminster-demo/
#   make test   run the test suite
# Both create the virtual environment and install what they need first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Leaflet for map.html, from the npm registry (inlined into the page, never committed).
ASSETS := node_modules/.package-lock.json

.PHONY: demo test bench bench-scale bench-replan bench-scale-out lint setup clean browser gdal

setup: $(STAMP) $(ASSETS)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "patrols needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m patrols.outputs.schemas
	@touch $(STAMP)

$(ASSETS): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "patrols: npm is needed to install Leaflet for map.html (e.g. apt-get install npm)" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(ASSETS)

# Chromium for the browser test: installed when missing and we are root with apt; never fails the build
# (the test then skips and says why).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser test"; \
	    { apt-get install -y --no-install-recommends chromium || { apt-get update && \
	      apt-get install -y --no-install-recommends chromium; }; } >/dev/null 2>&1 || \
	      echo "patrols: could not install chromium; the browser test will skip"; \
	  else echo "patrols: no chromium and cannot install it here; the browser test will skip"; fi; }

# GDAL's command-line tools (Debian's gdal-bin: ogrinfo) for the GIS tests, which read plan.gpkg, plan.geojson,
# plan.kml and the dispatch files as a GIS would: the same rule as for Chromium.
gdal:
	@command -v ogrinfo >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing gdal-bin for the GIS tests"; \
	    { apt-get install -y --no-install-recommends gdal-bin || { apt-get update && \
	      apt-get install -y --no-install-recommends gdal-bin; }; } >/dev/null 2>&1 || \
	      echo "patrols: could not install gdal-bin; the ogrinfo tests will skip"; \
	  else echo "patrols: no ogrinfo and cannot install gdal-bin here; the ogrinfo tests will skip"; fi; }

demo: $(STAMP) $(ASSETS)
	$(VENV)/bin/patrols demo

test: $(STAMP) $(ASSETS) browser gdal
	$(PY) -m pytest -q

bench: $(STAMP) $(ASSETS)
	$(PY) bench/run.py --seconds 10
	$(PY) bench/scale_out.py --repeat 3

# The same three areas planned on one and on two Dask workers (bench/scale_out.py; docs/scale-out.md).
bench-scale-out: $(STAMP) $(ASSETS)
	$(PY) bench/scale_out.py --repeat 3

# Re-planning a changed week against planning it again, on the demo (bench/replan.py).
bench-replan: $(STAMP) $(ASSETS)
	$(PY) bench/replan.py --repeat 3

# Planning at growing scale (bench/README_scale.md): builds areas under bench/work/scale/ and plans a
# week on each; the full run (9 and 30 copies) takes a long while. E.g. SCALE_ARGS="--tiles 1 --skip-rutland".
bench-scale: $(STAMP) $(ASSETS)
	$(PY) bench/scale.py $(SCALE_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check patrols tests bench

clean:
	rm -rf $(VENV) maps/*/ .pytest_cache .ruff_cache node_modules
