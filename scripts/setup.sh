#!/usr/bin/env bash
# Set up a virtual environment in .venv with visionloss and everything its tests, its command
# line, its peer cross-checks and its documentation need. Safe to run again; a second run installs
# nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch first, pinned to the CPU build: an unpinned torch would pull several GB of CUDA packages.
"${PIP[@]}" "torch==2.13.0"
# then the package; constraints.txt keeps torch at that build while the peers install
"${PIP[@]}" -c constraints.txt -e ".[dev,cli,peers,docs]"
# segmentation_models_pytorch, a peer of the migration tests, without its dependencies: they
# would bring timm and a torchvision built for another torch; the tests load only its losses
if ! .venv/bin/python -c "import importlib.util as u; exit(u.find_spec('segmentation_models_pytorch') is None)"; then
    "${PIP[@]}" -c constraints.txt --no-deps "segmentation-models-pytorch>=0.5"
fi
# headless Chromium and its driver for the docs' browser test (tests/test_docs_site.py), from the
# system's packages when this runs as root with apt-get; otherwise that test is skipped locally
if ! { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
    else
        echo "setup: chromium and chromedriver not found; the docs browser test will be skipped" >&2
    fi
fi
