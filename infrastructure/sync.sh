#!/usr/bin/env bash
# `make sync`: keep this workstation and the Azure VM on the same commit and the same pinned venv, checked.
#
#   workstation: rebuild .venv only when requirements_stable.txt changed, run check_env.sh
#   VM (only when VM_HOST is set): over ssh, push this clone's HEAD to the VM's clone (VM_PATH) and move its branch
#     there (refused when the VM has uncommitted changes or commits this clone lacks), rebuild its venv only when
#     the pins changed, run its check_env.sh, and compare both sides' pins hashes (requirements_stable.txt and the
#     hash each venv was built from)
#   logs: one dated line per side appended to SYNC_LOG (default logs/sync_log.md)
#
# Settings come from the environment, then .env (the environment wins, as for the pipeline):
#   VM_HOST, VM_USER (azureuser), VM_KEY (ssh private key; empty = ssh's defaults), VM_PATH (soundtrack-lake,
#   relative to the VM user's home or absolute), VM_PORT (22), VM_SSH_OPTS (extra ssh options), SYNC_LOG.
# Exit status: 0 both sides in line; 1 a check failed, the VM is unreachable, or the pins differ.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HERE" || exit 1

if [[ -f "$HERE/.env" ]]; then
  while IFS='=' read -r key value; do
    [[ "$key" =~ ^(VM_HOST|VM_USER|VM_KEY|VM_PATH|VM_PORT|VM_SSH_OPTS|SYNC_LOG)$ ]] || continue
    [[ -z "${!key:-}" ]] && export "$key=$value"
  done < <(grep -E '^[A-Z_]+=' "$HERE/.env")
fi
VM_HOST="${VM_HOST:-}"
VM_USER="${VM_USER:-azureuser}"
VM_KEY="${VM_KEY:-}"
VM_PATH="${VM_PATH:-soundtrack-lake}"
VM_PORT="${VM_PORT:-22}"
VM_SSH_OPTS="${VM_SSH_OPTS:-}"
SYNC_LOG="${SYNC_LOG:-$HERE/logs/sync_log.md}"
mkdir -p "$(dirname "$SYNC_LOG")"

now() { date -u +%FT%TZ; }
short() { printf '%s' "${1:0:12}"; }
log_line() { printf -- '- %s %s\n' "$(now)" "$*" >> "$SYNC_LOG"; }

# --- workstation ------------------------------------------------------------------------------------------
commit="$(git rev-parse HEAD 2>/dev/null || echo no-git)"
branch="$(git symbolic-ref --short -q HEAD || echo main)"
pins="$(sha256sum requirements_stable.txt | cut -d' ' -f1)"
status=0
echo "sync: workstation at $(short "$commit") ($branch), pins $(short "$pins")"
if ! ./rebuild_venv.sh; then
  status=1
fi
venv_pins="$(cat "${VENV:-$HERE/.venv}/.pins.sha256" 2>/dev/null || echo none)"
check_out="$(./check_env.sh 2>&1)"; check_status=$?
printf '%s\n' "$check_out"
[[ $check_status -eq 0 ]] || status=1
dirty=""
[[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]] || dirty=" uncommitted-changes"
log_line "workstation $(hostname) commit=$(short "$commit") pins=$(short "$pins") venv=$(short "$venv_pins")" \
         "check=$([[ $check_status -eq 0 ]] && echo passed || echo FAILED)$dirty"

if [[ -z "$VM_HOST" ]]; then
  echo "sync: VM_HOST not set: this workstation only (set VM_HOST, VM_USER, VM_KEY, VM_PATH in .env to keep the VM in line)"
  exit $status
fi

# --- VM -------------------------------------------------------------------------------------------------------
ssh_opts=(-o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=accept-new -p "$VM_PORT")
[[ -n "$VM_KEY" ]] && ssh_opts+=(-i "$VM_KEY" -o IdentitiesOnly=yes)
# shellcheck disable=SC2206 - extra options are words on purpose
[[ -n "$VM_SSH_OPTS" ]] && ssh_opts+=($VM_SSH_OPTS)
target="$VM_USER@$VM_HOST"
vm() { ssh "${ssh_opts[@]}" "$target" "$@"; }
q() { printf '%q' "$1"; }
vm_fail() {
  echo "sync: VM $target: $1" >&2
  log_line "vm $target FAILED: $1"
  exit 1
}

if ! err="$(vm true 2>&1)"; then
  vm_fail "unreachable over ssh (port $VM_PORT): $(printf '%s' "$err" | tail -n1)"
fi
if [[ -n "$dirty" ]]; then
  echo "sync: the workstation has uncommitted changes; the VM gets the last commit, $(short "$commit")"
fi
vm "cd $(q "$VM_PATH") && git rev-parse --git-dir" >/dev/null 2>&1 \
  || vm_fail "no git clone at $VM_PATH on the VM: clone the project there first (see docs/operations.md)"
vm "cd $(q "$VM_PATH") && git diff --quiet HEAD" \
  || vm_fail "the VM's clone at $VM_PATH has uncommitted changes: commit or discard them there first"

# Push this commit to a ref of its own (a checked-out branch cannot be pushed into), then move the VM's branch
# there: a fast-forward, or a first checkout; never over commits the VM has and this clone lacks.
export GIT_SSH_COMMAND="ssh $(printf '%q ' "${ssh_opts[@]}")"
if ! err="$(git push --quiet --force "$target:$VM_PATH" "$commit:refs/sync/workstation" 2>&1)"; then
  vm_fail "git push failed: $(printf '%s' "$err" | tail -n1)"
fi
vm_head="$(vm "cd $(q "$VM_PATH") && git rev-parse HEAD" 2>/dev/null || echo none)"
if [[ "$vm_head" != "$commit" ]]; then
  vm "cd $(q "$VM_PATH") && git merge-base --is-ancestor HEAD $commit" \
    || vm_fail "the VM is at $(short "$vm_head"), which is not in this clone's history: push the VM's commits first"
  vm "cd $(q "$VM_PATH") && git -c advice.detachedHead=false checkout --quiet -B $(q "$branch") $commit" \
    || vm_fail "could not check out $(short "$commit") on the VM"
  echo "sync: VM moved from $(short "$vm_head") to $(short "$commit")"
else
  echo "sync: VM already at $(short "$commit")"
fi

if vm "cd $(q "$VM_PATH") && ./rebuild_venv.sh --check"; then
  rebuilt="unchanged"
else
  echo "sync: the VM's venv differs from its pins: rebuilding it there"
  vm "cd $(q "$VM_PATH") && ./rebuild_venv.sh" || vm_fail "rebuild_venv.sh failed on the VM"
  rebuilt="rebuilt"
fi
vm_check="$(vm "cd $(q "$VM_PATH") && ./check_env.sh" 2>&1)"; vm_check_status=$?
printf '%s\n' "$vm_check" | sed 's/^/vm: /'
vm_pins="$(vm "cd $(q "$VM_PATH") && sha256sum requirements_stable.txt | cut -d' ' -f1" 2>/dev/null || echo none)"
vm_venv_pins="$(vm "cd $(q "$VM_PATH") && cat .venv/.pins.sha256" 2>/dev/null || echo none)"
match="pins-match"
if [[ "$vm_pins" != "$pins" || "$vm_venv_pins" != "$pins" ]]; then
  match="PINS-DIFFER(workstation=$(short "$pins"),vm=$(short "$vm_pins"),vm-venv=$(short "$vm_venv_pins"))"
  status=1
fi
[[ $vm_check_status -eq 0 ]] || status=1
log_line "vm $target commit=$(short "$commit") pins=$(short "$vm_pins") venv=$(short "$vm_venv_pins") ($rebuilt)" \
         "check=$([[ $vm_check_status -eq 0 ]] && echo passed || echo FAILED) $match"
echo "sync: VM $target at $(short "$commit"), venv $rebuilt, check $([[ $vm_check_status -eq 0 ]] && echo passed || echo FAILED), $match"
exit $status
