# querysight: `make demo` (the main job) and `make test` (everything CI runs). Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
# The public index may be unreachable; fail over to the configured local index at once instead of retrying.
PIP    := $(PY) -m pip --retries 0 --timeout 15 --quiet
NODE_STAMP := node_modules/.installed
DEMO_STAMP := $(VENV)/.demo-installed
VENV_STAMP := $(VENV)/.installed
SERVER_SRC := $(shell find server/src -name '*.ts' ! -name '*.test.ts' 2>/dev/null) server/build.mjs
UI_SRC     := $(shell find ui/src -name '*.ts' -o -name '*.tsx' -o -name '*.css' 2>/dev/null | grep -v '\.test\.') ui/build.mjs ui/index.html

.PHONY: help install build test demo bench fuzz load lint clean chromium postgres screenshots

help:
	@echo "make demo   start the querysight server and the demo Django app (installs and builds what is missing)"
	@echo "make test   run every test: vitest, pytest, end-to-end (installs what is missing)"
	@echo "make bench  run the benchmarks and print their figures"
	@echo "make fuzz   the long fuzz run (ingest, analysis, fingerprint)"
	@echo "make load   the long load run: 20 agent processes for 60 s"
	@echo "make lint   ruff + tsc --noEmit"
	@echo "make clean  remove build output, node_modules and .venv"

# `npm install` from the committed lock: it installs exactly the locked versions, and leaves the lock unchanged now
# that the lock lists rollup's optional packages for every platform (an earlier lock, made without them, was
# rewritten by every fresh install, so a clone was modified by `make demo`).
$(NODE_STAMP): package.json package-lock.json
	npm install --no-audit --no-fund
	@touch $@

$(VENV_STAMP): python-agent/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -e 'python-agent[dev]'
	@touch $@

dist/cli.js: $(NODE_STAMP) $(SERVER_SRC)
	node server/build.mjs

dist/ui/index.html: $(NODE_STAMP) $(UI_SRC) $(shell find server/src/analysis -name '*.ts' 2>/dev/null)
	node ui/build.mjs

build: dist/cli.js dist/ui/index.html

install: $(NODE_STAMP) $(VENV_STAMP)

# Chromium for the browser tests: installed from Debian's packages under CI (root there); locally the tests skip
# with a message when it is missing.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ -n "$$CI" ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi

# PostgreSQL 15 for the agent's tests: the harness starts a throwaway cluster; here we only make sure it is installed.
postgres:
	@if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -n "$$CI" ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; fi

# Each Python suite runs in its own process: each configures its own Django project.
test: install build chromium postgres
	npx vitest run
	$(VENV)/bin/pytest -q python-agent/tests
	$(VENV)/bin/pytest -q python-agent/examples/bookshop/tests
	DEMO_SMOKE=1 bash scripts/demo.sh
	@echo "make test: all passed"

# The demo needs the agent and Django only, not the dev extras' test tools and other frameworks (a minute of a first
# `make demo`); when `make install` ran already, they are there.
$(DEMO_STAMP): python-agent/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	test -f $(VENV_STAMP) || $(PIP) install -e python-agent 'django>=5.2,<5.3'
	@touch $@

demo: $(NODE_STAMP) $(DEMO_STAMP) build
	bash scripts/demo.sh

bench: install build
	node test/bench/run.mjs --write

# The long runs of the suites `make test` runs briefly.
fuzz: install build
	FUZZ_CASES=20000 npx vitest run test/fuzz server/src/analysis/fingerprint.fuzz.test.ts

load: install build
	LOAD_PROCESSES=20 LOAD_SECONDS=60 LOAD_RSS_LIMIT_MB=800 npx vitest run test/load

# Regenerates the committed screenshots of the README from the browser tests.
screenshots: install build chromium
	UPDATE_SCREENSHOTS=1 npx vitest run test/e2e

lint: install
	$(VENV)/bin/ruff check python-agent
	$(VENV)/bin/ruff format --check python-agent
	npx tsc --noEmit

clean:
	rm -rf dist node_modules $(VENV) ui/dist
