#!/bin/sh
# Debian's chromium for the playground's browser tests: Playwright drives it through
# executable_path, so no browser is ever downloaded. Does nothing when it is installed.
set -eu

CHROMIUM="${VIDSERVE_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "tests/browser/setup.sh: no $CHROMIUM and no apt-get; install chromium and set VIDSERVE_CHROMIUM" >&2
    # The browser tests skip without it locally; in CI they must run.
    [ "${CI:-}" = "true" ] && exit 1
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "tests/browser/setup.sh: installing Debian's chromium" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
