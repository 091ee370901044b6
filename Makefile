# batty's Makefile: everything a fresh machine needs is installed from here (venv, package,
# test tools, Debian packages, the real agent CLIs for the integration tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test scenarios bench lint architecture fuzz soak sysdeps agent-clis sample install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# editable_mode=compat: a plain path in a .pth, not setuptools' import hook, which every batty
# process (and every agent's wrapper) paid 10-15 ms to import at start-up
$(STAMP): pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]' --config-settings editable_mode=compat
	$(BIN)/python -m compileall -q batty  # bytecode even where PYTHONDONTWRITEBYTECODE is set
	touch $@

install: $(STAMP)

# Debian packages the tests drive for real: bubblewrap (the sandbox), tmux (the tmux runner), cron (the cron test),
# chromium (the dashboard screenshot). Installed with apt-get only where missing.
sysdeps:
	bin/ensure-sysdeps

# Claude Code, Codex and Aider, installed once into a cache outside the repository.
agent-clis:
	bin/install-agent-clis

# the real open-source project of the end-to-end test, by pinned version from PyPI, cached
# outside the repository (bin/fetch-sample)
sample: $(STAMP)
	PYTHON=$(BIN)/python bin/fetch-sample

demo: $(STAMP)
	$(BIN)/batty demo

# pytest-xdist workers, three times the cores: a test spends much of its time waiting (on an
# agent, on a stall to show, on git's racy window, on cron's minute), and other tests run in that
# time. On 2 cores: 7 min 39 s with two workers, 5 min 53 s with four (the seventh session); with
# the tests spread over the run (tests/conftest.py), 4 min 20 s with four, 4 min 02 s with five,
# 3 min 37 s with six, 3 min 51 s with eight (docs/BENCHMARKS.md). The real crontab is
# machine-wide: its tests hold a lock (tests/realcron.py).
WORKERS ?= $(shell echo $$(( $$(nproc) * 3 )))
# the tests' scratch folders: on a tmpfs where there is room (bin/test-tmp says why), else pytest's default
TEST_TMP ?= $(shell bin/test-tmp)
BASETEMP := $(if $(TEST_TMP),--basetemp=$(TEST_TMP))
test: $(STAMP) sysdeps agent-clis sample
	BATTY_REQUIRE_CLIS=1 BATTY_REQUIRE_SYSDEPS=1 $(BIN)/python -m pytest -q -p no:cacheprovider -n $(WORKERS) --dist loadgroup $(BASETEMP) $(PYTEST_ARGS)

# every failure scenario (tests/scenarios/), two workers: the proof in under a minute (issue 8)
scenarios: $(STAMP) sysdeps
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 $(BASETEMP) tests/scenarios

lint: $(STAMP)
	$(BIN)/ruff check batty tests benchmarks
	$(BIN)/mypy batty
	$(BIN)/lint-imports --no-cache

# docs/ARCHITECTURE.md's generated part: the import graph, the lifecycle table, every module
architecture: $(STAMP)
	$(BIN)/python bin/architecture

bench: $(STAMP)
	$(BIN)/python -m benchmarks

fuzz: $(STAMP)
	BATTY_FUZZ_PROFILE=deep $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py

soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
	$(if $(TEST_TMP),rm -rf $(TEST_TMP))
