# Ripple: two commands from a fresh clone.
#   make run    set everything up, then run Ripple: the chat example on the embedded LMDB default,
#               served at http://127.0.0.1:3210 (functions in wasm sandboxes; redeploys on change)
#   make test   set everything up, then run the whole test suite (on the twins; the kernel-sensitive
#               suites also on the pure-Python reference, see IMPL_SUITES below)
# Python packages install into .venv and npm packages into ./node_modules. The browser tests need
# Debian's chromium, which `make test` installs with apt only when it is missing (`make browser`).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
NPM_STAMP := node_modules/.installed-stamp
PORT ?= 3210
RUN_FLAGS ?= --env WIKI_URL=https://en.wikipedia.org/api/rest_v1/page/summary/ --allow-fetch https://en.wikipedia.org/
NATIVE_SOURCES := $(wildcard ext/*.pyx ext/*.pxd)

.PHONY: setup build run demo test test-py test-cy bench clean browser

setup: $(STAMP) $(NPM_STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[test,native,wasm,research,server]'
	touch $(STAMP)

# The native build (Cython twins in ext/ -> engine._native). With no ext/*.pyx it builds nothing.
# `make test` builds strictly (a broken twin fails the run); `make run` tolerates a failed native build
# and runs on the pure-Python reference, with a warning.
build: $(STAMP) $(NATIVE_SOURCES)
	ENGINE_BUILD=$${ENGINE_BUILD:-strict} $(PY) setup.py -q build_ext --inplace

run: $(STAMP) $(NPM_STAMP)
	ENGINE_BUILD=auto $(PY) setup.py -q build_ext --inplace
	@echo "Ripple: building the chat example's functions (cached after the first time), then serving"
	@echo "        http://127.0.0.1:$(PORT)/   (open it in two tabs; Ctrl-C stops)"
	$(VENV)/bin/ripple dev examples/chat --port $(PORT) --data .ripple/chat $(RUN_FLAGS)

demo: $(STAMP)
	ENGINE_BUILD=auto $(PY) setup.py -q build_ext --inplace
	$(VENV)/bin/ripple demo

# The suite runs ONCE in full on the Cython twins (ENGINE_IMPL=cy, what users get by default, and strict:
# a missing or stale native build fails the run), then AGAIN on the pure-Python reference kernels
# (ENGINE_IMPL=py) for IMPL_SUITES only: the suites whose outcome the kernel choice changes, because they
# open databases or resolve kernels through engine._impl with the ENGINE_IMPL default - unit, contract,
# parity, system and the oracle mutants. Not repeated: differential and twin-mutant suites (they drive
# every built twin side by side via engine._impl.implementations, whatever ENGINE_IMPL says) and
# server, client, functions, notebooks, experiments, cli (the layers above the kernels). A path in
# IMPL_SUITES that no longer exists makes pytest exit non-zero, so the list cannot rot silently. Without
# ext/*.pyx (no twins at all) the full suite runs once on the reference instead.
IMPL_SUITES := tests/unit tests/contract tests/parity tests/system \
               tests/mutants/test_occ_mutants.py tests/mutants/test_false_abort_mutants.py
TEST_ENV := HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci}

test: build $(NPM_STAMP)
	@$(MAKE) --no-print-directory browser
	@if ls ext/*.pyx >/dev/null 2>&1; then \
	  echo "== full suite, ENGINE_IMPL=cy" && $(TEST_ENV) ENGINE_IMPL=cy $(PY) -m pytest -q && \
	  echo "== kernel-sensitive suites again, ENGINE_IMPL=py: $(IMPL_SUITES)" && \
	  $(TEST_ENV) ENGINE_IMPL=py $(PY) -m pytest -q $(IMPL_SUITES); \
	else echo "note: no Cython twins in ext/; full suite on the reference only (ENGINE_IMPL=py)" && \
	  $(TEST_ENV) ENGINE_IMPL=py $(PY) -m pytest -q; fi

bench: build
	$(PY) -m bench

# Issue #10's figures and long campaigns (not part of `make test`, which runs short versions):
#   make hot-counter     16 threads x 1,000 increments of one document, Ripple (each strategy) vs SQLite
#   make crash-campaign  SIGKILL during schema changes under a commit storm, 50 kills per strategy
.PHONY: hot-counter crash-campaign
hot-counter: build
	ENGINE_IMPL=cy $(PY) -m bench.hot_counter

crash-campaign: build
	RIPPLE_CRASH_KILLS=50 ENGINE_IMPL=cy $(PY) -m pytest -q tests/system/test_crash_safety.py -k storm

clean:
	rm -rf build $(VENV) engine/_native/*.so engine/_native/*.c ext/*.c .hypothesis

# Debian's chromium for the Playwright browser tests; installed only when missing (needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The research harness: run the quick version of every experiment (minutes), then write the figures
# (PNG, SVG), paper/numbers.json and paper/paper.md. FULL=1 runs the paper-quality versions.
# `make figures` redraws figures, numbers and paper from the newest results without running anything.
.PHONY: reproduce figures
reproduce: build
	$(PY) -m experiments reproduce $(if $(FULL),--full,)

figures: $(STAMP)
	$(PY) -m experiments figures
