#!/usr/bin/env bash
# Installs the real VS Code the extension tests run in (code-server 4.100.3, the last release that
# runs on Node 20) and the browser that drives it, offline: only the npm registry and Debian's
# packages are reachable. Idempotent: a second run with everything present does nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E="$ROOT/e2e"
RIPGREP_VERSION="v13.0.0-10"
RIPGREP_CACHE_DIR="vscode-ripgrep-cache-1.15.11"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# libkrb5-dev: code-server's kerberos module compiles against gssapi.h.
# ripgrep: @vscode/ripgrep downloads rg from GitHub unless its cache holds a tarball.
# chromium: the browser playwright-core drives (never `npx playwright install`).
missing=()
for pkg in libkrb5-dev ripgrep chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ -x "$E2E/node_modules/.bin/code-server" ] && [ -d "$E2E/node_modules/playwright-core" ]; then
  echo "code-server already installed in $E2E/node_modules"
  exit 0
fi

# @vscode/ripgrep's postinstall first looks for this cache file; Debian's rg at the tarball's top
# level satisfies it, so nothing is fetched from GitHub.
TMP="$(node -p 'require("os").tmpdir()')"
CACHE="$TMP/$RIPGREP_CACHE_DIR"
TARBALL="$CACHE/ripgrep-$RIPGREP_VERSION-x86_64-unknown-linux-musl.tar.gz"
if [ ! -f "$TARBALL" ]; then
  mkdir -p "$CACHE"
  STAGE="$(mktemp -d)"
  cp "$(command -v rg)" "$STAGE/rg"
  tar -czf "$TARBALL" -C "$STAGE" rg
  rm -rf "$STAGE"
fi

# unsafe_perm: code-server's postinstall refuses root without it. yes: node-pty's postinstall runs
# `npx node-gyp`. nodedir: node-gyp builds against the local Node headers instead of downloading them.
cd "$E2E"
export npm_config_unsafe_perm=true npm_config_yes=true npm_config_nodedir=/usr
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
echo "code-server installed: $(XDG_CONFIG_HOME="$(mktemp -d)" "$E2E/node_modules/.bin/code-server" --version 2>/dev/null | tail -1)"
