#!/usr/bin/env bash
# Run the pipeline safely from a terminal or cron:
#  - one run at a time (flock -n on logs/pipeline.lock; exit 75 = EX_TEMPFAIL when another run holds it); the
#    pipeline also takes the lake's own lock (<lake>/_lock), which guards the lake against writers from other
#    clones and direct commands, and exits 75 too,
#  - SIGTERM/SIGINT (cron or systemd timeouts) are passed to the pipeline, which marks the run interrupted,
#    drops its uncommitted tables and exits 143/130; the lake keeps its last committed data,
#  - absolute paths from this script's own location (cron starts in $HOME with a bare PATH),
#  - loads .env, sets up the venv when missing, no TTY needed,
#  - logs to logs/pipeline_<run_id>.log and keeps the last KEEP_LOGS logs,
#  - passes the pipeline's exit status through.
# Usage: run_pipeline_safe.sh [--run-id ID] [any other `python -m scripts_spark run` options]
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE" || exit 1
export PATH="/usr/local/bin:/usr/bin:/bin:${PATH:-}"

if [[ -f "$HERE/.env" ]]; then
  set -a
  # shellcheck disable=SC1091
  . "$HERE/.env"
  set +a
fi

LOG_DIR="${LOG_DIR:-$HERE/logs}"
KEEP_LOGS="${KEEP_LOGS:-30}"
VENV="${VENV:-$HERE/.venv}"
mkdir -p "$LOG_DIR"

exec 9>"$LOG_DIR/pipeline.lock"
if ! flock -n 9; then
  echo "run_pipeline_safe: another pipeline run holds $LOG_DIR/pipeline.lock; not starting a second one (exit 75)" >&2
  exit 75
fi

RUN_ID=""
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --run-id) RUN_ID="${2:-}"; shift 2 ;;
    --run-id=*) RUN_ID="${1#--run-id=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
RUN_ID="${RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)}"
LOG_FILE="$LOG_DIR/pipeline_${RUN_ID}.log"

if [[ ! -x "$VENV/bin/python" ]] || ! VENV="$VENV" "$HERE/rebuild_venv.sh" --check; then
  VENV="$VENV" "$HERE/rebuild_venv.sh" >>"$LOG_FILE" 2>&1 || { echo "run_pipeline_safe: venv setup failed, see $LOG_FILE" >&2; exit 1; }
fi

echo "run_pipeline_safe: run $RUN_ID started $(date -u +%FT%TZ); log: $LOG_FILE"
PIPELINE_LOG_FILE="$LOG_FILE" "$VENV/bin/python" -m scripts_spark run --run-id "$RUN_ID" "${args[@]}" 2>>"$LOG_FILE.stderr" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM
trap 'kill -INT "$child" 2>/dev/null' INT
wait "$child"
status=$?
while kill -0 "$child" 2>/dev/null; do  # a trapped signal ends `wait` early: wait for the pipeline's own exit
  wait "$child"
  status=$?
done
trap - TERM INT
# Spark/JVM noise goes to the .stderr file; the JSON event log is $LOG_FILE. Keep both, tail errors to the terminal.
if [[ $status -ne 0 ]]; then
  echo "run_pipeline_safe: run $RUN_ID FAILED with exit $status; last lines of $LOG_FILE.stderr:" >&2
  tail -n 5 "$LOG_FILE.stderr" >&2
fi

if [[ $status -eq 0 && -n "${LOG_ANALYTICS_ENDPOINT:-}" ]]; then
  "$VENV/bin/python" -m scripts_spark.ship_metrics --run-id "$RUN_ID" >>"$LOG_FILE" 2>&1 \
    || echo "run_pipeline_safe: shipping metrics to Log Analytics failed (see $LOG_FILE); the run itself succeeded" >&2
fi

if [[ $status -eq 0 && -n "${AZURE_STORAGE_ACCOUNT:-}" ]]; then
  "$VENV/bin/python" -m scripts_spark publish --run-id "$RUN_ID" --layers "${PUBLISH_LAYERS:-gold}" >>"$LOG_FILE" 2>&1 \
    || echo "run_pipeline_safe: publishing run $RUN_ID failed (see $LOG_FILE); 'make publish RUN_ID=$RUN_ID' resumes it" >&2
fi

# Keep the newest KEEP_LOGS runs' logs.
ls -1t "$LOG_DIR"/pipeline_*.log 2>/dev/null | tail -n "+$((KEEP_LOGS + 1))" | while read -r old; do
  rm -f -- "$old" "$old.stderr"
done
echo "run_pipeline_safe: run $RUN_ID finished with exit $status"
exit $status
