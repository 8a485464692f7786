#!/usr/bin/env bash
# The nightly crontab entry: runs the pipeline through run_pipeline_safe.sh (flock, logs, exit status).
#
#   infrastructure/cron.sh print     show the line that install would add
#   infrastructure/cron.sh install   add the line, or replace our earlier one; every other crontab line is kept
#   infrastructure/cron.sh remove    take our line out
#
# Idempotent: our line is recognised by its trailing tag, so installing twice leaves one line, and a changed
# schedule replaces it. Overlapping runs are already prevented by the flock in run_pipeline_safe.sh (exit 75).
# CRON_SCHEDULE    five cron fields, default "15 2 * * *" (02:15 in the machine's time zone; Azure images use UTC)
# KEY_VAULT_NAME   (environment or .env) when set, the run starts through
#                  `python -m scripts_spark.azure_auth exec-with-secrets`, so the API tokens come from Key Vault
#                  at run time and are never written to disk
# CRONTAB          the crontab command (tests point it at a stand-in)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TAG="# soundtrack-lake:nightly"
SCHEDULE="${CRON_SCHEDULE:-15 2 * * *}"
CRONTAB="${CRONTAB:-crontab}"

usage() { echo "usage: $0 {print|install|remove}" >&2; exit 2; }

check_schedule() {
  local fields
  read -r -a fields <<<"$SCHEDULE"
  if [[ ${#fields[@]} -ne 5 ]] || [[ ! "$SCHEDULE" =~ ^[0-9A-Za-z*/,\ -]+$ ]]; then
    echo "cron: CRON_SCHEDULE='$SCHEDULE' is not five cron fields (e.g. '15 2 * * *')" >&2
    exit 2
  fi
}

key_vault_name() {
  if [[ -n "${KEY_VAULT_NAME:-}" ]]; then
    echo "$KEY_VAULT_NAME"
  elif [[ -f "$ROOT/.env" ]]; then
    sed -n -E 's/^KEY_VAULT_NAME=["'\'']?([^"'\'' #]+).*/\1/p' "$ROOT/.env" | tail -n1
  fi
}

cron_line() {
  # cron treats '%' as a newline: a path with one cannot be written safely.
  [[ "$ROOT" != *%* ]] || { echo "cron: the repo path $ROOT contains '%', which cron cannot run" >&2; exit 2; }
  local root runner log
  root="$(printf '%q' "$ROOT")"
  runner="$root/run_pipeline_safe.sh"
  log="$root/logs/cron.log"
  if [[ -n "$(key_vault_name)" ]]; then
    runner="cd $root && $root/.venv/bin/python -m scripts_spark.azure_auth exec-with-secrets -- $runner"
  fi
  echo "$SCHEDULE $runner >> $log 2>&1 $TAG"
}

current_crontab() {
  # `crontab -l` exits 1 with "no crontab for <user>" when there is none yet: that is an empty crontab.
  "$CRONTAB" -l 2>/dev/null || true
}

without_our_line() { grep -vF -- "$TAG" || true; }

write_crontab() {
  local wanted="$1" current
  current="$(current_crontab)"
  if [[ "$current" == "$wanted" ]]; then
    echo "cron: crontab unchanged"
    return 0
  fi
  if [[ -z "$wanted" ]]; then
    "$CRONTAB" -r 2>/dev/null || true
  else
    printf '%s\n' "$wanted" | "$CRONTAB" -
  fi
  echo "cron: crontab updated"
}

command="${1:-}"
case "$command" in
  print)
    check_schedule
    cron_line
    ;;
  install)
    check_schedule
    line="$(cron_line)"
    others="$(current_crontab | without_our_line)"
    mkdir -p "$ROOT/logs"
    if [[ -n "$others" ]]; then write_crontab "$others"$'\n'"$line"; else write_crontab "$line"; fi
    echo "cron: installed: $line"
    ;;
  remove)
    write_crontab "$(current_crontab | without_our_line)"
    ;;
  *) usage ;;
esac
