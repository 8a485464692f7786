#!/usr/bin/env bash
# Set up (or bring back in line) the pipeline VM. Run as root; idempotent, so it is safe to run again after a
# change, e.g. `sudo bash /opt/soundtrack-lake/infrastructure/vm/setup.sh /etc/soundtrack-lake/bootstrap.env`.
# cloud-init (infrastructure/vm/cloud-init.yaml) runs it on first boot. It:
#   1. installs Java 17, Python venv support, make, git, cron, logrotate, flock (Debian/Ubuntu packages);
#   2. creates the run user (RUN_USER) and clones the repo into REPO_DIR, or fast-forwards it;
#   3. writes the non-secret Azure settings of the bootstrap file into REPO_DIR/.env (mode 600); the API tokens stay
#      in Key Vault and reach each run through `scripts_spark.azure_auth exec-with-secrets`;
#   4. as the run user: `make sync` (venv from the pins + preflight) and `make cron-install` (nightly line);
#   5. installs the logrotate rule for logs/ (infrastructure/vm/logrotate.conf) and checks it with logrotate -d.
#
# The bootstrap file (KEY=value lines, written by Bicep through cloud-init) holds REPO_URL, REPO_REF, RUN_USER,
# REPO_DIR, CRON_SCHEDULE and the pipeline keys to put in .env (AZURE_STORAGE_ACCOUNT, PUBLISH_CONTAINER,
# LOG_ANALYTICS_ENDPOINT, LOG_ANALYTICS_RULE_ID, LOG_ANALYTICS_STREAM, KEY_VAULT_NAME, AZURE_CLIENT_ID).
set -euo pipefail

BOOTSTRAP="${1:-/etc/soundtrack-lake/bootstrap.env}"
ENV_KEYS=(AZURE_STORAGE_ACCOUNT PUBLISH_CONTAINER LOG_ANALYTICS_ENDPOINT LOG_ANALYTICS_RULE_ID LOG_ANALYTICS_STREAM
          KEY_VAULT_NAME AZURE_CLIENT_ID)
PACKAGES=(git make openjdk-17-jre-headless python3 python3-venv cron logrotate util-linux)

[[ $(id -u) -eq 0 ]] || { echo "setup: run as root (sudo bash $0 $BOOTSTRAP)" >&2; exit 1; }
if [[ -f "$BOOTSTRAP" ]]; then
  set -a
  # shellcheck disable=SC1090
  . "$BOOTSTRAP"
  set +a
fi
RUN_USER="${RUN_USER:-soundtrack}"
REPO_DIR="${REPO_DIR:-/opt/soundtrack-lake}"
REPO_REF="${REPO_REF:-main}"

echo "setup: packages"
export DEBIAN_FRONTEND=noninteractive
missing=()
for pkg in "${PACKAGES[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
systemctl enable --now cron >/dev/null 2>&1 || true

echo "setup: run user $RUN_USER, repo $REPO_DIR"
id -u "$RUN_USER" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$RUN_USER"
as_user() { runuser -u "$RUN_USER" -- "$@"; }
if [[ ! -d "$REPO_DIR/.git" ]]; then
  [[ -n "${REPO_URL:-}" ]] || { echo "setup: $REPO_DIR is not a clone and REPO_URL is empty" >&2; exit 1; }
  install -d -o "$RUN_USER" -g "$RUN_USER" "$REPO_DIR"
  as_user git clone --quiet --branch "$REPO_REF" "$REPO_URL" "$REPO_DIR"
else
  chown -R "$RUN_USER:$RUN_USER" "$REPO_DIR"
  as_user git -C "$REPO_DIR" pull --quiet --ff-only || echo "setup: WARN could not fast-forward $REPO_DIR; left as it is"
fi

echo "setup: $REPO_DIR/.env"
ENV_FILE="$REPO_DIR/.env"
[[ -f "$ENV_FILE" ]] || install -m 600 -o "$RUN_USER" -g "$RUN_USER" "$REPO_DIR/.env.example" "$ENV_FILE"
set_env() {  # replace KEY=... in .env, or append it
  local key="$1" value="$2" tmp
  tmp="$(mktemp)"
  grep -v -E "^${key}=" "$ENV_FILE" > "$tmp" || true
  printf '%s=%s\n' "$key" "$value" >> "$tmp"
  install -m 600 -o "$RUN_USER" -g "$RUN_USER" "$tmp" "$ENV_FILE"
  rm -f "$tmp"
}
for key in "${ENV_KEYS[@]}"; do
  if [[ -n "${!key:-}" ]]; then set_env "$key" "${!key}"; fi
done

status=0
echo "setup: make sync (venv from the pins, preflight)"
as_user make -C "$REPO_DIR" sync || { status=$?; echo "setup: WARN make sync reported a problem (see above); continuing"; }
echo "setup: make cron-install"
as_user env CRON_SCHEDULE="${CRON_SCHEDULE:-15 2 * * *}" make -C "$REPO_DIR" cron-install

echo "setup: logrotate rule"
sed -e "s#__REPO_DIR__#${REPO_DIR}#g" -e "s#__RUN_USER__#${RUN_USER}#g" \
    "$REPO_DIR/infrastructure/vm/logrotate.conf" > /etc/logrotate.d/soundtrack-lake
chmod 644 /etc/logrotate.d/soundtrack-lake
logrotate -d /etc/logrotate.d/soundtrack-lake >/dev/null 2>&1 || {
  echo "setup: logrotate -d rejects /etc/logrotate.d/soundtrack-lake" >&2; exit 1; }

echo "setup: done (status $status). Nightly runs log to $REPO_DIR/logs/; first run by hand:"
echo "  sudo -u $RUN_USER $REPO_DIR/run_pipeline_safe.sh"
exit $status
