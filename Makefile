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

# Every benchmark under bench/, then bench/report.py: bench/RESULTS.md (each bench also writes
# its own RESULTS.md, chart and results.json). Shorter runs than the scripts' own defaults, so
# the whole report takes < 15 min on 2 cores; BENCH_FULL=1 runs each with its defaults. A
# bench that fails or misses a target does not stop the others (the report says so).
ifeq ($(BENCH_FULL),)
BENCH_WRK := --duration 5 --warmup 1
BENCH_INGEST := --rounds 1
BENCH_QUERY := --points 2000000 --duration 5 --warmup 1 --load-wait 30
BENCH_MIXED := --profile 8
endif

bench: setup
	$(PY) scripts/deps.py bench | $(PIP) install -q -r /dev/stdin
	@mkdir -p target/bench && { date +%s; cut -d' ' -f1-3 /proc/loadavg; } > target/bench/started
	-$(PY) -m pytest bench/micro -q --benchmark-only -p no:cacheprovider
	-$(PY) bench/micro/report.py
	-$(PY) bench/auth/run.py $(BENCH_WRK)
	-$(PY) bench/users/run.py $(BENCH_WRK)
	-$(PY) bench/flags/run.py $(BENCH_WRK)
	-$(PY) bench/ingest/run.py $(BENCH_INGEST)
	-$(PY) bench/ratelimit/run.py $(BENCH_WRK)
	-if [ -f bench/query/run.py ]; then $(PY) bench/query/run.py $(BENCH_QUERY); fi
	-$(PY) bench/mixed/run.py $(BENCH_MIXED)
	$(PY) bench/report.py

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
