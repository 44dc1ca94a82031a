#!/usr/bin/env bash
# Installs what bench/motion.py compares against and measures with, outside the package's
# own dependencies: ffmpeg (Debian) for still-motion, and still-motion + scikit-image (SSIM)
# into the project's virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v ffmpeg >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends ffmpeg
fi

PY="${PYTHON:-.venv/bin/python}"
"$PY" -m pip install --quiet "still-motion==0.1.2" "scikit-image>=0.22"
echo "bench set-up done: $(ffmpeg -version | head -1)"
