# Ripple: two commands from a fresh clone.
#   make run    set everything up, then run Ripple (for now: `ripple demo` on the embedded LMDB default)
#   make test   set everything up, then run the whole test suite
# Everything installs into .venv; nothing is installed system-wide.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
NATIVE_SOURCES := $(wildcard ext/*.pyx ext/*.pxd)

.PHONY: setup build run demo test test-py test-cy bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[test,native,wasm]'
	touch $(STAMP)

# The native build (Cython twins in ext/ -> engine._native). With no ext/*.pyx it builds nothing.
# `make test` builds strictly (a broken twin fails the run); `make run` tolerates a failed native build
# and runs on the pure-Python reference, with a warning.
build: $(STAMP) $(NATIVE_SOURCES)
	ENGINE_BUILD=$${ENGINE_BUILD:-strict} $(PY) setup.py -q build_ext --inplace

run: $(STAMP)
	ENGINE_BUILD=auto $(PY) setup.py -q build_ext --inplace
	$(VENV)/bin/ripple demo

demo: run

# The suite runs against the pure-Python reference (ENGINE_IMPL=py). Once Cython twins exist in ext/,
# it also runs with ENGINE_IMPL=cy so a missing or stale native build fails loudly instead of hiding.
test: build
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} ENGINE_IMPL=py $(PY) -m pytest -q
	@if ls ext/*.pyx >/dev/null 2>&1; then \
	  HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} ENGINE_IMPL=cy $(PY) -m pytest -q; \
	else echo "note: no Cython twins in ext/ yet; ENGINE_IMPL=cy run not applicable"; fi

bench: build
	$(PY) -m bench

clean:
	rm -rf build $(VENV) engine/_native/*.so engine/_native/*.c ext/*.c .hypothesis
