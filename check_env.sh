#!/usr/bin/env bash
# Preflight: one line per check (OK / WARN / FAIL with how to fix). Exits non-zero on any FAIL.
# Reads .env and the environment exactly as the pipeline does (INPUT_DIR, LAKE_ROOT, *_MODE, tokens ...).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VENV:-$HERE/.venv}"
failures=0
ok()   { printf 'OK    %s\n' "$*"; }
fail() { printf 'FAIL  %s -> fix: %s\n' "$1" "$2"; failures=$((failures + 1)); }

if command -v python3 >/dev/null 2>&1; then
  pv="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then ok "python3 $pv"
  else fail "python3 $pv is older than 3.10" "install Python 3.11"; fi
else
  fail "no python3 on PATH" "apt-get install python3 python3-venv"
fi

if command -v java >/dev/null 2>&1; then
  jv="$(java -version 2>&1 | head -n1 | sed -E 's/.*version "([0-9]+).*/\1/')"
  if [[ "$jv" =~ ^[0-9]+$ && "$jv" -ge 17 ]]; then ok "java $jv"
  else fail "java $jv is older than 17" "apt-get install -y openjdk-17-jre-headless"; fi
else
  fail "no java on PATH (Spark needs a JDK 17+)" "apt-get install -y openjdk-17-jre-headless"
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  fail "no virtualenv at $VENV" "run: make setup"
  echo "checks: $failures failed"
  exit 1
fi
if VENV="$VENV" "$HERE/rebuild_venv.sh" --check; then ok "venv matches requirements_stable.txt"
else fail "venv differs from requirements_stable.txt" "run: make sync (or ./rebuild_venv.sh)"; fi

cd "$HERE" && "$VENV/bin/python" -m scripts_spark.preflight || failures=$((failures + 1))

if [[ $failures -gt 0 ]]; then
  echo "checks: FAILED ($failures)"
  exit 1
fi
echo "checks: all passed"
