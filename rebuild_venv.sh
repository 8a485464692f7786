#!/usr/bin/env bash
# Create or update .venv from requirements_stable.txt. Idempotent: when the pins have not changed since the
# last successful install, it does nothing. Says what is missing (Python, Java) and how to fix it.
#   ./rebuild_venv.sh            create/update the venv when the pins changed
#   ./rebuild_venv.sh --force    reinstall from scratch
#   ./rebuild_venv.sh --check    exit 0 when the venv matches the pins, 1 otherwise (changes nothing)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VENV:-$HERE/.venv}"
PINS="$HERE/requirements_stable.txt"
STAMP="$VENV/.pins.sha256"
PYTHON="${PYTHON:-python3}"

say() { printf '%s\n' "$*"; }
die() { printf 'rebuild_venv: %s\n' "$*" >&2; exit 1; }

pins_hash() { sha256sum "$PINS" | cut -d' ' -f1; }

venv_current() {
  [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$(pins_hash)" ]]
}

case "${1:-}" in
  --check) venv_current && exit 0 || exit 1 ;;
  --force) rm -rf "$VENV" ;;
  "") ;;
  *) die "unknown option '$1' (use --force or --check)" ;;
esac

command -v "$PYTHON" >/dev/null 2>&1 || die "no '$PYTHON' on PATH. Install Python 3.11 (Debian: apt-get install python3 python3-venv) or set PYTHON=/path/to/python3.11"
"$PYTHON" - <<'EOF' || die "Python 3.10+ is required (found $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11"
import sys
sys.exit(0 if sys.version_info >= (3, 10) else 1)
EOF
"$PYTHON" -c "import venv, ensurepip" 2>/dev/null || die "Python's venv module is missing. Debian/Ubuntu: apt-get install python3-venv"

if ! command -v java >/dev/null 2>&1; then
  say "WARNING: no 'java' on PATH: Spark cannot start. Install a JDK 17: apt-get install -y openjdk-17-jre-headless (or set JAVA_HOME)."
else
  jv="$(java -version 2>&1 | head -n1 | sed -E 's/.*version "([0-9]+).*/\1/')"
  [[ "$jv" =~ ^[0-9]+$ && "$jv" -ge 17 ]] || say "WARNING: Java $jv found; PySpark 4 needs Java 17 or 21 (apt-get install -y openjdk-17-jre-headless)."
fi

if venv_current; then
  say "venv up to date with requirements_stable.txt ($VENV)"
  exit 0
fi

start=$(date +%s)
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating venv at $VENV"
  "$PYTHON" -m venv "$VENV"
fi
say "installing pinned packages from requirements_stable.txt (a few minutes on a new machine)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# --no-compile, then compileall on both cores: pip byte-compiles on one core (half the install, 18 s -> 9 s on a
# 2-core machine). Compiling up front is not optional: where PYTHONDONTWRITEBYTECODE is set (as in this machine type's
# shell environment) nothing is cached on import, and every Python process - a run's driver, each Spark Python
# worker, each CLI child of the tests - compiled pandas, PySpark and NumPy again: 1.5 s per import of the four
# against 0.5 s compiled (docs/operations.md).
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile -r "$PINS"
"$VENV/bin/python" -m pip check >/dev/null || die "installed packages have conflicting requirements: run '$VENV/bin/python -m pip check'"
"$VENV/bin/python" -m compileall -q -j 0 "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null \
  || say "WARNING: some installed modules did not byte-compile (they are compiled on every import instead)"
pins_hash > "$STAMP"
say "venv ready in $(( $(date +%s) - start ))s: $VENV"
