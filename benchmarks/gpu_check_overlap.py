"""CUDA correctness of the Triton overlap kernels: the matrix of the CPU interpreter tests, on a GPU.

Every activation, integer ids and dense targets, with and without ignore_index, squared or not,
2D and 3D, odd sizes, float32 / bfloat16 / float16 / float64 inputs: statistics and input
gradients (a random upstream gradient) against the plain PyTorch reference in float64; two runs
bitwise equal; then the losses through the default dispatch (``auto`` must pick Triton on CUDA)
against the reference backend. Prints one line per case and exits non-zero on a mismatch.

    python benchmarks/gpu_check_overlap.py [--out DIR]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

import torch

import visionloss.functional as VF
from visionloss.kernels import set_kernels
from visionloss.kernels.overlap import overlap_statistics_reference
from visionloss.kernels.triton import overlap as tri

TOLERANCE = {torch.float64: 1e-10, torch.float32: 2e-5, torch.bfloat16: 2e-5, torch.float16: 2e-5}


def _case(gen, shape, activation, dense, ignore, squared, dtype, device):
    n, c, *spatial = shape
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 2
    if activation == "identity":
        x = torch.rand(shape, generator=gen, dtype=torch.float64)
    elif activation == "exp":
        x = torch.log_softmax(x, 1)
    x = x.to(dtype).to(device)
    if dense:
        t = torch.randint(0, 2, shape, generator=gen)
    else:
        t = torch.randint(0, c, (n, *spatial), generator=gen)
    if ignore:
        t = torch.where(torch.rand(t.shape, generator=gen) < 0.2, -100, t)
    t = t.reshape(n, -1) if not dense else t.reshape(n, c, -1)
    x = x.reshape(n, c, -1)
    grad_out = torch.randn(4, n, c, generator=gen, dtype=torch.float64).to(device)
    return x, t.to(device), grad_out


def _run(fn, x, t, grad_out, **options):
    xi = x.detach().clone().requires_grad_(True)
    stats = fn(xi, t, **options)
    (grad,) = torch.autograd.grad(stats, xi, grad_out.to(stats.dtype))
    return stats.double(), grad.double()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "./out"))
    parser.add_argument(
        "--device", default="cuda", help="cpu: a smoke run under TRITON_INTERPRET=1"
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    lines, failures = [], 0
    # the full matrix on two odd shapes in float32 and bfloat16; the other dtypes and a large
    # image on the common case (softmax over class ids); each variant compiles once, so the
    # matrix is kept to what the interpreter tests cover
    main_cases = itertools.product(
        [(3, 5, 37), (2, 4, 9, 10, 11)],
        ("softmax", "sigmoid", "identity", "exp"),
        (False, True),
        ((False, False), (True, True), (True, False)),
        (torch.float32, torch.bfloat16),
    )
    extra_cases = itertools.product(
        [(2, 3, 17, 19), (1, 21, 256, 256)],
        ("softmax",),
        (False, True),
        ((True, False), (False, True)),
        (torch.float16, torch.float64, torch.float32),
    )
    for shape, activation, dense, (ignore, squared), dtype in itertools.chain(
        main_cases, extra_cases
    ):
        if not dense and activation == "sigmoid":
            continue  # ids go with softmax / identity / exp, as in the losses
        x, t, g = _case(gen, shape, activation, dense, ignore, squared, dtype, device)
        options = dict(
            activation=activation, ignore_index=-100 if ignore else None, squared=squared
        )
        ours, grad_ours = _run(tri.overlap_statistics_triton, x, t, g, **options)
        again, grad_again = _run(tri.overlap_statistics_triton, x, t, g, **options)
        ref, grad_ref = _run(
            overlap_statistics_reference,
            x.double() if dtype != torch.float64 else x,
            t,
            g,
            **options,
        )
        tol = TOLERANCE[dtype]
        scale = ref.abs().max().clamp_min(1.0)
        err = ((ours - ref).abs().max() / scale).item()
        gscale = grad_ref.abs().max().clamp_min(1e-30)
        gerr = ((grad_ours - grad_ref).abs().max() / gscale).item()
        deterministic = torch.equal(ours, again) and torch.equal(grad_ours, grad_again)
        ok = (
            err <= tol
            and gerr <= max(tol, 1e-2 if dtype in (torch.bfloat16, torch.float16) else tol)
            and deterministic
        )
        failures += not ok
        lines.append(
            f"{'ok  ' if ok else 'FAIL'} {shape} {activation:8s} {'dense' if dense else 'ids  '} "
            f"ignore={ignore:d} squared={squared:d} {str(dtype)[6:]:9s} stats {err:.1e} grad {gerr:.1e} "
            f"deterministic={deterministic}"
        )
        print(lines[-1], flush=True)
    # the losses through the default dispatch on CUDA: auto must take the kernel
    calls = []
    original = tri.overlap_statistics_triton
    tri.overlap_statistics_triton = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        x = torch.randn(4, 6, 64, 64, device=device, dtype=torch.float64)
        t = torch.randint(0, 6, (4, 64, 64), device=device)
        for loss in (
            "dice_loss",
            "jaccard_loss",
            "tversky_loss",
            "generalized_dice_loss",
            "dice_ce_loss",
            "dice_focal_loss",
        ):
            results = {}
            for backend in ("auto", "reference"):
                set_kernels(backend)
                xi = x.clone().requires_grad_(True)
                value = getattr(VF, loss)(xi, t, mode="multiclass")
                (grad,) = torch.autograd.grad(value * 1.7, xi)
                results[backend] = (value, grad)
            set_kernels("auto")
            err = (results["auto"][0] - results["reference"][0]).abs().item()
            gerr = (results["auto"][1] - results["reference"][1]).abs().max().item()
            ok = err < 1e-10 and gerr < 1e-10
            failures += not ok
            lines.append(
                f"{'ok  ' if ok else 'FAIL'} {loss} auto vs reference: {err:.1e} grad {gerr:.1e}"
            )
            print(lines[-1], flush=True)
    finally:
        tri.overlap_statistics_triton = original
    dispatched = bool(calls)
    failures += not dispatched
    lines.append(
        f"{'ok  ' if dispatched else 'FAIL'} auto dispatch on CUDA ran the Triton kernel: {dispatched}"
    )
    print(lines[-1], flush=True)
    where = torch.cuda.get_device_name() if device.type == "cuda" else "the CPU (interpreter)"
    summary = f"{len(lines) - failures} ok, {failures} failed on {where}"
    print(summary)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check_overlap.txt").write_text("\n".join([*lines, summary]) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
