#!/usr/bin/env bash
# Set up a virtual environment in .venv with visionloss and everything its tests, its command
# line and its peer cross-checks need. Safe to run again; a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch first, pinned to the CPU build: an unpinned torch would pull several GB of CUDA packages.
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
# then the package; constraints.txt keeps torch at that build while the peers install
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,cli,peers]"
