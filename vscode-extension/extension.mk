# VS Code extension targets, included from the top Makefile.
#   make vsix              build vscode-extension/codon-lsp-<version>.vsix
#   make test-extension    type-check, format-check and unit-test the TypeScript
#   make test-vscode-e2e   install Node 24, code-server, Chromium (once), then drive
#                          real VS Code against the built .vsix

EXT_DIR := vscode-extension
EXT_PYTHON ?= $(if $(PYTHON),$(PYTHON),python3)
EXT_VERSION = $(shell node -p "require('./$(EXT_DIR)/package.json').version")
EXT_VSIX = $(EXT_DIR)/codon-lsp-$(EXT_VERSION).vsix
EXT_WHEEL_DIR := $(EXT_DIR)/out/wheel
# The server runs on 3.10+, but pip evaluates dependency markers for the Python
# that runs pip: the 3.10-only backports are named so they are bundled too
# (on 3.11+ they are unused).
EXT_BUNDLE_PYTHON_VERSION := 3.10
EXT_BUNDLE_BACKPORTS := exceptiongroup typing-extensions

.PHONY: vsix test-extension test-vscode-e2e extension-deps extension-bundled-server

extension-deps:
	cd $(EXT_DIR) && npm ci --no-audit --no-fund

extension-bundled-server:
	rm -rf $(EXT_DIR)/bundled $(EXT_WHEEL_DIR)
	$(EXT_PYTHON) -m pip wheel --quiet --no-deps --wheel-dir $(EXT_WHEEL_DIR) .
	$(EXT_PYTHON) -m pip install --quiet --no-compile --target $(EXT_DIR)/bundled/libs \
	  --python-version $(EXT_BUNDLE_PYTHON_VERSION) --only-binary=:all: \
	  $(EXT_WHEEL_DIR)/codon_lsp-*.whl $(EXT_BUNDLE_BACKPORTS)
	rm -rf $(EXT_DIR)/bundled/libs/bin
	find $(EXT_DIR)/bundled -name __pycache__ -type d -prune -exec rm -rf {} +

# The settings contributed are regenerated from settings.py, so a .vsix always
# offers exactly the settings of the server it carries.
vsix: extension-deps extension-bundled-server
	cd $(EXT_DIR) && $(EXT_PYTHON) scripts/settings_schema.py --write
	cd $(EXT_DIR) && npm run --silent bundle
	cd $(EXT_DIR) && npx vsce package --no-dependencies --skip-license \
	  --allow-missing-repository --out codon-lsp-$(EXT_VERSION).vsix
	@echo "built $(EXT_VSIX)"

test-extension: extension-deps
	cd $(EXT_DIR) && npx tsc --noEmit
	cd $(EXT_DIR) && npm run --silent format:check
	cd $(EXT_DIR) && CODON_LSP_SCHEMA_PYTHON=$(EXT_PYTHON) npx vitest run

test-vscode-e2e: vsix
	tests/e2e_vscode/setup.sh
	PYTHON=$(EXT_PYTHON) tests/e2e_vscode/run.sh $(EXT_VSIX)
