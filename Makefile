# The README's two commands are `make run` and `make test`; everything they need is
# installed here, from PyPI / npm / Debian packages, on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run test test-python test-neovim test-vscode lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# The main job: check the environment and the config, then complete code in examples/.
# Both need a Hugging Face token and network access; without them they say so (and
# how to fix it) instead of failing the make run.
run: install
	-$(BIN)/bytebuddy-ls doctor --config examples/config.yaml
	-$(BIN)/bytebuddy-ls complete examples/fib.py:5:5 --config examples/config.yaml

lint: install
	$(BIN)/ruff check server tests bench
	$(BIN)/mypy

test-python: install
	$(PY) -m pytest -q -p no:cacheprovider

test-neovim:
	@if [ -f editor-clients/neovim/Makefile ]; then $(MAKE) -C editor-clients/neovim test; fi

test-vscode:
	@if [ -f editor-clients/vscode/Makefile ]; then $(MAKE) -C editor-clients/vscode test; fi

test: lint test-python test-neovim test-vscode

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# The long soak (10,000 requests with faults and cancellations; JSON figures). The test
# suite runs its short form (tests/test_soak_quick.py).
soak: install
	$(PY) bench/soak.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
