# Entry points for people and CI. `make examples` and `make test` work on a
# fresh machine: they create .venv and install what they need from PyPI.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup examples test lint format test-editors bench clean

# The extension bundles the server and finds Codon with the project's Python.
EXT_PYTHON := $(abspath $(BIN))/python
include vscode-extension/extension.mk
vsix test-extension: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[codon,dev]'
	touch $(STAMP)

setup: $(STAMP)

## The main job: check the bundled examples (some are broken on purpose, so
## exit status 1, "errors found", is the expected result here).
examples: $(STAMP)
	$(BIN)/codon-lsp check examples; status=$$?; test $$status -le 1

## The test suite with the real compiler (the editor end-to-end tests run in
## test-editors).
test: $(STAMP)
	$(BIN)/pytest -q

## Python: ruff and mypy --strict; TypeScript: prettier and tsc --noEmit.
lint: $(STAMP)
	$(BIN)/ruff format --check server tests benchmarks vscode-extension/scripts
	$(BIN)/ruff check server tests benchmarks vscode-extension/scripts
	$(BIN)/mypy
	$(BIN)/mypy --strict benchmarks vscode-extension/scripts

format: $(STAMP)
	$(BIN)/ruff format server tests
	$(BIN)/ruff check --fix server tests

## End-to-end tests in real editors: Neovim, then VS Code (code-server driven
## by headless Chromium; the first run installs Node 24, code-server and
## Chromium).
test-editors: $(STAMP)
	$(BIN)/pytest -q -m editor -p no:cacheprovider -o addopts=''
	$(MAKE) test-vscode-e2e

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .e2e
