"""GPU benchmark of the losses with structure beyond one element: SSIM and MS-SSIM (a Gaussian
window over five maps) and the IoU-family box losses (four or six coordinates per box).

Contenders, forward+backward of the mean loss (gradient w.r.t. the prediction):

* SSIM and MS-SSIM on (8, 3, 256, 256) float32: ``visionloss`` under ``auto`` (the Triton
  separable blur on CUDA), the library's reference (plain convolutions differentiated by
  autograd), pytorch-msssim when installed, ``torch.compile`` of the reference;
* GIoU and CIoU on 1M boxes float32: ``visionloss`` under ``auto`` (one Triton kernel forward,
  one backward), torchvision's formula written out (torchvision is not a dependency), its
  ``torch.compile``.

Correctness first (loss and gradient of ours against the reference), then the median wall time
of interleaved rounds, the GPU time of one step replayed from a CUDA graph and the bytes saved
for backward (inputs excluded). Writes ``$OUT/gpu_structured.md`` (``OUT`` defaults to ./out).

    python benchmarks/gpu_structured.py                          # CUDA
    python benchmarks/gpu_structured.py --device cpu --interpret # smoke run on tiny shapes

A contender that is missing or fails is one row with a note, never fatal.
"""

from __future__ import annotations

import os
import sys

if "--interpret" in sys.argv:  # before anything imports triton
    os.environ["TRITON_INTERPRET"] = "1"

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from _gpu_common import (
    bytes_text,
    first_line,
    fmt,
    graph_time_ms,
    peak_bandwidth,
    run_header,
    sync,
)
from torch import Tensor

import visionloss
import visionloss.functional as VF
from visionloss._core.memory import saved_bytes

Run = Callable[[], Tensor]
OURS = "visionloss (auto)"


def _with_backend(backend: str, fn: Run) -> Run:
    def run() -> Tensor:
        previous = visionloss.kernels.get_kernels()
        visionloss.kernels.set_kernels(backend)
        try:
            return fn()
        finally:
            visionloss.kernels.set_kernels(previous)

    return run


def torchvision_giou(p: Tensor, t: Tensor, eps: float = 1e-7) -> Tensor:
    """torchvision.ops.generalized_box_iou_loss's formula, written out (mean reduction)."""
    x1, y1, x2, y2 = p.unbind(-1)
    a1, b1, a2, b2 = t.unbind(-1)
    inter = (torch.min(x2, a2) - torch.max(x1, a1)).clamp(min=0) * (
        torch.min(y2, b2) - torch.max(y1, b1)
    ).clamp(min=0)
    union = (x2 - x1) * (y2 - y1) + (a2 - a1) * (b2 - b1) - inter
    iou = inter / (union + eps)
    hull = (torch.max(x2, a2) - torch.min(x1, a1)) * (torch.max(y2, b2) - torch.min(y1, b1))
    return (1 - iou + (hull - union) / (hull + eps)).mean()


def torchvision_ciou(p: Tensor, t: Tensor, eps: float = 1e-7) -> Tensor:
    """torchvision.ops.complete_box_iou_loss's formula, written out (alpha detached)."""
    x1, y1, x2, y2 = p.unbind(-1)
    a1, b1, a2, b2 = t.unbind(-1)
    inter = (torch.min(x2, a2) - torch.max(x1, a1)).clamp(min=0) * (
        torch.min(y2, b2) - torch.max(y1, b1)
    ).clamp(min=0)
    union = (x2 - x1) * (y2 - y1) + (a2 - a1) * (b2 - b1) - inter
    iou = inter / (union + eps)
    diag = (torch.max(x2, a2) - torch.min(x1, a1)) ** 2 + (torch.max(y2, b2) - torch.min(y1, b1)) ** 2
    dist = ((x1 + x2 - a1 - a2) / 2) ** 2 + ((y1 + y2 - b1 - b2) / 2) ** 2
    v = (4 / torch.pi**2) * (torch.atan((a2 - a1) / (b2 - b1)) - torch.atan((x2 - x1) / (y2 - y1))) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return (1 - iou + dist / (diag + eps) + alpha * v).mean()


def _msssim_peer(kind: str) -> Callable[[Tensor, Tensor], Tensor]:
    import pytorch_msssim

    if kind == "ssim":
        return lambda x, y: 1 - pytorch_msssim.ssim(x, y, data_range=1.0, size_average=True)
    return lambda x, y: 1 - pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=True)


def contenders(kind: str, x: Tensor, y: Tensor) -> dict[str, Callable[[], Run]]:
    ours = {
        "ssim": VF.ssim_loss,
        "ms_ssim": VF.ms_ssim_loss,
        "giou": VF.giou_loss,
        "ciou": VF.ciou_loss,
    }[kind]
    reference = _with_backend("reference", lambda: ours(x, y))
    found: dict[str, Callable[[], Run]] = {
        OURS: lambda: lambda: ours(x, y),
        "visionloss reference": lambda: reference,
    }
    if kind in ("ssim", "ms_ssim"):

        def peer_run() -> Run:
            peer = _msssim_peer(kind)  # raises ModuleNotFoundError when not installed
            return lambda: peer(x, y)

        found["pytorch-msssim"] = peer_run
        compiled = torch.compile(lambda a, b: _with_backend("reference", lambda: ours(a, b))())
        found["torch.compile(reference)"] = lambda: lambda: compiled(x, y)
    else:
        formula = torchvision_giou if kind == "giou" else torchvision_ciou
        found["torchvision formula"] = lambda: lambda: formula(x, y)
        compiled_formula = torch.compile(formula)
        found["torch.compile(torchvision formula)"] = lambda: lambda: compiled_formula(x, y)
    return found


def make_inputs(kind: str, size: tuple[int, ...], device: torch.device) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(0)
    if kind in ("ssim", "ms_ssim"):
        y = torch.rand(size, generator=gen)
        x = (y + 0.1 * torch.randn(size, generator=gen)).clamp(0, 1)
    else:
        centre = torch.rand(size[0], 2, generator=gen) * 100
        wh = torch.rand(size[0], 2, generator=gen) * 20 + 1
        y = torch.cat([centre - wh / 2, centre + wh / 2], -1)
        x = y + torch.randn(size[0], 4, generator=gen)
        x = torch.cat([torch.min(x[:, :2], x[:, 2:] - 0.5), x[:, 2:]], -1)
    return x.to(device).requires_grad_(True), y.to(device)


def measure(kind: str, size: tuple[int, ...], device: torch.device, rounds: int) -> list[str]:
    from torch.utils.benchmark import Timer

    x, y = make_inputs(kind, size, device)
    lines = [f"\n### {kind} {'x'.join(map(str, size))} float32\n"]
    table: dict[str, dict[str, object]] = {}
    steps: dict[str, Callable[[], None]] = {}
    ours_value = ours_grad = None
    for name, build in contenders(kind, x, y).items():
        row: dict[str, object] = {"note": ""}
        table[name] = row
        try:
            run = build()
            value = run()
            (grad,) = torch.autograd.grad(value, x)
            if name == OURS:
                ours_value, ours_grad = value.detach(), grad
            elif name == "visionloss reference" and ours_value is not None:
                row["note"] = (
                    f"ours vs reference: loss {float((ours_value - value.detach()).abs()):.2e}, "
                    f"grad {float((ours_grad - grad).abs().max()):.2e}"
                )
            row["saved"] = saved_bytes(run, [x, y])

            def step(run: Run = run) -> None:
                torch.autograd.grad(run(), x)

            step()
            sync(device)
            steps[name] = step
        except ModuleNotFoundError as error:
            row["note"] = f"not installed ({error.name}): pip install visionloss[peers]"
        except Exception as error:  # one row, never fatal
            row["note"] = first_line(error)
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            timer = Timer(stmt="step()", globals={"step": step})
            samples[name].extend(timer.blocked_autorange(min_run_time=0.05).times)
    for name, step in steps.items():
        table[name]["ms"] = statistics.median(samples[name]) * 1e3
        if device.type == "cuda":
            try:
                table[name]["graph_ms"] = graph_time_ms(step, device)
            except Exception as error:
                table[name]["note"] = f"{table[name]['note']} graph: {first_line(error)}".strip()
    base = table[OURS].get("graph_ms") or table[OURS].get("ms")
    lines.append("| contender | wall ms | graph ms | time vs ours | saved | note |")
    lines.append("|---|---:|---:|---:|---:|---|")
    for name, row in table.items():
        mine = row.get("graph_ms") or row.get("ms")
        ratio = f"{mine / base:.2f}x" if isinstance(mine, float) and isinstance(base, float) else ""
        lines.append(
            f"| {name} | {fmt(row.get('ms'), '.3f')} | {fmt(row.get('graph_ms'), '.3f')} | "
            f"{ratio} | {bytes_text(row.get('saved'))} | {row['note']} |"  # type: ignore[arg-type]
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--interpret", action="store_true", help="TRITON_INTERPRET=1 (CPU smoke)")
    parser.add_argument("--out", default=os.environ.get("OUT", "./out"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    smoke = device.type != "cuda"
    visionloss.set_checks(False)  # no data checks (host syncs) inside the timed steps
    cases = [
        ("ssim", (1, 1, 24, 24) if smoke else (8, 3, 256, 256)),
        ("ms_ssim", (1, 1, 176, 176) if smoke else (8, 3, 256, 256)),
        ("giou", (64,) if smoke else (1_000_000,)),
        ("ciou", (64,) if smoke else (1_000_000,)),
    ]
    started = time.perf_counter()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (smoke run)"
    rounds = 1 if smoke else args.rounds
    lines = [
        "# SSIM, MS-SSIM and box losses on the GPU",
        "",
        *run_header(name, peak_bandwidth(device)[1], rounds, 0.05),
    ]
    for kind, size in cases:
        print(f"{kind} {size}", flush=True)
        lines += measure(kind, size, device, rounds)
    lines.append(f"\n- total wall time {time.perf_counter() - started:.0f}s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_structured.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
