# Two commands for a fresh Debian machine with Python 3.11: `make run` and `make test`.
PY        ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
PORT      ?= 8501
# Sub-path the app is served under behind a reverse proxy, e.g. BASE_PATH=/tsunagari (empty: the root).
BASE_PATH ?=
# The source bundle: by default the fictional two-year sample (R6年度 + R7年度), generated from the R6 one
# (data/generate_years.py); `make run SOURCE=data/sample` serves the flat R6年度 bundle the tests use.
SAMPLE_YEARS := var/sample_years
SOURCE    ?= $(SAMPLE_YEARS)
WAREHOUSE ?= var/warehouse.duckdb
# Reference geography (町丁目 points, city outlines): a directory laid out as towns/<市名>.json and
# boundaries/*.geojson|zip. By default the official sources are downloaded once into var/reference;
# offline, the app runs without it. CI uses ../shared/reference when it is there.
REFERENCE ?= $(if $(wildcard ../shared/reference/towns),../shared/reference,var/reference)
STAMP     := $(VENV)/.installed-$(shell cat constraints.txt pyproject.toml | sha1sum | cut -c1-12)
# Everything the warehouse is built from: rebuild when any of it is newer.
WAREHOUSE_INPUTS := $(shell find $(SOURCE) warehouse etl expectations -type f \( -name '*.py' -o -name '*.sql' -o -name '*.csv' -o -name '*.json' -o -name '*.xlsx' -o -name '*.kmz' -o -name '*.kml' \) 2>/dev/null)
# The generated bundle is made before the warehouse reads it; a SOURCE of one's own is used as it is.
SOURCE_MADE := $(if $(filter $(SAMPLE_YEARS),$(SOURCE)),$(SAMPLE_YEARS)/manifest.json)
# Which SOURCE the warehouse was built from: switching SOURCE rebuilds it even when no file is newer.
SOURCE_STAMP := var/.warehouse-source
# The SOURCE of the last build (a warehouse from before the stamp existed came from data/sample, the old
# default): switching bundles changes every figure on purpose, so that build accepts the change guard's stop.
PREVIOUS_SOURCE := $(shell cat $(SOURCE_STAMP) 2>/dev/null || echo data/sample)
SWITCHED := $(if $(filter-out $(SOURCE),$(PREVIOUS_SOURCE)),--accept-changes)
# Python caches compiled modules (__pycache__/, git-ignored) even where the environment says not to: without the
# cache each pytest worker rewrites and compiles every test module again (~3.5 CPU-s a worker start here).
export PYTHONDONTWRITEBYTECODE :=

.PHONY: run test test-fast lint format install warehouse e2e lock clean FORCE

run: $(WAREHOUSE)
	TSUNAGARI_WAREHOUSE=$(WAREHOUSE) $(BIN)/python -m etl upgrade --warehouse $(WAREHOUSE) --source $(SOURCE) \
	  $$(ls $(REFERENCE)/towns/*.json >/dev/null 2>&1 && echo --reference $(REFERENCE))
	TSUNAGARI_WAREHOUSE=$(WAREHOUSE) $(BIN)/python -m dashboard --server.port $(PORT) --server.address localhost \
	  $(if $(strip $(BASE_PATH)),--server.baseUrlPath $(BASE_PATH))

test: lint
	./tools/system-deps.sh browser
	$(BIN)/python -m pytest

# Linter and formatter (ruff, configured in pyproject.toml); `make format` applies both.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Developers' quick tier: everything but the browser suite and the tests marked slow, spread over the
# cores (pytest-xdist; a module's tests stay on one worker, so its fixtures are built once).
test-fast: lint
	./tools/system-deps.sh deploy
	$(BIN)/python -m pytest -m "not e2e and not slow" -n auto --dist loadscope

install: $(STAMP)

$(STAMP):
	./tools/system-deps.sh base
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

warehouse: $(WAREHOUSE)

$(SAMPLE_YEARS)/manifest.json: $(STAMP) data/generate_years.py data/generate_sample.py $(shell find data/sample -type f 2>/dev/null)
	$(BIN)/python -m data.generate_years --out $(SAMPLE_YEARS)

# Rewritten only when SOURCE changed (cmp), so its date moves only then.
$(SOURCE_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(SOURCE)' | cmp -s - $@ || echo '$(SOURCE)' > $@

$(WAREHOUSE): $(STAMP) $(SOURCE_MADE) $(SOURCE_STAMP) $(WAREHOUSE_INPUTS)
	@ls $(REFERENCE)/towns/*.json >/dev/null 2>&1 || $(BIN)/python -m etl fetch-reference --out $(REFERENCE) || true
	$(BIN)/python -m etl build --source $(SOURCE) --warehouse $(WAREHOUSE) $(SWITCHED) \
	  $$(ls $(REFERENCE)/towns/*.json >/dev/null 2>&1 && echo --reference $(REFERENCE))

e2e: $(STAMP)
	./tools/system-deps.sh browser
	$(BIN)/python -m pytest tests/e2e

lock: $(STAMP)
	{ echo "# Pinned versions for a reproducible install (pip install -c constraints.txt -e '.[dev]')."; \
	  echo "# Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable; } > constraints.txt

clean:
	rm -rf var test-artifacts .pytest_cache
