# Recovery Guide: the two commands in the README.
#   make run    creates .venv/, installs the guide, and runs the main job (RUN_CMD)
#   make test   creates/updates the same .venv with the test extras and runs every test tier
# Both are idempotent: pip runs only when pyproject.toml changed (a stamp file named after its hash).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PYTEST_ARGS ?=
# Every tier. pyproject's addopts keep a bare `pytest` to the fast tier; this later -m replaces that one, and a -m in
# PYTEST_ARGS (later still) replaces this one.
ALL_TIERS := -m "integration or browser or slow or not (integration or browser or slow)"

# The main job. One place to change when the Streamlit app becomes the thing `make run` starts.
RUN_CMD = $(BIN)/guide app

HASH := $(shell sha256sum pyproject.toml | cut -c1-16)
STAMP := $(VENV)/.installed-$(HASH)
TEST_STAMP := $(VENV)/.installed-$(HASH)-test

.PHONY: help run test install install-test browsers corpus-check

help:
	@echo "make run    install into .venv/ and run: $(RUN_CMD)"
	@echo "make test   install with test extras and run all test tiers (unit, integration, browser)"
	@echo "            PYTEST_ARGS='-m \"not integration\"' narrows the run"

run: $(STAMP)
	$(RUN_CMD)

test: $(TEST_STAMP) browsers corpus-check
	@set +e; $(BIN)/python -m pytest --durations=10 $(ALL_TIERS) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: FAILED: pytest collected no tests (exit 5)" >&2; exit 1; fi; \
	exit $$rc

install: $(STAMP)
install-test: $(TEST_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): | $(BIN)/python
	@if [ -f "$(TEST_STAMP)" ]; then touch "$@"; else \
		set -e; rm -f $(VENV)/.installed-*; \
		$(PIP) install -e . && touch "$@"; fi

$(TEST_STAMP): | $(BIN)/python
	rm -f $(VENV)/.installed-*
	$(PIP) install -e '.[test]'
	touch "$(STAMP)" "$@"

# Browser tests drive Debian's Chromium; when it is missing and we are root, install it. Any failure here
# is not fatal: the browser tests then skip and say why.
browsers:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing chromium and chromium-driver (for the browser tests) with apt-get"; \
		( export DEBIAN_FRONTEND=noninteractive; apt-get update -qq \
		  && apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null ) \
		|| echo "WARNING: could not install chromium/chromium-driver; browser tests will be skipped" >&2; \
	else echo "NOTE: chromium/chromium-driver not installed (need root for apt-get); browser tests will be skipped" >&2; \
	fi

corpus-check: $(STAMP)
	$(BIN)/guide corpus check
