#!/usr/bin/env bash
# Azurite, the Azure Storage emulator, for the publish tests and a local `make publish`: installed from the npm
# registry into the repo-local folder .tools/azurite (nothing outside the repo), at the exact versions of
# infrastructure/setup/azurite/package-lock.json (`npm ci`). Idempotent: reinstalls only when the lockfile changed.
# Prints the path of the azurite-blob binary on its last line.
#
# Azurite 3.35.0 is the newest release that runs on Node 20 (3.36 needs Node >= 21, 3.37 Node >= 22). Azurite has
# a Blob endpoint but no ADLS Gen2 (dfs) endpoint, which is why publish speaks the Blob API (see publish.py).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SPEC="$ROOT/infrastructure/setup/azurite"
DEST="${AZURITE_DIR:-$ROOT/.tools/azurite}"
BIN="$DEST/node_modules/.bin/azurite-blob"
STAMP="$DEST/.lock.sha256"
MIN_NODE_MAJOR=18

for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "azurite: no $tool on PATH; install Node.js >= $MIN_NODE_MAJOR with npm (Debian: apt-get install nodejs npm), then re-run $0" >&2
    exit 1
  }
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if (( node_major < MIN_NODE_MAJOR )); then
  echo "azurite: Node.js $(node --version) is too old; Azurite 3.35 needs >= $MIN_NODE_MAJOR" >&2
  exit 1
fi

want="$(sha256sum "$SPEC/package-lock.json" | cut -d' ' -f1)"
if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  echo "azurite: $(cd "$DEST" && node -p 'require("azurite/package.json").version') already installed"
  echo "$BIN"
  exit 0
fi

echo "azurite: installing the pinned Azurite into $DEST (npm ci)"
mkdir -p "$DEST"
cp "$SPEC/package.json" "$SPEC/package-lock.json" "$DEST/"
# --ignore-scripts: Azurite needs no install scripts, and running none is the safer default for a test tool.
(cd "$DEST" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
[[ -x "$BIN" ]] || { echo "azurite: npm ci finished but $BIN is missing" >&2; exit 1; }
echo "$want" > "$STAMP"
echo "azurite: $(cd "$DEST" && node -p 'require("azurite/package.json").version') installed"
echo "$BIN"
