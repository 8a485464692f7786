#!/usr/bin/env bash
# PostgreSQL for the recommender (step 07) and its tests: the Debian server package (initdb/pg_ctl for the
# throwaway servers the tests start) and the JDBC driver jar that Spark's JDBC writer loads
# (/usr/share/java/postgresql.jar; there is no Maven access, so spark.jars.packages is not an option).
# Idempotent: installs only what is missing, and refreshes the apt index only when a package is unknown to it.
set -euo pipefail

JDBC_JAR="${JDBC_JAR:-/usr/share/java/postgresql.jar}"

have_server() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; }
have_jar() { [[ -f "$JDBC_JAR" ]]; }

missing=()
have_server || missing+=(postgresql)
have_jar || missing+=(libpostgresql-jdbc-java)
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "postgres: server $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1) and JDBC driver $JDBC_JAR present"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 || {
  echo "postgres: missing ${missing[*]} and no apt-get here; install PostgreSQL (initdb, pg_ctl) and its JDBC jar, then set JDBC_JAR" >&2
  exit 1
}
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "postgres: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Other set-up scripts may hold the dpkg lock (CI runs them one after another, workstations may not): wait for it.
APT=($SUDO apt-get -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends)

for pkg in "${missing[@]}"; do
  # Captured first: with pipefail, `apt-cache ... | grep -q` fails when grep closes the pipe early.
  policy="$(apt-cache policy "$pkg" 2>/dev/null || true)"
  if [[ "$policy" != *"Candidate: "[0-9]* ]]; then
    echo "postgres: apt index does not know $pkg yet: apt-get update"
    $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
    break
  fi
done
echo "postgres: installing ${missing[*]}"
"${APT[@]}" install "${missing[@]}" >/dev/null
have_server || { echo "postgres: initdb/pg_ctl still missing under /usr/lib/postgresql/*/bin after install" >&2; exit 1; }
have_jar || { echo "postgres: $JDBC_JAR still missing after install (set JDBC_JAR to the jar's path)" >&2; exit 1; }
echo "postgres: ready: $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1), $JDBC_JAR"
