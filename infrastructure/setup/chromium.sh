#!/usr/bin/env bash
# Chromium for the report's browser check (tests/test_report.py) and bench/report_screenshot.py: Debian's own
# `chromium` package run headless; `chromium-driver` (chromedriver, the same build) for the review page's Selenium
# tests (tests/test_review_browser.py). Only a registry package will do here: browser builds that download themselves
# (playwright, puppeteer) cannot reach their hosts.
# Idempotent: does nothing when `chromium` and `chromedriver` are on the PATH; otherwise one `apt-get update`, then
# the install.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "chromium: present: $(chromium --version 2>/dev/null || echo "$(command -v chromium)"), $(command -v chromedriver)"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 || {
  echo "chromium: missing and no apt-get here; install Chromium so that \`chromium --headless\` runs" >&2
  exit 1
}
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "chromium: need root (or sudo) to apt-get install chromium" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Other set-up scripts may hold the dpkg lock (CI runs them one after another, workstations may not): wait for it.
$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
echo "chromium: installing"
# Recommends are kept: they bring the fonts the report's text and charts are drawn with.
$SUDO apt-get -o DPkg::Lock::Timeout=300 -y -qq install chromium chromium-driver >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "chromium: still not on the PATH after install" >&2; exit 1; }
command -v chromedriver >/dev/null 2>&1 || { echo "chromium: chromedriver not on the PATH after install" >&2; exit 1; }
echo "chromium: ready: $(chromium --version 2>/dev/null)"
