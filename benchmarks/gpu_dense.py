"""GPU benchmark of the dense and pointwise losses: Triton kernels (called directly) against
torch's own ops, the plain formulas and ``torch.compile`` of them.

Cases (forward+backward of a mean loss; the gradient w.r.t. the logits / prediction):

* cross-entropy with class ids: (8, 19, 512, 512) float32 and bfloat16, (65536, 1000) float32;
  ours (``cross_entropy_triton``), ``F.cross_entropy``, ``torch.compile(F.cross_entropy)``,
  Liger-Kernel's cross-entropy (2D only, when installed);
* sigmoid focal (alpha 0.25, gamma 2, 0/1 targets): (50000, 80) and (8, 1, 512, 512); ours,
  torchvision's formula written out (``torchvision.ops.sigmoid_focal_loss``), its
  ``torch.compile``;
* log-cosh and Huber at 64M elements (float32): ours, the plain formula, its ``torch.compile``;
* BCE with logits (0/1 targets): (50000, 80) and (8, 1, 512, 512); ours (``bce_with_logits``),
  ``F.binary_cross_entropy_with_logits``, its ``torch.compile``;
* cross-entropy with probability targets (``ce_soft``; softmax targets, fp32 math):
  (8, 19, 512, 512) float32 and bfloat16; ours (``cross_entropy_probs_triton``),
  ``F.cross_entropy`` with probability targets, its ``torch.compile``;
* Poly-1 with class ids (epsilon 1): (8, 19, 512, 512) float32 and bfloat16; ours
  (``poly1_ids_triton``), the plain formula ``F.cross_entropy + eps (1 - exp(-ce))``, its
  ``torch.compile``;
* Gaussian NLL (a full-size predicted log-variance, differentiated too) and Barron's robust loss
  (alpha -2, scale 0.5) at 64M elements: ours (``kernels/triton/nll_robust.py``),
  ``F.gaussian_nll_loss`` on ``exp(logvar)`` / the general formula written out, and
  ``torch.compile`` of the library's reference.

For each case: correctness first (max abs difference of the loss and the gradient against the
reference, float32; bfloat16 against the reference on the float32 cast), then the median
forward+backward time (``torch.utils.benchmark``, contenders interleaved round by round), the
GPU time of one step replayed from a CUDA graph (``graph ms``: the meaningful number on a
virtualised host, whose ~1 ms launch overhead dominates eager wall time), the ratio to ours,
the bytes saved for backward (``saved_tensors_hooks``, inputs excluded) and the achieved
bandwidth as a fraction of the device's peak (H100 SXM 3.35e12 B/s, H200 4.8e12 B/s) for the
minimal traffic of a fused forward+backward: every input read twice, one gradient written per
differentiated input.

Writes ``$OUT/gpu_dense.csv`` and ``$OUT/gpu_dense.md`` (``OUT`` defaults to ``./out``).

    python benchmarks/gpu_dense.py                              # CUDA, every case (~3 min)
    python benchmarks/gpu_dense.py --only ce --no-compile       # a subset
    python benchmarks/gpu_dense.py --device cpu --interpret     # smoke run on tiny shapes

A contender that is not installed or fails is one row with a note, never fatal.
"""

from __future__ import annotations

import os
import sys

# The interpreter must be chosen before triton is imported (by anything).
if "--interpret" in sys.argv:
    os.environ["TRITON_INTERPRET"] = "1"

import argparse
import csv
import math
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from _gpu_common import bytes_text, first_line, fmt, graph_time_ms, peak_bandwidth, run_header, sync
from torch import Tensor

import visionloss
from visionloss._core.memory import saved_bytes
from visionloss.kernels.pointwise import gaussian_nll_reference, log_cosh_stable, robust_reference

Run = Callable[[], Tensor]
Inputs = dict[str, Tensor]
OURS = "ours (triton)"


# --- the losses --------------------------------------------------------------------------------


def _tri():  # type: ignore[no-untyped-def]
    from visionloss.kernels.triton import cross_entropy, focal, nll_robust, pointwise

    return cross_entropy, focal, pointwise, nll_robust


def torchvision_sigmoid_focal(x: Tensor, y: Tensor) -> Tensor:
    """``torchvision.ops.sigmoid_focal_loss(alpha=0.25, gamma=2, reduction="mean")`` as written
    there (torchvision is not needed)."""
    p = torch.sigmoid(x)
    ce_loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce_loss * ((1 - p_t) ** 2)
    alpha_t = 0.25 * y + (1 - 0.25) * (1 - y)
    return (alpha_t * loss).mean()


def plain_log_cosh(x: Tensor, y: Tensor) -> Tensor:
    """The stable log-cosh formula of the library's reference, in plain torch ops."""
    return log_cosh_stable(x - y).mean()


def plain_huber(x: Tensor, y: Tensor) -> Tensor:
    """Huber (delta 1) written out: what ``torch.compile`` can fuse."""
    d = x - y
    a = d.abs()
    return torch.where(a <= 1.0, 0.5 * d * d, a - 0.5).mean()


_COMPILED: dict[str, Callable[..., Tensor]] = {}


def _compiled(key: str, fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    # static shapes: one graph per benchmark shape
    return _COMPILED.setdefault(key, torch.compile(fn, dynamic=False))


def _ce_ours(i: Inputs) -> Run:
    ce = _tri()[0]
    return lambda: ce.cross_entropy_triton(i["x"], i["t"]).mean()


def _ce_torch(i: Inputs) -> Run:
    return lambda: F.cross_entropy(i["x"], i["t"])


def _ce_compiled(i: Inputs) -> Run:
    fn = _compiled("ce", lambda x, t: F.cross_entropy(x, t))
    return lambda: fn(i["x"], i["t"])


def _ce_liger(i: Inputs) -> Run:
    from liger_kernel.transformers import LigerCrossEntropyLoss  # type: ignore[import-not-found]

    if i["x"].dim() != 2:
        raise RuntimeError("Liger's cross-entropy takes (N, C) logits only")
    loss = LigerCrossEntropyLoss()
    return lambda: loss(i["x"], i["t"])


def _focal_ours(i: Inputs) -> Run:
    focal = _tri()[1]
    options = dict(alpha=0.25, gamma=2.0, ignore_index=None)
    return lambda: focal.sigmoid_focal(i["x"], i["t"], **options).mean()


def _focal_plain(i: Inputs) -> Run:
    return lambda: torchvision_sigmoid_focal(i["x"], i["t"])


def _focal_compiled(i: Inputs) -> Run:
    fn = _compiled("focal", torchvision_sigmoid_focal)
    return lambda: fn(i["x"], i["t"])


def _log_cosh_ours(i: Inputs) -> Run:
    pw = _tri()[2]
    return lambda: pw.log_cosh(i["x"], i["t"]).mean()


def _log_cosh_plain(i: Inputs) -> Run:
    return lambda: plain_log_cosh(i["x"], i["t"])


def _log_cosh_compiled(i: Inputs) -> Run:
    fn = _compiled("log_cosh", plain_log_cosh)
    return lambda: fn(i["x"], i["t"])


def _tri_bce():  # type: ignore[no-untyped-def]
    from visionloss.kernels.triton import bce

    return bce


def plain_poly1(x: Tensor, t: Tensor) -> Tensor:
    """Poly-1 as written from the paper: CE + eps (1 - p_t), p_t = exp(-CE), eps = 1."""
    ce_loss = F.cross_entropy(x, t, reduction="none")
    return ce_loss + (1 - torch.exp(-ce_loss))


def _bce_ours(i: Inputs) -> Run:
    bce = _tri_bce()
    return lambda: bce.bce_with_logits(i["x"], i["t"], pos_weight=None).mean()


def _bce_torch(i: Inputs) -> Run:
    return lambda: F.binary_cross_entropy_with_logits(i["x"], i["t"])


def _bce_compiled(i: Inputs) -> Run:
    fn = _compiled("bce", lambda x, t: F.binary_cross_entropy_with_logits(x, t))
    return lambda: fn(i["x"], i["t"])


def _tri_soft():  # type: ignore[no-untyped-def]
    from visionloss.kernels.triton import cross_entropy_soft

    return cross_entropy_soft


def _ce_soft_ours(i: Inputs) -> Run:
    soft = _tri_soft()
    return lambda: soft.cross_entropy_probs_triton(i["x"], i["t"], dtype=torch.float32).mean()


def _ce_soft_torch(i: Inputs) -> Run:
    return lambda: F.cross_entropy(i["x"], i["t"])


def _ce_soft_compiled(i: Inputs) -> Run:
    fn = _compiled("ce_soft", lambda x, t: F.cross_entropy(x, t))
    return lambda: fn(i["x"], i["t"])


def _poly1_ours(i: Inputs) -> Run:
    ce = _tri()[0]
    return lambda: ce.poly1_ids_triton(i["x"], i["t"], epsilon=1.0, dtype=torch.float32).mean()


def _poly1_plain(i: Inputs) -> Run:
    return lambda: plain_poly1(i["x"], i["t"]).mean()


def _poly1_compiled(i: Inputs) -> Run:
    fn = _compiled("poly1", lambda x, t: plain_poly1(x, t).mean())
    return lambda: fn(i["x"], i["t"])


def _huber_ours(i: Inputs) -> Run:
    pw = _tri()[2]
    return lambda: pw.huber(i["x"], i["t"], delta=1.0).mean()


def _huber_torch(i: Inputs) -> Run:
    return lambda: F.huber_loss(i["x"], i["t"])


def _huber_compiled(i: Inputs) -> Run:
    fn = _compiled("huber", plain_huber)
    return lambda: fn(i["x"], i["t"])


#: Barron's loss in these rows: Geman-McClure (alpha -2), the general branch (log1p + expm1)
ROBUST_ALPHA, ROBUST_SCALE = -2.0, 0.5


def plain_robust(x: Tensor, y: Tensor) -> Tensor:
    """Barron's general formula for a fixed alpha, as a user writes it."""
    b = abs(ROBUST_ALPHA - 2.0)
    z = ((x - y) / ROBUST_SCALE) ** 2
    return (b / ROBUST_ALPHA * ((z / b + 1) ** (ROBUST_ALPHA / 2) - 1)).mean()


def _nll_ours(i: Inputs) -> Run:
    nr = _tri()[3]
    return lambda: nr.gaussian_nll(i["x"], i["t"], i["v"], full=True).mean()


def _nll_torch(i: Inputs) -> Run:
    # torch takes the variance: exp(logvar) is part of its step
    return lambda: F.gaussian_nll_loss(i["x"], i["t"], i["v"].exp(), full=True)


def _nll_compiled(i: Inputs) -> Run:
    fn = _compiled("gaussian_nll", lambda x, t, v: gaussian_nll_reference(x, t, v, True).mean())
    return lambda: fn(i["x"], i["t"], i["v"])


def _robust_ours(i: Inputs) -> Run:
    nr = _tri()[3]
    return lambda: nr.robust(i["x"], i["t"], alpha=ROBUST_ALPHA, scale=ROBUST_SCALE).mean()


def _robust_plain(i: Inputs) -> Run:
    return lambda: plain_robust(i["x"], i["t"])


def _robust_compiled(i: Inputs) -> Run:
    fn = _compiled("robust", plain_robust)
    return lambda: fn(i["x"], i["t"])


@dataclass
class Case:
    name: str
    kind: str  # "ce", "ce_soft", "focal", "log_cosh", "huber", "bce", "poly1", "gaussian_nll",
    # "robust"
    size: tuple[int, ...]
    dtype: torch.dtype

    @property
    def label(self) -> str:
        return f"{self.kind} {'x'.join(map(str, self.size))}"


CONTENDERS: dict[str, dict[str, Callable[[Inputs], Run]]] = {
    "ce": {
        OURS: _ce_ours,
        "F.cross_entropy": _ce_torch,
        "torch.compile(F.cross_entropy)": _ce_compiled,
        "liger cross_entropy": _ce_liger,
    },
    "ce_soft": {
        OURS: _ce_soft_ours,
        "F.cross_entropy(probs)": _ce_soft_torch,
        "torch.compile(F.cross_entropy(probs))": _ce_soft_compiled,
    },
    "focal": {
        OURS: _focal_ours,
        "torchvision formula": _focal_plain,
        "torch.compile(torchvision formula)": _focal_compiled,
    },
    "log_cosh": {
        OURS: _log_cosh_ours,
        "plain formula": _log_cosh_plain,
        "torch.compile(plain formula)": _log_cosh_compiled,
    },
    "huber": {
        OURS: _huber_ours,
        "F.huber_loss": _huber_torch,
        "torch.compile(plain formula)": _huber_compiled,
    },
    "bce": {
        OURS: _bce_ours,
        "F.binary_cross_entropy_with_logits": _bce_torch,
        "torch.compile(F.binary_cross_entropy_with_logits)": _bce_compiled,
    },
    "poly1": {
        OURS: _poly1_ours,
        "plain formula": _poly1_plain,
        "torch.compile(plain formula)": _poly1_compiled,
    },
    "gaussian_nll": {
        OURS: _nll_ours,
        "F.gaussian_nll_loss(exp(logvar))": _nll_torch,
        "torch.compile(reference)": _nll_compiled,
    },
    "robust": {
        OURS: _robust_ours,
        "plain formula": _robust_plain,
        "torch.compile(plain formula)": _robust_compiled,
    },
}
REFERENCE = {
    "ce": lambda x, t: F.cross_entropy(x, t, reduction="none"),
    "ce_soft": lambda x, t: F.cross_entropy(x, t, reduction="none"),
    "focal": lambda x, t: _focal_elementwise(x, t),
    "log_cosh": lambda x, t: log_cosh_stable(x - t),
    "huber": lambda x, t: F.huber_loss(x, t, reduction="none"),
    "bce": lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"),
    "poly1": plain_poly1,
    "gaussian_nll": lambda x, t, v: gaussian_nll_reference(x, t, v, True),
    "robust": lambda x, t: robust_reference(x, t, ROBUST_ALPHA, ROBUST_SCALE),
}
OURS_ELEMENTWISE = {
    "ce": lambda x, t: _tri()[0].cross_entropy_triton(x, t),
    "ce_soft": lambda x, t: _tri_soft().cross_entropy_probs_triton(x, t, dtype=torch.float32),
    "focal": lambda x, t: _tri()[1].sigmoid_focal(x, t, alpha=0.25, gamma=2.0, ignore_index=None),
    "log_cosh": lambda x, t: _tri()[2].log_cosh(x, t),
    "huber": lambda x, t: _tri()[2].huber(x, t, delta=1.0),
    "bce": lambda x, t: _tri_bce().bce_with_logits(x, t, pos_weight=None),
    "poly1": lambda x, t: _tri()[0].poly1_ids_triton(x, t, epsilon=1.0, dtype=torch.float32),
    "gaussian_nll": lambda x, t, v: _tri()[3].gaussian_nll(x, t, v, full=True),
    "robust": lambda x, t: _tri()[3].robust(x, t, alpha=ROBUST_ALPHA, scale=ROBUST_SCALE),
}


def _focal_elementwise(x: Tensor, y: Tensor) -> Tensor:
    p = torch.sigmoid(x)
    ce_loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    return (0.25 * y + 0.75 * (1 - y)) * ce_loss * (1 - p_t) ** 2


def make_inputs(case: Case, device: torch.device, seed: int = 0) -> Inputs:
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(case.size, generator=gen).mul_(2)
    if case.kind in ("ce", "poly1"):
        n, c, *spatial = case.size
        t = torch.randint(0, c, (n, *spatial), generator=gen)
    elif case.kind == "ce_soft":
        # soft targets: a softmax over the classes (as from a teacher or mixup)
        t = torch.softmax(torch.randn(case.size, generator=gen), dim=1)
    elif case.kind in ("focal", "bce"):
        t = (torch.rand(case.size, generator=gen) < 0.1).float()
    else:
        t = torch.randn(case.size, generator=gen)
    x = x.to(device=device, dtype=case.dtype).requires_grad_(True)
    if t.is_floating_point():
        t = t.to(case.dtype)
    inputs = {"x": x, "t": t.to(device)}
    if case.kind == "gaussian_nll":
        # a predicted log-variance: differentiated, as the mean
        v = torch.randn(case.size, generator=gen).to(device=device, dtype=case.dtype)
        inputs["v"] = v.requires_grad_(True)
    return inputs


# --- measurement -------------------------------------------------------------------------------


@dataclass
class Row:
    case: str
    dtype: str
    contender: str
    time_ms: float | None = None
    ratio: float | None = None
    graph_ms: float | None = None
    graph_ratio: float | None = None
    saved_bytes: int | None = None
    gbps: float | None = None
    frac_peak: float | None = None
    graph_frac_peak: float | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list, repr=False)






def _step(run: Run, x: Tensor | list[Tensor]) -> Callable[[], None]:
    def step() -> None:
        torch.autograd.grad(run(), x)

    return step




def correctness(case: Case, device: torch.device) -> dict[str, object]:
    """Max abs differences of our elementwise loss and gradient against the reference (float32;
    a bfloat16 input against the reference on its float32 cast)."""
    i = make_inputs(case, device, seed=1)
    x, t = i["x"], i["t"]
    extra = [i["v"]] if "v" in i else []  # the Gaussian NLL's log-variance (not compared)
    result: dict[str, object] = {"case": case.label, "dtype": str(case.dtype).split(".")[-1]}
    try:
        ours = OURS_ELEMENTWISE[case.kind](x, t, *extra)
        gen = torch.Generator(device="cpu").manual_seed(2)
        grad_out = torch.randn(ours.shape, generator=gen).to(device)
        (grad_ours,) = torch.autograd.grad(ours, x, grad_out)
        ref_x = x.detach().float().requires_grad_(True)
        ref_t = t.float() if t.is_floating_point() else t
        ref = REFERENCE[case.kind](ref_x, ref_t, *(v.detach().float() for v in extra))
        (grad_ref,) = torch.autograd.grad(ref, ref_x, grad_out)
        result["loss_max_abs_diff"] = (ours.float() - ref).abs().max().item()
        result["loss_max_abs"] = ref.abs().max().item()
        result["grad_max_abs_diff"] = (grad_ours.float() - grad_ref).abs().max().item()
        result["grad_max_abs"] = grad_ref.abs().max().item()
        again = OURS_ELEMENTWISE[case.kind](x, t, *extra)
        result["deterministic"] = bool(torch.equal(ours, again))
    except Exception as error:  # report, keep going
        result["error"] = first_line(error)
        traceback.print_exc()
    return result




def measure(
    case: Case,
    device: torch.device,
    names: list[str],
    *,
    rounds: int,
    min_time: float,
    peak: float | None,
    deadline: float,
    compile_ok: bool,
) -> list[Row]:
    from torch.utils.benchmark import Timer

    i = make_inputs(case, device)
    dtype = str(case.dtype).split(".")[-1]
    # the minimal traffic of a fused forward+backward: every input read twice, one gradient
    # written per differentiated input
    leaves = [v for v in i.values() if v.requires_grad]
    moved = sum((2 + v.requires_grad) * v.numel() * v.element_size() for v in i.values())
    rows: dict[str, Row] = {}
    steps: dict[str, Callable[[], None]] = {}
    for name in names:
        row = rows[name] = Row(case.label, dtype, name)
        started = time.perf_counter()
        if "compile" in name and not compile_ok:
            row.note = "skipped (--no-compile, or a CPU smoke run)"
            continue
        if "compile" in name and started > deadline:
            row.note = "skipped: over the time budget (compiling takes long)"
            continue
        try:
            run = CONTENDERS[case.kind][name](i)
            step = _step(run, leaves)
            step()  # warm-up (compiles the kernels / the graph)
            step()
            sync(device)
            row.saved_bytes = saved_bytes(run, list(i.values()))
            steps[name] = step
        except ModuleNotFoundError as error:
            row.note = f"not installed ({error.name})" + (
                ": pip install liger-kernel" if "liger" in name else ""
            )
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
    for row in rows.values():
        if row.samples:
            row.time_ms = statistics.median(row.samples) * 1e3
            row.gbps = moved / (row.time_ms * 1e-3) / 1e9
            row.frac_peak = None if peak is None else row.gbps * 1e9 / peak
    base = rows[OURS].time_ms if OURS in rows else None
    graph_base = rows[OURS].graph_ms if OURS in rows else None
    for row in rows.values():
        if base and row.time_ms:
            row.ratio = row.time_ms / base
        if graph_base and row.graph_ms:
            row.graph_ratio = row.graph_ms / graph_base
    return list(rows.values())


# --- output ------------------------------------------------------------------------------------






FIELDS = [
    "case", "dtype", "contender", "time_ms", "ratio", "graph_ms", "graph_ratio", "saved_bytes",
    "gbps", "frac_peak", "graph_frac_peak", "note",
]  # fmt: skip


def write(out: Path, rows: list[Row], checks: list[dict[str, object]], header: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "gpu_dense.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for row in rows:
            writer.writerow([fmt(getattr(row, name)) for name in FIELDS])
    lines = ["# Dense and pointwise losses: forward+backward", "", *header, ""]
    lines += ["## Correctness: ours vs reference (float32 reference)", ""]
    lines += [
        "| case | dtype | loss max abs diff | max abs loss | grad max abs diff | max abs grad | "
        "deterministic | error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in checks:
        lines.append(
            f"| {c['case']} | {c['dtype']} | {fmt(c.get('loss_max_abs_diff'), '.3g')} | "
            f"{fmt(c.get('loss_max_abs'), '.3g')} | {fmt(c.get('grad_max_abs_diff'), '.3g')} | "
            f"{fmt(c.get('grad_max_abs'), '.3g')} | {fmt(c.get('deterministic'))} | "
            f"{fmt(c.get('error'))} |"
        )
    lines += ["", "## Time and memory", ""]
    lines += [
        "time: median eager forward+backward (wall); graph: the same step replayed from a CUDA "
        "graph, timed with CUDA events (the GPU's own time, without the host's launch overhead); "
        "x ours: time / our time (> 1: ours faster); saved: bytes kept for backward (inputs "
        "excluded); of peak: (2 x every input + 1 x every gradient, in bytes) / time over the "
        "device's peak "
        "bandwidth.",
        "",
        "| case | dtype | contender | time (ms) | x ours | graph (ms) | graph x ours | saved | "
        "GB/s | of peak | graph of peak | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.case} | {r.dtype} | {r.contender} | {fmt(r.time_ms, '.3f')} | "
            f"{fmt(r.ratio, '.2f')} | {fmt(r.graph_ms, '.3f')} | {fmt(r.graph_ratio, '.2f')} | "
            f"{bytes_text(r.saved_bytes)} | {fmt(r.gbps, '.0f')} | {fmt(r.frac_peak, '.0%')} | "
            f"{fmt(r.graph_frac_peak, '.0%')} | {r.note} |"
        )
    (out / "gpu_dense.md").write_text("\n".join(lines) + "\n")


def cases(smoke: bool) -> list[Case]:
    if smoke:
        return [
            Case("ce", "ce", (2, 3, 8, 8), torch.float32),
            Case("ce", "ce", (2, 3, 8, 8), torch.bfloat16),
            Case("ce", "ce", (64, 10), torch.float32),
            Case("ce_soft", "ce_soft", (2, 3, 8, 8), torch.float32),
            Case("ce_soft", "ce_soft", (2, 3, 8, 8), torch.bfloat16),
            Case("ce_soft", "ce_soft", (64, 10), torch.float32),
            Case("focal", "focal", (100, 8), torch.float32),
            Case("focal", "focal", (2, 1, 8, 8), torch.float32),
            Case("log_cosh", "log_cosh", (4096,), torch.float32),
            Case("huber", "huber", (4096,), torch.float32),
            Case("bce", "bce", (100, 8), torch.float32),
            Case("bce", "bce", (2, 1, 8, 8), torch.float32),
            Case("poly1", "poly1", (2, 3, 8, 8), torch.float32),
            Case("poly1", "poly1", (2, 3, 8, 8), torch.bfloat16),
            Case("gaussian_nll", "gaussian_nll", (4096,), torch.float32),
            Case("robust", "robust", (4096,), torch.float32),
        ]
    return [
        Case("ce", "ce", (8, 19, 512, 512), torch.float32),
        Case("ce", "ce", (8, 19, 512, 512), torch.bfloat16),
        Case("ce", "ce", (65536, 1000), torch.float32),
        Case("ce_soft", "ce_soft", (8, 19, 512, 512), torch.float32),
        Case("ce_soft", "ce_soft", (8, 19, 512, 512), torch.bfloat16),
        Case("focal", "focal", (50000, 80), torch.float32),
        Case("focal", "focal", (8, 1, 512, 512), torch.float32),
        Case("log_cosh", "log_cosh", (64 * 2**20,), torch.float32),
        Case("huber", "huber", (64 * 2**20,), torch.float32),
        Case("bce", "bce", (50000, 80), torch.float32),
        Case("bce", "bce", (8, 1, 512, 512), torch.float32),
        Case("poly1", "poly1", (8, 19, 512, 512), torch.float32),
        Case("poly1", "poly1", (8, 19, 512, 512), torch.bfloat16),
        Case("gaussian_nll", "gaussian_nll", (64 * 2**20,), torch.float32),
        Case("robust", "robust", (64 * 2**20,), torch.float32),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--interpret", action="store_true", help="TRITON_INTERPRET=1 (CPU smoke)")
    parser.add_argument("--out", default=os.environ.get("OUT", "./out"))
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--min-time", type=float, default=None, help="seconds per timing block")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument(
        "--only",
        nargs="*",
        help="case kinds to run (ce, ce_soft, focal, log_cosh, huber, bce, poly1, gaussian_nll, "
        "robust)",
    )
    parser.add_argument(
        "--budget", type=float, default=170.0, help="seconds after which compiling is skipped"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    device = torch.device(args.device)
    smoke = device.type != "cuda"
    selected = [c for c in cases(smoke) if not args.only or c.kind in args.only]
    rounds = args.rounds or (1 if smoke else 3)
    min_time = args.min_time or (0.01 if smoke else 0.05)
    visionloss.set_checks(False)  # no data checks (host syncs) inside the timed steps
    device_name, peak = peak_bandwidth(device)
    header = run_header(device_name, peak, rounds, min_time)
    print("\n".join(header), flush=True)

    checks: list[dict[str, object]] = []
    rows: list[Row] = []
    for case in selected:
        print(f"{case.label} {case.dtype}: correctness", flush=True)
        checks.append(correctness(case, device))
        print(f"  {checks[-1]}", flush=True)
    for case in selected:
        print(f"{case.label} {case.dtype}: timing", flush=True)
        rows += measure(
            case,
            device,
            list(CONTENDERS[case.kind]),
            rounds=rounds,
            min_time=min_time,
            peak=peak,
            deadline=started + 0.6 * args.budget,
            compile_ok=not (args.no_compile or smoke),
        )
        if device.type == "cuda":
            torch.cuda.empty_cache()
        write(Path(args.out), rows, checks, header)  # partial results survive a crash
    elapsed = time.perf_counter() - started
    header.append(f"- total wall time {elapsed:.0f}s")
    write(Path(args.out), rows, checks, header)
    print((Path(args.out) / "gpu_dense.md").read_text())
    bad = [c for c in checks if "error" in c or not c.get("deterministic", False)]
    tol = [c for c in checks if math.isfinite(float(str(c.get("grad_max_abs_diff", "nan"))))]
    return 1 if bad or len(tol) != len(checks) else 0


if __name__ == "__main__":
    sys.exit(main())
