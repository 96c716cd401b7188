# The two commands that matter: `make run` and `make test`. Both set everything up first,
# and skip each step already done.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SYSTEM_STAMP := $(VENV)/.system-deps
DEPS_STAMP := $(VENV)/.deps
NATIVE_STAMP := $(VENV)/.native
CONSOLE_STAMP := api/console/vendor/.stamp
BROWSER_STAMP := $(VENV)/.browser
RUST_SOURCES := $(shell find native -name '*.rs' -o -name Cargo.toml 2>/dev/null) Cargo.toml Cargo.lock

.PHONY: run test setup bench lint fmt clean cargo-test pytest

run: setup
	$(VENV)/bin/hearth serve

test: setup $(BROWSER_STAMP) cargo-test pytest

setup: $(NATIVE_STAMP) $(CONSOLE_STAMP)

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(SYSTEM_STAMP): scripts/system-deps.sh | $(PY)
	bash scripts/system-deps.sh
	touch $@

# Dependencies (runtime + dev) change only with pyproject.toml.
$(DEPS_STAMP): pyproject.toml $(SYSTEM_STAMP)
	@echo "[setup] installing Python dependencies into $(VENV)"
	$(PY) scripts/deps.py runtime dev > $(VENV)/requirements.txt
	$(PIP) install -q -r $(VENV)/requirements.txt
	touch $@

# The package itself, editable; maturin builds the Rust extension in release mode.
$(NATIVE_STAMP): $(DEPS_STAMP) $(RUST_SOURCES)
	@echo "[setup] building the native extension (release) and installing hearth-core"
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release
	touch $@

# The console's charting library, from the npm registry, copied next to the console's modules
# (served from the source tree; nothing is built and nothing is fetched at run time).
$(CONSOLE_STAMP): package.json package-lock.json $(SYSTEM_STAMP)
	@echo "[setup] installing the console's vendor files (npm ci)"
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(@D)
	cp node_modules/uplot/dist/uPlot.esm.js node_modules/uplot/dist/uPlot.min.css $(@D)/
	touch $@

# Debian's Chromium for the console's browser tests (make test only).
$(BROWSER_STAMP): scripts/system-deps.sh | $(PY)
	HEARTH_WITH_BROWSER=1 bash scripts/system-deps.sh
	touch $@

cargo-test:
	cargo test --workspace --quiet

pytest: setup
	$(PY) -m pytest

bench: setup
	$(PY) -m pytest bench/micro -q --benchmark-only -p no:cacheprovider
	$(PY) bench/micro/report.py
	$(PY) scripts/deps.py bench | $(PIP) install -q -r /dev/stdin
	$(PY) bench/auth/run.py
	$(PY) bench/users/run.py
	$(PY) bench/ingest/run.py
	$(PY) bench/flags/run.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	cargo fmt --all -- --check

fmt: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
	cargo fmt --all

clean:
	rm -rf $(VENV) target .pytest_cache node_modules api/console/vendor test-output
