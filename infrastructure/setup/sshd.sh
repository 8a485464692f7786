#!/usr/bin/env bash
# OpenSSH server for the `make sync` tests (tests/test_sync.py starts its own sshd on 127.0.0.1 with a throwaway
# host key and config; nothing here starts a service or opens a port). Debian's openssh-server package.
# Idempotent: does nothing when /usr/sbin/sshd exists; otherwise installs the package (apt index refreshed once).
set -euo pipefail

if [[ -x /usr/sbin/sshd ]]; then
  echo "sshd: present: $(/usr/sbin/sshd -V 2>&1 | head -n1 || echo /usr/sbin/sshd)"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 || {
  echo "sshd: missing and no apt-get here; install OpenSSH's server (sshd) to run tests/test_sync.py" >&2
  exit 1
}
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "sshd: need root (or sudo) to apt-get install openssh-server" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
policy="$(apt-cache policy openssh-server 2>/dev/null || true)"
if [[ "$policy" != *"Candidate: "[0-9]* ]]; then
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
fi
echo "sshd: installing openssh-server"
# --no-install-recommends: no ncurses-term/xauth; policy-rc.d keeps the package from starting a system sshd.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends install openssh-server >/dev/null
[[ -x /usr/sbin/sshd ]] || { echo "sshd: /usr/sbin/sshd still missing after install" >&2; exit 1; }
echo "sshd: ready: $(/usr/sbin/sshd -V 2>&1 | head -n1 || echo /usr/sbin/sshd)"
