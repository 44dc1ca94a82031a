#!/usr/bin/env bash
# Installs what bench/queue_status.py measures with, outside the package's own dependencies: wrk
# (Debian), the C load generator of the throughput phase. The 200-poller phase is plain
# Python (asyncio) and needs nothing more; PostgreSQL must already run (bench/queue_status.py
# --pg-admin names it, default postgresql://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends wrk
fi
echo "bench set-up done: $(wrk --version 2>&1 | head -1)"
