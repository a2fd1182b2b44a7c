#!/usr/bin/env bash
# Installs code-server 4.100.3 (VS Code 1.100) on the machine's Node 20 into a cache folder
# shared between runs and fresh clones; prints the path of the code-server launcher.
# Route verified in /work/shared/reference/editor-testing.md: no internet beyond the npm
# registry, so @vscode/ripgrep's GitHub download is pre-seeded with Debian's rg.
set -euo pipefail

CODE_SERVER_VERSION="${CODE_SERVER_VERSION:-4.100.3}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/bytebuddy-ls"
PREFIX="$CACHE_ROOT/code-server-$CODE_SERVER_VERSION"
LAUNCHER="$PREFIX/node_modules/.bin/code-server"
MARKER="$PREFIX/.installed"

if [[ -f "$MARKER" && -x "$LAUNCHER" ]]; then
  echo "$LAUNCHER"
  exit 0
fi

for tool in node npm rg; do
  command -v "$tool" >/dev/null || { echo "install-code-server: '$tool' is missing (see the Makefile's apt packages)" >&2; exit 1; }
done

# The machine's npmrc says yes=false, but node-pty's postinstall runs npx.
export npm_config_yes=true
# Build native modules against the installed Node 20 headers instead of downloading them.
export npm_config_nodedir="${npm_config_nodedir:-/usr}"

WORK_TMP="$(mktemp -d)"
trap 'rm -rf "$WORK_TMP"' EXIT
export TMPDIR="$WORK_TMP"
ripgrep_cache="$WORK_TMP/vscode-ripgrep-cache-1.15.11"
mkdir -p "$ripgrep_cache"
tar czf "$ripgrep_cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$(dirname "$(command -v rg)")" rg

rm -rf "$PREFIX"
mkdir -p "$PREFIX"
echo '{"name":"bytebuddy-code-server-cache","private":true}' > "$PREFIX/package.json"
npm install --prefix "$PREFIX" --no-audit --no-fund --unsafe-perm --foreground-scripts \
  "code-server@$CODE_SERVER_VERSION" >&2
test -x "$LAUNCHER"
touch "$MARKER"
echo "$LAUNCHER"
