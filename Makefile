# Ripple: two commands from a fresh clone.
#   make run    set everything up, then run Ripple: the chat example on the embedded LMDB default,
#               served at http://127.0.0.1:3210 (functions in wasm sandboxes; redeploys on change)
#   make test   set everything up, then run the whole test suite
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

# The suite runs against the pure-Python reference (ENGINE_IMPL=py). Once Cython twins exist in ext/,
# it also runs with ENGINE_IMPL=cy so a missing or stale native build fails loudly instead of hiding.
test: build $(NPM_STAMP)
	@$(MAKE) --no-print-directory browser
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} ENGINE_IMPL=py $(PY) -m pytest -q
	@if ls ext/*.pyx >/dev/null 2>&1; then \
	  HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} ENGINE_IMPL=cy $(PY) -m pytest -q; \
	else echo "note: no Cython twins in ext/ yet; ENGINE_IMPL=cy run not applicable"; fi

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
