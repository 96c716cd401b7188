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

.PHONY: run test setup bench bench-peers lint fmt clean cargo-test pytest

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

# `make bench`: every benchmark, without the peers; `make bench-peers`: the peers built once
# (scripts/bench-peers.sh: each step skipped when done, cached under target/peers/), then the
# benches that set Hearth beside them (Ory Hydra, Unleash, Prometheus, VictoriaMetrics). Each
# begins a new run, runs every bench through bench.harness.suite (it records the peers' build
# and each bench's exit code, time and last error lines) and ends with bench/report.py:
# bench/RESULTS.md (each bench also writes its own RESULTS.md, chart and results.json; a bench
# of the other target is shown as stale, never counted). Shorter runs than the scripts' own
# defaults, at least 3 rounds each: `make bench` takes < 15 min and `make bench-peers` < 30
# min on 2 cores (README, Benchmarks); BENCH_FULL=1 runs each with its defaults. A bench that
# fails does not stop the others, and a peer that fails to build or start fails only the
# figures that compare with it: the report shows them as failed, with the reason.
# BENCH_TIME_LIMIT (s) stops a bench that hangs.
BENCH_STAMP := $(VENV)/.bench
ifeq ($(BENCH_FULL),)
BENCH_WRK := --duration 2 --warmup 1 --rounds 3
BENCH_AUTH := $(BENCH_WRK)
BENCH_AUTH_PEERS := $(BENCH_WRK)
BENCH_FLAGS := $(BENCH_WRK)
BENCH_RATELIMIT := $(BENCH_WRK) --raw-requests 50000
BENCH_INGEST := --rounds 3
BENCH_REMOTE := --rounds 3 --remote-rounds 3
# bench/query --quick: 776 k samples (2 days of 200 series, 2,000 pods) into Hearth, Prometheus
# and VictoriaMetrics, ~5 min; its default, the report's 50 M samples, takes about an hour.
BENCH_QUERY := --quick --duration 2 --warmup 0.5 --max-duration 4 --rounds 3 --load-wait 15 --profile 5
# ... 24 wrk runs a round (4 queries x 1 and 16 connections x 3 targets): ~8.5 min in all.
BENCH_QUERY_LIMIT := 720
BENCH_MIXED := --duration 15 --profile 8
BENCH_PEERS := --series 10000 --samples 1200000 --rounds 3 --load-wait 15
BENCH_STORE := --series 10000 --duration 45
BENCH_TIME_LIMIT ?= 420
export BENCH_TIME_LIMIT
endif
BENCH_RUN := $(PY) -m bench.harness.suite run

# wrk (Debian) and the bench extra (matplotlib, locust, py-spy, protobuf, cramjam) into the venv.
$(BENCH_STAMP): pyproject.toml | $(PY)
	@command -v wrk >/dev/null || { \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }
	$(PY) scripts/deps.py bench | $(PIP) install -q -r /dev/stdin
	touch $@

bench: setup $(BENCH_STAMP)
	$(PY) -m bench.harness.suite begin bench
	-$(BENCH_RUN) micro
	-$(BENCH_RUN) auth $(BENCH_AUTH) --no-peers
	-$(BENCH_RUN) users $(BENCH_WRK)
	-$(BENCH_RUN) flags $(BENCH_FLAGS) --no-unleash
	-$(BENCH_RUN) ingest $(BENCH_INGEST) --no-remote
	-$(BENCH_RUN) store $(BENCH_STORE)
	-$(BENCH_RUN) ratelimit $(BENCH_RATELIMIT)
	-$(BENCH_RUN) mixed $(BENCH_MIXED)
	$(PY) -m bench.report

# The peers (scripts/bench-peers.sh): Prometheus 2.42 (Debian's package, its service stopped),
# VictoriaMetrics v1.151.0 (built from the Go module proxy into target/peers/bin), Unleash
# (npm, into target/peers/unleash), Ory Hydra v2.3.0 (Go module proxy); each step skipped when
# already done. A failed build fails the figures of that peer (reported, with the build's last
# lines), not the run.
bench-peers: setup $(BENCH_STAMP)
	$(PY) -m bench.harness.suite begin bench-peers
	-$(PY) -m bench.harness.suite build
	-$(BENCH_RUN) auth $(BENCH_AUTH_PEERS)
	-$(BENCH_RUN) flags $(BENCH_FLAGS)
	-$(BENCH_RUN) ingest $(BENCH_REMOTE)
	-$(BENCH_RUN) peers $(BENCH_PEERS)
	-BENCH_TIME_LIMIT=$(or $(BENCH_QUERY_LIMIT),$(BENCH_TIME_LIMIT)) $(BENCH_RUN) query $(BENCH_QUERY)
	$(PY) -m bench.report

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
