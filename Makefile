# Lectern — the two set-up commands on a fresh machine are `make run` and `make test`.
# Both create .venv (idempotently), install missing system packages with apt-get,
# and install Lectern with its starter models.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lectern-installed
# llama-cpp-python's pinned version, installed on its own first (packaging/llama-cpp.sh)
LLAMA_CPP_VERSION := $(shell sed -n 's/.*"llama-cpp-python==\([0-9.]*\)".*/\1/p' pyproject.toml)
export QT_QPA_PLATFORM ?= offscreen

.PHONY: run test lint format bench setup system-deps dist test-dist clean

run: setup
	QT_QPA_PLATFORM= $(BIN)/lectern

test: setup lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

setup: system-deps $(STAMP)

system-deps:
	@bash packaging/system-deps.sh

# torch is installed first and alone, pinned, so pip takes the CPU build where one
# is provided locally instead of resolving a large CUDA build for sentence-transformers.
# llama-cpp-python is built next, for this CPU (without AMX where the CPU reports it but
# traps it: packaging/llama-cpp.sh).
$(STAMP): pyproject.toml packaging/llama-cpp.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	bash packaging/llama-cpp.sh $(BIN)/python $(LLAMA_CPP_VERSION)
	$(BIN)/python -m pip install --quiet -e ".[starter,dev]"
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python -m bench

# The PyInstaller one-folder bundle (dist/lectern/) and a tarball; see packaging/.
dist: setup
	$(BIN)/python -m pip install --quiet -e ".[starter,dist]"
	PYTHON=$(BIN)/python bash packaging/linux/build.sh

# Starts the bundled binary: CLI answers, index + search, the GUI under Xvfb.
test-dist:
	@bash packaging/system-deps.sh dist
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m dist tests/dist -p no:cacheprovider

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache
