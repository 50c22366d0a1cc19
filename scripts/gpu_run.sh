#!/usr/bin/env bash
# The device check, as one command on a machine with an NVIDIA GPU (torch with CUDA and triton
# installed): CUDA correctness of the Triton kernels, then the GPU benchmarks (overlap; dense and
# pointwise; SSIM and boxes). Peers come as
# wheels in .whl/ when the machine cannot reach a registry. Results go to $OUT (default ./out).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-./out}"; mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH="$PWD/src:/tmp/site"
else
    export PYTHONPATH="$PWD/src"
fi
unset TRITON_INTERPRET
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$OUT/device.txt"
python3 benchmarks/gpu_check_overlap.py --out "$OUT" 2>&1 | tail -n 25
check=$?
python3 benchmarks/gpu_overlap.py --out "$OUT" "$@" 2>&1 | tail -n 60
python3 benchmarks/gpu_dense.py --out "$OUT" 2>&1 | tail -n 80
python3 benchmarks/gpu_structured.py --out "$OUT" 2>&1 | tail -n 50
exit $check
