"""GPU benchmark of the overlap statistics (Dice family): Triton kernels against the fused eager
path, the plain torch reference, ``torch.compile`` of the reference, MONAI and kornia.

For each shape (multiclass softmax, integer class ids, a Dice loss on top):

1. correctness: the Triton statistics and input gradients against the reference (max abs diff;
   half / bfloat16 inputs against the reference on their float32 cast);
2. forward+backward time of every contender, median over many calls
   (``torch.utils.benchmark``; contenders interleaved round by round in one process);
3. bytes saved for backward (``saved_tensors_hooks``, unique storages, inputs excluded) and the
   peak memory of one step above the inputs;
4. achieved bandwidth: (logits read twice + target read twice + gradient written) / time, as a
   fraction of the device's peak where it is known (H100 SXM 3.35e12 B/s, H200 4.8e12 B/s).

Writes ``$OUT/gpu_overlap.csv`` and ``$OUT/gpu_overlap.md`` (``OUT`` defaults to ``./out``).

    python benchmarks/gpu_overlap.py                       # CUDA, the full set of shapes
    python benchmarks/gpu_overlap.py --tune                # also sweep the Triton tile config
    python benchmarks/gpu_overlap.py --device cpu --interpret   # smoke run on a tiny shape

Contenders that are not installed or refuse a shape are reported with a note, never fatal.
"""

from __future__ import annotations

import os
import sys

# The interpreter must be chosen before triton is imported (by anything).
if "--interpret" in sys.argv:
    os.environ["TRITON_INTERPRET"] = "1"

import argparse
import csv
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from _gpu_common import bytes_text, first_line, fmt, graph_time_ms, peak_bandwidth, run_header, sync
from torch import Tensor

import visionloss
import visionloss.functional as VF
from visionloss._core.memory import saved_bytes
from visionloss.kernels import set_kernels
from visionloss.kernels.overlap import (
    overlap_statistics,
    overlap_statistics_reference,
)

SMOOTH = 1e-5
IGNORE = -100
Run = Callable[[], Tensor]


@dataclass
class Shape:
    name: str
    size: tuple[int, ...]  # (N, C, *spatial)
    dtype: torch.dtype


@dataclass
class Row:
    shape: str
    dtype: str
    contender: str
    time_ms: float | None = None
    ratio_to_triton: float | None = None
    saved_bytes: int | None = None
    peak_bytes: int | None = None
    gbps: float | None = None
    frac_peak: float | None = None
    graph_ms: float | None = None
    graph_ratio: float | None = None
    graph_frac_peak: float | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list, repr=False)


# --- the dice loss every contender computes ---------------------------------------------------


def _flat(x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    n, c = x.shape[:2]
    return x.reshape(n, c, -1), t.reshape(n, -1)


def _dice_from_stats(stats: Tensor) -> Tensor:
    """``visionloss.functional.dice_loss``'s formula (mode="multiclass", defaults): per sample and
    class ``1 - (2 I + s) / (P + G + s)``, mean over the entries with a valid position."""
    inter, pred, tgt, count = stats
    loss = 1 - (2 * inter + SMOOTH) / (pred + tgt + SMOOTH)
    valid = (count > 0).to(loss.dtype)
    return (loss * valid).sum() / valid.sum().clamp_min(1)


def _stats_dice(stats_fn: Callable[..., Tensor]) -> Callable[[Tensor, Tensor], Tensor]:
    def loss(x: Tensor, t: Tensor) -> Tensor:
        xf, tf = _flat(x, t)
        stats = stats_fn(xf, tf, activation="softmax", ignore_index=IGNORE, squared=False)
        return _dice_from_stats(stats)

    return loss


def _reference_dice(x: Tensor, t: Tensor) -> Tensor:
    return _stats_dice(overlap_statistics_reference)(x, t)


# --- contenders: build(x, t) -> run() returning the loss ---------------------------------------


def _triton_module():  # type: ignore[no-untyped-def]
    from visionloss.kernels.triton import overlap as tri

    return tri


def build_triton(x: Tensor, t: Tensor) -> Run:
    fn = _stats_dice(_triton_module().overlap_statistics_triton)
    return lambda: fn(x, t)


def build_triton_dispatch(x: Tensor, t: Tensor) -> Run:
    """``dice_loss`` with ``set_kernels("triton")``: only meaningful once the dispatcher routes
    the overlap statistics to the Triton kernels; checked by counting kernel launches."""
    tri = _triton_module()
    calls = []
    original = tri._forward

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(*args, **kwargs)

    def run() -> Tensor:
        set_kernels("triton")
        try:
            return VF.dice_loss(x, t, mode="multiclass")
        finally:
            set_kernels("fused")

    tri._forward = counting
    try:
        run()
    finally:
        tri._forward = original
    if not calls:
        raise RuntimeError("dice_loss does not dispatch to the Triton kernels yet")
    return run


def build_fused_dice_loss(x: Tensor, t: Tensor) -> Run:
    def run() -> Tensor:
        set_kernels("fused")
        return VF.dice_loss(x, t, mode="multiclass")

    return run


def build_fused_stats(x: Tensor, t: Tensor) -> Run:
    fn = _stats_dice(overlap_statistics)

    def run() -> Tensor:
        set_kernels("fused")
        return fn(x, t)

    return run


def build_reference(x: Tensor, t: Tensor) -> Run:
    return lambda: _reference_dice(x, t)


_COMPILED: dict[str, Callable[[Tensor, Tensor], Tensor]] = {}


def build_compiled(x: Tensor, t: Tensor) -> Run:
    # static shapes: one graph per benchmark shape (no automatic switch to dynamic shapes)
    fn = _COMPILED.setdefault("reference", torch.compile(_reference_dice, dynamic=False))
    return lambda: fn(x, t)


def build_monai(x: Tensor, t: Tensor) -> Run:
    from monai.losses import DiceLoss

    loss = DiceLoss(softmax=True, to_onehot_y=True)
    target = t.unsqueeze(1)
    return lambda: loss(x, target)


def build_kornia(x: Tensor, t: Tensor) -> Run:
    import kornia

    return lambda: kornia.losses.dice_loss(x, t)


CONTENDERS: dict[str, Callable[[Tensor, Tensor], Run]] = {
    "triton (stats + dice)": build_triton,
    "triton (dice_loss dispatch)": build_triton_dispatch,
    "fused (dice_loss)": build_fused_dice_loss,
    "fused (stats + dice)": build_fused_stats,
    "reference (plain torch)": build_reference,
    "reference (torch.compile)": build_compiled,
    "monai DiceLoss": build_monai,
    "kornia dice_loss": build_kornia,
}
TRITON = "triton (stats + dice)"


# --- measurement -------------------------------------------------------------------------------




def _make_inputs(shape: Shape, device: torch.device, seed: int = 0) -> tuple[Tensor, Tensor]:
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n, c, *spatial = shape.size
    x = torch.randn(shape.size, generator=gen).mul_(2).to(device=device, dtype=shape.dtype)
    t = torch.randint(0, c, (n, *spatial), generator=gen).to(device)
    return x.requires_grad_(True), t


def _step(run: Run, x: Tensor) -> Callable[[], None]:
    def step() -> None:
        loss = run()
        torch.autograd.grad(loss, x)

    return step




def _peak_bytes(step: Callable[[], None], device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    sync(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    step()
    sync(device)
    return torch.cuda.max_memory_allocated(device) - base




def correctness(shape: Shape, device: torch.device) -> dict[str, object]:
    """Max abs differences of the Triton statistics and gradients against the reference."""
    tri = _triton_module()
    x, t = _make_inputs(shape, device, seed=1)
    xf, tf = _flat(x, t)
    gen = torch.Generator(device="cpu").manual_seed(2)
    grad_out = torch.randn(4, *xf.shape[:2], generator=gen).to(device)
    result: dict[str, object] = {"shape": shape.name, "dtype": str(shape.dtype).split(".")[-1]}
    try:
        ours = tri.overlap_statistics_triton(
            xf, tf, activation="softmax", ignore_index=IGNORE, squared=False
        )
        (grad_ours,) = torch.autograd.grad(ours, x, grad_out)
        ref_x = x.detach().float().requires_grad_(True)
        rf, rt = _flat(ref_x, t)
        ref = overlap_statistics_reference(
            rf, rt, activation="softmax", ignore_index=IGNORE, squared=False
        )
        (grad_ref,) = torch.autograd.grad(ref, ref_x, grad_out)
        result["stats_max_abs_diff"] = (ours - ref).abs().max().item()
        result["stats_max_rel_diff"] = ((ours - ref).abs() / ref.abs().clamp_min(1)).max().item()
        result["grad_max_abs_diff"] = (grad_ours.float() - grad_ref).abs().max().item()
        result["grad_max_abs"] = grad_ref.abs().max().item()
        again = tri.overlap_statistics_triton(
            xf, tf, activation="softmax", ignore_index=IGNORE, squared=False
        )
        result["deterministic"] = bool(torch.equal(ours, again))
    except Exception as error:  # report, keep going
        result["error"] = first_line(error)
        traceback.print_exc()
    return result




def measure(
    shape: Shape,
    device: torch.device,
    names: list[str],
    *,
    rounds: int,
    min_time: float,
    peak: float | None,
    deadline: float,
) -> list[Row]:
    from torch.utils.benchmark import Timer

    x, t = _make_inputs(shape, device)
    dtype = str(shape.dtype).split(".")[-1]
    moved = 3 * x.numel() * x.element_size() + 2 * t.numel() * t.element_size()
    rows: dict[str, Row] = {}
    steps: dict[str, Callable[[], None]] = {}
    for name in names:
        row = rows[name] = Row(shape.name, dtype, name)
        started = time.perf_counter()
        if name == "reference (torch.compile)" and started > deadline:
            row.note = "skipped: over the time budget (compiling takes long)"
            continue
        try:
            run = CONTENDERS[name](x, t)
            step = _step(run, x)
            step()  # warm-up (compiles the kernels / the graph); a failure is reported
            step()
            sync(device)
            row.saved_bytes = saved_bytes(run, [x, t])
            row.peak_bytes = _peak_bytes(step, device)
            steps[name] = step
        except Exception as error:
            row.note = first_line(error)
        print(f"  {name}: ready in {time.perf_counter() - started:.1f}s {row.note}", flush=True)
    for _ in range(rounds):
        for name, step in steps.items():
            timer = Timer(stmt="step()", globals={"step": step})
            rows[name].samples.extend(timer.blocked_autorange(min_run_time=min_time).times)
    if device.type == "cuda":
        for name, step in steps.items():
            try:
                rows[name].graph_ms = graph_time_ms(step, device)
            except Exception as error:  # e.g. a contender that synchronises the host
                rows[name].note = (rows[name].note + " graph: " + first_line(error)).strip()
            if rows[name].graph_ms and peak:
                rows[name].graph_frac_peak = moved / (rows[name].graph_ms * 1e-3) / peak
    base = None
    for name, row in rows.items():
        if row.samples:
            row.time_ms = statistics.median(row.samples) * 1e3
            row.gbps = moved / (row.time_ms * 1e-3) / 1e9
            row.frac_peak = None if peak is None else row.gbps * 1e9 / peak
        if name == TRITON:
            base = row.time_ms
    graph_base = rows[TRITON].graph_ms if TRITON in rows else None
    for row in rows.values():
        if base and row.time_ms:
            row.ratio_to_triton = row.time_ms / base
        if graph_base and row.graph_ms:
            row.graph_ratio = row.graph_ms / graph_base
    return list(rows.values())


def tune(shape: Shape, device: torch.device, *, min_time: float) -> list[dict[str, object]]:
    """Forward+backward time of the Triton path over a few tile configurations."""
    from torch.utils.benchmark import Timer

    tri = _triton_module()
    saved = (tri.TILE_ELEMENTS, tri.NUM_WARPS, tri.PROGRAMS_PER_SM)
    x, t = _make_inputs(shape, device)
    out = []
    try:
        for tile in (1024, 2048, 4096):
            for warps in (4, 8):
                for per_sm in (8, 32):
                    tri.TILE_ELEMENTS, tri.NUM_WARPS, tri.PROGRAMS_PER_SM = tile, warps, per_sm
                    entry: dict[str, object] = {
                        "shape": shape.name,
                        "tile": tile,
                        "warps": warps,
                        "programs_per_sm": per_sm,
                    }
                    try:
                        step = _step(build_triton(x, t), x)
                        step()
                        measured = Timer(stmt="step()", globals={"step": step})
                        entry["time_ms"] = (
                            measured.blocked_autorange(min_run_time=min_time).median * 1e3
                        )
                    except Exception as error:
                        entry["note"] = first_line(error)
                    out.append(entry)
    finally:
        tri.TILE_ELEMENTS, tri.NUM_WARPS, tri.PROGRAMS_PER_SM = saved
    return out


# --- output ------------------------------------------------------------------------------------






def write(
    out: Path,
    rows: list[Row],
    checks: list[dict[str, object]],
    tuned: list[dict[str, object]],
    header: list[str],
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    fields = [
        "shape",
        "dtype",
        "contender",
        "time_ms",
        "ratio_to_triton",
        "saved_bytes",
        "peak_bytes",
        "gbps",
        "frac_peak",
        "graph_ms",
        "graph_ratio",
        "graph_frac_peak",
        "note",
    ]
    with open(out / "gpu_overlap.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        for row in rows:
            writer.writerow([fmt(getattr(row, name)) for name in fields])
    lines = ["# Overlap statistics (Dice): forward+backward", "", *header, ""]
    lines += ["## Correctness: Triton vs reference (float32 reference)", ""]
    lines += [
        "| shape | dtype | stats max abs | stats max rel | grad max abs | max abs grad | "
        "deterministic | error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in checks:
        lines.append(
            f"| {c['shape']} | {c['dtype']} | {fmt(c.get('stats_max_abs_diff'), '.3g')} | "
            f"{fmt(c.get('stats_max_rel_diff'), '.3g')} | "
            f"{fmt(c.get('grad_max_abs_diff'), '.3g')} | {fmt(c.get('grad_max_abs'), '.3g')} | "
            f"{fmt(c.get('deterministic'))} | {fmt(c.get('error'))} |"
        )
    lines += ["", "## Time and memory", ""]
    lines += [
        "time: median forward+backward; ratio: time / Triton's time (> 1: Triton faster); "
        "saved: bytes kept for backward (inputs excluded); peak: peak memory of one step "
        "above the inputs (the gradient included); bandwidth: (3 x logits + 2 x target bytes) / time. "
        "graph: the same step replayed from a CUDA graph, timed with CUDA events (the GPU's "
        "own time, without the host's launch overhead).",
        "",
    ]
    lines += [
        "| shape | dtype | contender | time (ms) | x Triton | saved | peak | "
        "GB/s | of peak | graph (ms) | graph x Triton | graph of peak | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.shape} | {r.dtype} | {r.contender} | {fmt(r.time_ms, '.3f')} | "
            f"{fmt(r.ratio_to_triton, '.2f')} | {bytes_text(r.saved_bytes)} | {bytes_text(r.peak_bytes)} | "
            f"{fmt(r.gbps, '.0f')} | {fmt(r.frac_peak, '.0%')} | {fmt(r.graph_ms, '.3f')} | "
            f"{fmt(r.graph_ratio, '.2f')} | {fmt(r.graph_frac_peak, '.0%')} | {r.note} |"
        )
    if tuned:
        lines += ["", "## Triton tile configurations (forward+backward ms)", ""]
        lines += [
            "| shape | tile | warps | programs/SM | time (ms) | note |",
            "|---|---|---|---|---|---|",
        ]
        for e in tuned:
            lines.append(
                f"| {e['shape']} | {e['tile']} | {e['warps']} | {e['programs_per_sm']} | "
                f"{fmt(e.get('time_ms'), '.3f')} | {fmt(e.get('note'))} |"
            )
    (out / "gpu_overlap.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--interpret", action="store_true", help="TRITON_INTERPRET=1 (CPU smoke)")
    parser.add_argument("--out", default=os.environ.get("OUT", "./out"))
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--min-time", type=float, default=None, help="seconds per timing block")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--only", nargs="*", help="contender names (substrings) to run")
    parser.add_argument("--tune", action="store_true", help="sweep the Triton tile config")
    parser.add_argument(
        "--budget", type=float, default=200.0, help="seconds after which compiling is skipped"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    device = torch.device(args.device)
    smoke = device.type != "cuda"
    if smoke:
        shapes = [
            Shape("2x3x8x8", (2, 3, 8, 8), torch.float32),
            Shape("1x2x3x4x5", (1, 2, 3, 4, 5), torch.bfloat16),
        ]
    else:
        shapes = [
            Shape("8x6x128x128", (8, 6, 128, 128), torch.float32),
            Shape("8x19x512x512", (8, 19, 512, 512), torch.float32),
            Shape("8x19x512x512", (8, 19, 512, 512), torch.bfloat16),
            Shape("2x4x128x128x128", (2, 4, 128, 128, 128), torch.float32),
        ]
    rounds = args.rounds or (1 if smoke else 5)
    min_time = args.min_time or (0.01 if smoke else 0.1)
    names = list(CONTENDERS)
    if args.no_compile:
        names.remove("reference (torch.compile)")
    if args.only:
        names = [n for n in names if any(s in n for s in args.only)]
        if TRITON not in names:
            names.insert(0, TRITON)
    visionloss.set_checks(False)  # no data checks (host syncs) inside the timed steps
    device_name, peak = peak_bandwidth(device)
    header = run_header(device_name, peak, rounds, min_time)
    print("\n".join(header), flush=True)

    checks, rows, tuned = [], [], []
    for shape in shapes:
        print(f"{shape.name} {shape.dtype}: correctness", flush=True)
        checks.append(correctness(shape, device))
        print(f"  {checks[-1]}", flush=True)
    for shape in shapes:
        print(f"{shape.name} {shape.dtype}: timing", flush=True)
        rows += measure(
            shape,
            device,
            names,
            rounds=rounds,
            min_time=min_time,
            peak=peak,
            deadline=started + 0.6 * args.budget,
        )
        if device.type == "cuda":
            torch.cuda.empty_cache()
        write(Path(args.out), rows, checks, tuned, header)  # partial results survive a crash
    if args.tune:
        for shape in shapes:
            print(f"{shape.name} {shape.dtype}: tuning", flush=True)
            tuned += tune(shape, device, min_time=min_time)
    elapsed = time.perf_counter() - started
    header.append(f"- total wall time {elapsed:.0f}s")
    write(Path(args.out), rows, checks, tuned, header)
    print((Path(args.out) / "gpu_overlap.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
