# GradeFlow: `make run` starts the platform, `make test` runs every test. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install browser run test test-unit screenshots bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "GradeFlow needs Python 3.11 or newer (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/gradeflow up

# The browser tests drive Debian's Chromium (Playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "Chromium is missing: install Debian's 'chromium' package for the browser tests" >&2; exit 1; }

test: install browser
	$(BIN)/python -m pytest -ra

test-unit: install
	$(BIN)/python -m pytest -ra tests/unit

# Refresh the README's pictures (docs/screenshots/) from the browser tests.
screenshots: install browser
	GRADEFLOW_README_SCREENSHOTS=1 $(BIN)/python -m pytest -ra tests/browser

bench: install
	$(BIN)/python -m benchmarks.sandbox
	$(BIN)/python -m benchmarks.regrade

clean:
	rm -rf $(VENV) .gradeflow .pytest_cache test-output *.egg-info
