"""Side-by-side benchmark of visionloss against its peers: time and memory kept for backward.

For each case every contender (visionloss, the peers that are installed, torch itself and the
plain composition of torch ops a user would write) gets the same inputs, and two figures:

* forward+backward time, measured for a shared, noisy machine: the contenders are interleaved
  round by round in one process (their order rotating), each timed for about ``min_time``
  seconds per round; a round in which other processes took the CPU is dropped (the machine's
  busy time from ``/proc/stat`` over the round, minus this process's own CPU time, above
  ``threshold`` of the round's wall time); the figures are medians over the quiet rounds, and the
  ratio to visionloss is the median of the per-round paired ratios;
* bytes kept for backward: every tensor the autograd graph saves, seen through
  ``torch.autograd.graph.saved_tensors_hooks``, counted once per storage, inputs excluded.

Every row names the sizes it ran: ``--quick`` runs fewer and shorter rounds of the same sizes.
``--threads 1 2`` measures at each thread count in turn; ``--paths`` adds visionloss with its
dispatch pinned to the fused Function and to the plain reference (the CPU rule of
``visionloss.kernels.backend_for``); ``--compiled`` adds visionloss under ``torch.compile``
(its saved bytes beside the eager figure: the custom ops of ``visionloss.kernels._library``
keep them equal). The report starts with the CPU model read from
``/proc/cpuinfo``.

Usable without the CLI extra: ``python -m visionloss.cli.bench [--quick] [--device cuda] [--csv F]``;
``visionloss bench`` calls the same :func:`main`.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.memory import saved_bytes, saved_storages

__all__ = [
    "BenchCase",
    "Contender",
    "Result",
    "RoundClock",
    "cpu_model",
    "main",
    "measure",
    "run_cases",
    "saved_bytes",
    "saved_storages",
    "standard_cases",
]

Run = Callable[[], Tensor]
Inputs = dict[str, Tensor]

PEERS_EXTRA = "pip install 'visionloss[peers]'"
OURS = "visionloss"


@dataclass
class Contender:
    """One implementation of a case: ``build(inputs) -> run`` where ``run()`` returns the loss."""

    name: str
    build: Callable[[Inputs], Run]


@dataclass
class BenchCase:
    """A loss on inputs of one size and the contenders computing it.

    ``label`` (the row's name) is ``name`` followed by ``size``: the size the inputs are made with,
    so a row always says what it ran. ``dispatched``: visionloss's op chooses between a fused
    Function and its reference (``--paths`` then times both).
    """

    name: str
    size: tuple[int, ...]
    make_inputs: Callable[[torch.device, tuple[int, ...]], Inputs]
    contenders: list[Contender] = field(default_factory=list)
    unit: str = ""
    dispatched: bool = False

    @property
    def label(self) -> str:
        text = f"{self.name} {'x'.join(map(str, self.size))}"
        return f"{text} {self.unit}" if self.unit else text


@dataclass
class Result:
    case: str
    contender: str
    time_ms: float | None
    saved_bytes: int | None
    note: str = ""
    threads: int = 0
    ratio: float | None = None  # median over quiet rounds of time / visionloss's time
    rounds: str = ""  # "quiet/total"


# --- noisy-round filter ---------------------------------------------------------------------

_TICK = 1.0 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)


def read_proc_stat() -> str | None:
    """The first line of ``/proc/stat`` (the machine's CPU times), or ``None`` off Linux."""
    try:
        with open("/proc/stat") as handle:
            return handle.readline()
    except OSError:
        return None


def machine_busy_seconds(line: str) -> float:
    """Busy CPU seconds, all CPUs together, from the ``cpu`` line of ``/proc/stat``: user, nice,
    system, irq, softirq and steal (idle and iowait left out; guest time is inside user)."""
    fields = [int(v) for v in line.split()[1:9]]
    fields += [0] * (8 - len(fields))
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) * _TICK


class RoundClock:
    """Tells whether a round was quiet: other processes used at most ``threshold`` of one CPU
    over the round's wall time (plus two clock ticks of rounding), from ``/proc/stat`` read
    before and after it against this process's own CPU time. Without ``/proc/stat`` every round
    counts as quiet (``available`` is then False)."""

    def __init__(
        self,
        threshold: float = 0.1,
        reader: Callable[[], str | None] = read_proc_stat,
        process_time: Callable[[], float] = time.process_time,
    ) -> None:
        self.threshold = threshold
        self.reader = reader
        self.process_time = process_time
        self.available = reader() is not None
        self._start: tuple[float, float, float] | None = None

    def _sample(self) -> tuple[float, float, float]:
        line = self.reader()
        busy = machine_busy_seconds(line) if line else 0.0
        return busy, self.process_time(), time.perf_counter()

    def wait_quiet(self, patience: float, window: float = 0.1) -> bool:
        """Sleep until other processes leave the CPU (a ``window`` in which the machine is busy
        at most ``threshold`` of one CPU), for at most ``patience`` seconds; True if it did."""
        if not self.available or patience <= 0:
            return True
        deadline = time.perf_counter() + patience
        while True:
            self.start()
            time.sleep(window)
            if self.stop():
                return True
            if time.perf_counter() >= deadline:
                return False

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> bool:
        """True when the round since :meth:`start` was quiet."""
        assert self._start is not None, "RoundClock.stop() before start()"
        busy0, own0, wall0 = self._start
        busy1, own1, wall1 = self._sample()
        if not self.available:
            return True
        others = (busy1 - busy0) - (own1 - own0)
        return others <= self.threshold * (wall1 - wall0) + 2 * _TICK


# --- measurement ----------------------------------------------------------------------------


def _step(run: Run, inputs: Inputs) -> Callable[[], None]:
    grads = [t for t in inputs.values() if t.requires_grad]

    def step() -> None:
        loss = run()
        torch.autograd.grad(loss, grads)

    return step


def _timed(step: Callable[[], None], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        step()
    return (time.perf_counter() - start) / calls


def _missing_module(error: BaseException) -> str | None:
    if isinstance(error, ModuleNotFoundError):
        return (error.name or str(error)).split(".")[0]
    return None


def measure(
    case: BenchCase,
    device: torch.device,
    *,
    rounds: int,
    min_time: float,
    clock: RoundClock | None = None,
    max_rounds: int | None = None,
    missing: set[str] | None = None,
    patience: float = 0.0,
) -> list[Result]:
    """Time and memory of every contender of ``case`` at the current thread count.

    Rounds run every contender (order rotating) for about ``min_time`` seconds each; noisy
    rounds (``clock``) are dropped and more are run, up to ``max_rounds`` (default
    ``3 * rounds``), until ``rounds`` quiet ones are in. If fewer than half are quiet the figures
    use every round and the note says so. Before each round it waits up to ``patience``
    seconds for the other processes to leave the CPU. A contender whose module is not installed gets no row:
    its module joins ``missing``. One that fails otherwise gets a row with the error.
    """
    clock = clock or RoundClock()
    max_rounds = max_rounds or 3 * rounds
    inputs = case.make_inputs(device, case.size)
    threads = torch.get_num_threads()
    steps: dict[str, Callable[[], None]] = {}
    calls: dict[str, int] = {}
    results: dict[str, Result] = {}
    for contender in case.contenders:
        try:
            run = contender.build(inputs)
            step = _step(run, inputs)
            step()  # warm-up, and a failure here is reported instead of timed
            memory = saved_bytes(run, inputs.values())
            once = _timed(step, 1)
        except Exception as error:  # a peer missing or refusing the input
            module = _missing_module(error)
            if module is not None and contender.name != OURS:
                if missing is not None:
                    missing.add(module)
                continue
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            results[contender.name] = Result(
                case.label, contender.name, None, None, message[:80], threads
            )
            continue
        results[contender.name] = Result(case.label, contender.name, None, memory, "", threads)
        steps[contender.name] = step
        calls[contender.name] = max(1, round(min_time / max(once, 1e-6)))
    names = list(steps)
    samples: list[tuple[bool, dict[str, float]]] = []
    quiet = 0
    while names and quiet < rounds and len(samples) < max_rounds:
        shift = len(samples) % len(names)
        order = names[shift:] + names[:shift]
        clock.wait_quiet(patience)
        clock.start()
        times = {name: _timed(steps[name], calls[name]) for name in order}
        ok = clock.stop()
        samples.append((ok, times))
        quiet += ok
    kept = [times for ok, times in samples if ok]
    note = ""
    if samples and len(kept) < max(1, (rounds + 1) // 2):
        note = f"noisy: {len(kept)} of {len(samples)} rounds quiet, figures over all rounds"
        kept = [times for _, times in samples]
    for name in names:
        result = results[name]
        result.time_ms = statistics.median(t[name] for t in kept) * 1e3
        result.rounds = f"{sum(ok for ok, _ in samples)}/{len(samples)}"
        result.note = note
        if OURS in steps:
            result.ratio = statistics.median(t[name] / t[OURS] for t in kept)
    return list(results.values())


# --- cases ------------------------------------------------------------------------------------


def _logits(shape: tuple[int, ...], device: torch.device, seed: int = 0) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen).to(device).requires_grad_(True)


def _labels(shape: tuple[int, ...], classes: int, device: torch.device, seed: int = 1) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, classes, shape, generator=gen).to(device)


def _dense_inputs(device: torch.device, size: tuple[int, ...]) -> dict[str, Tensor]:
    n, c, *spatial = size
    return {"logits": _logits(size, device), "target": _labels((n, *spatial), c, device)}


def _plain_overlap(logits: Tensor, target: Tensor, alpha: float, beta: float) -> Tensor:
    # what a user writes: softmax, a float one-hot, three sums
    probs = logits.softmax(1)
    one_hot = F.one_hot(target, logits.shape[1]).movedim(-1, 1).to(probs.dtype)
    dims = tuple(range(2, logits.dim()))
    tp = (probs * one_hot).sum(dims)
    fp = (probs * (1 - one_hot)).sum(dims)
    fn = ((1 - probs) * one_hot).sum(dims)
    return (1 - (tp + 1e-5) / (tp + alpha * fp + beta * fn + 1e-5)).mean()


def _overlap_contenders(kind: str) -> list[Contender]:
    alpha, beta = (0.5, 0.5) if kind == "dice" else (0.3, 0.7)

    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        if kind == "dice":
            return lambda: VF.dice_loss(x["logits"], x["target"], mode="multiclass")
        return lambda: VF.tversky_loss(
            x["logits"], x["target"], mode="multiclass", alpha=alpha, beta=beta
        )

    def monai(x: dict[str, Tensor]) -> Run:
        from monai.losses import DiceLoss, TverskyLoss  # type: ignore[attr-defined]

        loss: Callable[[Tensor, Tensor], Tensor]
        if kind == "dice":
            loss = DiceLoss(softmax=True, to_onehot_y=True)
        else:
            loss = TverskyLoss(softmax=True, to_onehot_y=True, alpha=alpha, beta=beta)
        return lambda: loss(x["logits"], x["target"].unsqueeze(1))

    def kornia(x: dict[str, Tensor]) -> Run:
        import kornia.losses as KL

        if x["logits"].dim() != 4:
            raise ValueError("kornia's overlap losses take 2D images only")
        if kind == "dice":
            return lambda: KL.dice_loss(x["logits"], x["target"])
        return lambda: KL.tversky_loss(x["logits"], x["target"], alpha=alpha, beta=beta)

    def plain(x: dict[str, Tensor]) -> Run:
        return lambda: _plain_overlap(x["logits"], x["target"], alpha, beta)

    return [
        Contender("visionloss", ours),
        Contender("monai", monai),
        Contender("kornia", kornia),
        Contender("plain torch", plain),
    ]


def _sigmoid_focal_inputs(device: torch.device, size: tuple[int, ...]) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(2)
    target = (torch.rand(size, generator=gen) < 0.01).float().to(device)
    return {"logits": _logits(size, device), "target": target}


def _torchvision_sigmoid_focal(logits: Tensor, target: Tensor) -> Tensor:
    # torchvision.ops.sigmoid_focal_loss, as written there (torchvision is not a dependency)
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    loss = ce * ((1 - p_t) ** 2)
    alpha_t = 0.25 * target + 0.75 * (1 - target)
    return (alpha_t * loss).mean()


def _sigmoid_focal_contenders() -> list[Contender]:
    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        return lambda: VF.focal_loss(x["logits"], x["target"], mode="binary", alpha=0.25)

    def monai(x: dict[str, Tensor]) -> Run:
        from monai.losses import FocalLoss  # type: ignore[attr-defined]

        loss = FocalLoss(alpha=0.25, gamma=2.0, use_softmax=False)
        return lambda: loss(x["logits"], x["target"])

    def kornia(x: dict[str, Tensor]) -> Run:
        import kornia.losses as KL

        return lambda: KL.binary_focal_loss_with_logits(
            x["logits"], x["target"], alpha=0.25, gamma=2.0, reduction="mean"
        )

    def plain(x: dict[str, Tensor]) -> Run:
        return lambda: _torchvision_sigmoid_focal(x["logits"], x["target"])

    return [
        Contender("visionloss", ours),
        Contender("monai", monai),
        Contender("kornia", kornia),
        Contender("plain torch (torchvision formula)", plain),
    ]


def _softmax_focal_contenders() -> list[Contender]:
    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        return lambda: VF.focal_loss(x["logits"], x["target"], mode="multiclass", gamma=2.0)

    def kornia(x: dict[str, Tensor]) -> Run:
        import kornia.losses as KL

        return lambda: KL.focal_loss(
            x["logits"], x["target"], alpha=None, gamma=2.0, reduction="mean"
        )

    def plain(x: dict[str, Tensor]) -> Run:
        def run() -> Tensor:
            log_p = x["logits"].log_softmax(1).gather(1, x["target"].unsqueeze(1))
            return (-((1 - log_p.exp()) ** 2) * log_p).mean()

        return run

    return [
        Contender("visionloss", ours),
        Contender("kornia", kornia),
        Contender("plain torch", plain),
    ]


def _ce_contenders(smoothed_weighted: bool = False) -> list[Contender]:
    def options(x: dict[str, Tensor]) -> dict[str, Any]:
        if not smoothed_weighted:
            return {}
        classes = x["logits"].shape[1]
        weight = torch.linspace(0.5, 2.0, classes, device=x["logits"].device)
        return {"weight": weight, "label_smoothing": 0.1}

    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        opts = options(x)
        kwargs = {"class_weight": opts["weight"], "label_smoothing": 0.1} if opts else {}
        return lambda: VF.cross_entropy(x["logits"], x["target"], **kwargs)

    def torch_ce(x: dict[str, Tensor]) -> Run:
        opts = options(x)
        return lambda: F.cross_entropy(x["logits"], x["target"], **opts)

    return [Contender("visionloss", ours), Contender("torch F.cross_entropy", torch_ce)]


def _pair_inputs(device: torch.device, size: tuple[int, ...]) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(7)
    target = (torch.randn(size, generator=gen) * 2).to(device)
    return {"input": _logits(size, device, seed=8), "target": target}


def _log_cosh_contenders() -> list[Contender]:
    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        return lambda: VF.log_cosh_loss(x["input"], x["target"])

    def plain(x: dict[str, Tensor]) -> Run:
        # what a user writes (it overflows for |d| > 89 in float32; not on these inputs)
        return lambda: torch.log(torch.cosh(x["input"] - x["target"])).mean()

    return [Contender("visionloss", ours), Contender("plain torch (log of cosh)", plain)]


def _huber_contenders() -> list[Contender]:
    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        return lambda: VF.huber_loss(x["input"], x["target"], delta=1.0)

    def torch_huber(x: dict[str, Tensor]) -> Run:
        return lambda: F.huber_loss(x["input"], x["target"], delta=1.0)

    return [Contender("visionloss", ours), Contender("torch F.huber_loss", torch_huber)]


def _smooth_l1_contenders() -> list[Contender]:
    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        return lambda: VF.smooth_l1_loss(x["input"], x["target"], beta=1.0)

    def torch_smooth_l1(x: dict[str, Tensor]) -> Run:
        return lambda: F.smooth_l1_loss(x["input"], x["target"], beta=1.0)

    return [Contender("visionloss", ours), Contender("torch F.smooth_l1_loss", torch_smooth_l1)]


def _charbonnier_contenders() -> list[Contender]:
    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        return lambda: VF.charbonnier_loss(x["input"], x["target"], eps=1e-3)

    def plain(x: dict[str, Tensor]) -> Run:
        return lambda: (torch.sqrt((x["input"] - x["target"]) ** 2 + 1e-6) - 1e-3).mean()

    return [Contender("visionloss", ours), Contender("plain torch (sqrt(d^2+eps^2)-eps)", plain)]


def _robust_contenders(alpha: float) -> list[Contender]:
    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        return lambda: VF.robust_loss(x["input"], x["target"], alpha=alpha, scale=0.5)

    def plain(x: dict[str, Tensor]) -> Run:
        # Barron's general formula for a fixed alpha (not 0 or 2), as a user writes it
        b = abs(alpha - 2.0)

        def run() -> Tensor:
            z = ((x["input"] - x["target"]) / 0.5) ** 2
            return (b / alpha * ((z / b + 1) ** (alpha / 2) - 1)).mean()

        return run

    return [Contender("visionloss", ours), Contender("plain torch (general formula)", plain)]


def _nll_inputs(device: torch.device, size: tuple[int, ...]) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(9)
    target = torch.randn(size, generator=gen).to(device)
    # a predicted log-variance: differentiated, as the mean
    logvar = _logits(size, device, seed=11)
    return {"mean": _logits(size, device, seed=10), "target": target, "logvar": logvar}


def _gaussian_nll_contenders() -> list[Contender]:
    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        return lambda: VF.gaussian_nll_loss(x["mean"], x["target"], x["logvar"])

    def torch_nll(x: dict[str, Tensor]) -> Run:
        # torch takes the variance: exp(logvar) is part of its cost (and of its graph)
        return lambda: F.gaussian_nll_loss(x["mean"], x["target"], x["logvar"].exp(), full=True)

    return [Contender("visionloss", ours), Contender("torch F.gaussian_nll_loss", torch_nll)]


def _box_inputs(device: torch.device, size: tuple[int, ...]) -> dict[str, Tensor]:
    (n,) = size
    gen = torch.Generator().manual_seed(3)

    def boxes() -> Tensor:
        xy = torch.rand(n, 2, generator=gen) * 100
        wh = torch.rand(n, 2, generator=gen) * 50 + 1
        return torch.cat([xy, xy + wh], 1)

    return {"pred": boxes().to(device).requires_grad_(True), "target": boxes().to(device)}


def _plain_box(pred: Tensor, target: Tensor, kind: str) -> Tensor:
    # torchvision.ops.generalized_box_iou_loss / complete_box_iou_loss, as written there
    x1, y1, x2, y2 = pred.unbind(-1)
    x1g, y1g, x2g, y2g = target.unbind(-1)
    xk1, yk1 = torch.max(x1, x1g), torch.max(y1, y1g)
    xk2, yk2 = torch.min(x2, x2g), torch.min(y2, y2g)
    inter = torch.zeros_like(x1)
    mask = (yk2 > yk1) & (xk2 > xk1)
    inter[mask] = (xk2[mask] - xk1[mask]) * (yk2[mask] - yk1[mask])
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + 1e-7)
    xc1, yc1 = torch.min(x1, x1g), torch.min(y1, y1g)
    xc2, yc2 = torch.max(x2, x2g), torch.max(y2, y2g)
    if kind == "giou":
        area_c = (xc2 - xc1) * (yc2 - yc1)
        return (1 - iou + (area_c - union) / (area_c + 1e-7)).mean()
    diag = (xc2 - xc1) ** 2 + (yc2 - yc1) ** 2 + 1e-7
    centers = ((x1 + x2 - x1g - x2g) / 2) ** 2 + ((y1 + y2 - y1g - y2g) / 2) ** 2
    w, h, wg, hg = x2 - x1, y2 - y1, x2g - x1g, y2g - y1g
    v = (4 / torch.pi**2) * (torch.atan(wg / hg) - torch.atan(w / h)) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + 1e-7)
    return (1 - iou + centers / diag + alpha * v).mean()


def _box_contenders(kind: str) -> list[Contender]:
    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        fn = VF.giou_loss if kind == "giou" else VF.ciou_loss
        return lambda: fn(x["pred"], x["target"])

    def plain(x: dict[str, Tensor]) -> Run:
        return lambda: _plain_box(x["pred"], x["target"], kind)

    return [Contender("visionloss", ours), Contender("plain torch (torchvision formula)", plain)]


def _triplet_inputs(device: torch.device, size: tuple[int, ...]) -> dict[str, Tensor]:
    n, dim = size
    return {
        "embeddings": _logits((n, dim), device, seed=4),
        "labels": _labels((n,), n // 8, device, seed=5),
    }


def _triplet_contenders() -> list[Contender]:
    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        return lambda: VF.batch_triplet_loss(
            x["embeddings"], x["labels"], margin=0.2, mining="batch_hard"
        )

    def pml(x: dict[str, Tensor]) -> Run:
        from pytorch_metric_learning import distances, losses, miners, reducers

        # configured to the same loss: raw (unnormalised) L2 distances, plain mean over anchors
        distance = distances.LpDistance(normalize_embeddings=False)
        miner = miners.BatchHardMiner(distance=distance)
        loss = losses.TripletMarginLoss(
            margin=0.2, distance=distance, reducer=reducers.MeanReducer()
        )
        return lambda: loss(x["embeddings"], x["labels"], miner(x["embeddings"], x["labels"]))

    return [Contender("visionloss", ours), Contender("pytorch-metric-learning", pml)]


def _ssim_inputs(device: torch.device, size: tuple[int, ...]) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(6)
    return {
        "input": torch.rand(size, generator=gen).to(device).requires_grad_(True),
        "target": torch.rand(size, generator=gen).to(device),
    }


def _ssim_contenders() -> list[Contender]:
    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        return lambda: VF.ssim_loss(x["input"], x["target"], data_range=1.0)

    def msssim(x: dict[str, Tensor]) -> Run:
        from pytorch_msssim import ssim

        return lambda: 1 - ssim(x["input"], x["target"], data_range=1.0)

    def kornia(x: dict[str, Tensor]) -> Run:
        import kornia.losses as KL

        # kornia pads ("same" output) and returns (1 - SSIM) / 2: a different convention, timed only
        return lambda: KL.ssim_loss(x["input"], x["target"], window_size=11)

    return [
        Contender("visionloss", ours),
        Contender("pytorch-msssim", msssim),
        Contender("kornia (padded, (1-SSIM)/2)", kornia),
    ]


def _ms_ssim_contenders() -> list[Contender]:
    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        return lambda: VF.ms_ssim_loss(x["input"], x["target"], data_range=1.0)

    def msssim(x: dict[str, Tensor]) -> Run:
        from pytorch_msssim import ms_ssim

        return lambda: 1 - ms_ssim(x["input"], x["target"], data_range=1.0)

    return [Contender("visionloss", ours), Contender("pytorch-msssim", msssim)]


def _pinned(build: Callable[[Inputs], Run], backend: str) -> Callable[[Inputs], Run]:
    """``build`` with visionloss's dispatch pinned to ``backend`` while the loss runs."""

    def pinned_build(x: Inputs) -> Run:
        from visionloss import kernels

        inner = build(x)

        def run() -> Tensor:
            before = kernels.get_kernels()
            kernels.set_kernels(backend)
            try:
                return inner()
            finally:
                kernels.set_kernels(before)

        return run

    return pinned_build


def with_paths(case: BenchCase) -> BenchCase:
    """``case`` plus visionloss pinned to its fused Function and to its reference."""
    if not case.dispatched:
        return case
    ours = next(c for c in case.contenders if c.name == OURS)
    extra = [Contender(f"{OURS} [{b}]", _pinned(ours.build, b)) for b in ("fused", "reference")]
    return BenchCase(
        case.name,
        case.size,
        case.make_inputs,
        [ours, *extra, *case.contenders[1:]],
        case.unit,
        case.dispatched,
    )


def _compiled(build: Callable[[Inputs], Run]) -> Callable[[Inputs], Run]:
    """``build`` under ``torch.compile`` (default backend, fullgraph): what a compiled user runs
    (the warm-up call compiles; the saved bytes are the compiled graph's)."""

    def compiled_build(x: Inputs) -> Run:
        torch._dynamo.reset()
        return torch.compile(build(x), fullgraph=True)

    return compiled_build


def with_compiled(case: BenchCase) -> BenchCase:
    """``case`` plus visionloss under ``torch.compile``: its saved MiB beside the eager row
    (the "memory vs ours" column reads compiled / eager)."""
    ours = next(c for c in case.contenders if c.name == OURS)
    extra = Contender(f"{OURS} [compiled]", _compiled(ours.build))
    return BenchCase(
        case.name,
        case.size,
        case.make_inputs,
        [ours, extra, *case.contenders[1:]],
        case.unit,
        case.dispatched,
    )


def standard_cases() -> list[BenchCase]:
    """The cases of issue 9 / DESIGN section 5, and the dense and pointwise ops of issue 18."""
    dense = _dense_inputs
    return [
        BenchCase("dice", (8, 6, 128, 128), dense, _overlap_contenders("dice"), dispatched=True),
        BenchCase(
            "tversky", (8, 6, 128, 128), dense, _overlap_contenders("tversky"), dispatched=True
        ),
        BenchCase(
            "dice 3D", (2, 4, 64, 64, 64), dense, _overlap_contenders("dice"), dispatched=True
        ),
        BenchCase(
            "sigmoid focal",
            (50000, 80),
            _sigmoid_focal_inputs,
            _sigmoid_focal_contenders(),
            dispatched=True,
        ),
        BenchCase(
            "softmax focal", (8, 19, 96, 96), dense, _softmax_focal_contenders(), dispatched=True
        ),
        BenchCase("cross-entropy", (8, 19, 96, 96), dense, _ce_contenders(), dispatched=True),
        BenchCase(
            "cross-entropy smoothed+weighted",
            (8, 19, 96, 96),
            dense,
            _ce_contenders(smoothed_weighted=True),
            dispatched=True,
        ),
        BenchCase("log-cosh", (1024, 1024), _pair_inputs, _log_cosh_contenders(), dispatched=True),
        BenchCase("huber", (1024, 1024), _pair_inputs, _huber_contenders()),
        BenchCase("smooth L1", (1024, 1024), _pair_inputs, _smooth_l1_contenders()),
        BenchCase("charbonnier", (1024, 1024), _pair_inputs, _charbonnier_contenders()),
        BenchCase(
            "robust alpha=1", (1024, 1024), _pair_inputs, _robust_contenders(1.0), dispatched=True
        ),
        BenchCase(
            "robust alpha=-2", (1024, 1024), _pair_inputs, _robust_contenders(-2.0), dispatched=True
        ),
        BenchCase(
            "gaussian NLL", (1024, 1024), _nll_inputs, _gaussian_nll_contenders(), dispatched=True
        ),
        BenchCase(
            "giou", (100000,), _box_inputs, _box_contenders("giou"), unit="boxes", dispatched=True
        ),
        BenchCase(
            "ciou", (100000,), _box_inputs, _box_contenders("ciou"), unit="boxes", dispatched=True
        ),
        BenchCase("batch-hard triplet", (1024, 128), _triplet_inputs, _triplet_contenders()),
        BenchCase("ssim", (8, 3, 256, 256), _ssim_inputs, _ssim_contenders(), dispatched=True),
        BenchCase(
            "ms-ssim", (8, 3, 256, 256), _ssim_inputs, _ms_ssim_contenders(), dispatched=True
        ),
    ]


def run_cases(
    cases: list[BenchCase],
    *,
    device: str = "cpu",
    quick: bool = False,
    rounds: int | None = None,
    min_time: float | None = None,
    threshold: float = 0.1,
    clock: RoundClock | None = None,
    missing: set[str] | None = None,
    patience: float = 0.0,
) -> Iterator[list[Result]]:
    """Measure each case in turn at the current thread count; yields one case's results at a
    time. ``quick``: fewer, shorter rounds (the same sizes)."""
    dev = torch.device(device)
    rounds = rounds or (5 if quick else 11)
    min_time = min_time or (0.1 if quick else 0.25)
    clock = clock or RoundClock(threshold)
    for case in cases:
        yield measure(
            case,
            dev,
            rounds=rounds,
            min_time=min_time,
            clock=clock,
            missing=missing,
            patience=patience,
        )


def cpu_model() -> str:
    """The CPU's model name as ``/proc/cpuinfo`` gives it (else :func:`platform.processor`)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def format_table(results: list[Result]) -> list[list[str]]:
    """Rows: case, threads, contender, ms, saved MiB, time ratio to visionloss (median of the
    paired per-round ratios), memory ratio to visionloss, quiet/total rounds, note."""
    rows = []
    groups: dict[tuple[str, int], list[Result]] = {}
    for result in results:
        groups.setdefault((result.case, result.threads), []).append(result)
    for (case, threads), group in groups.items():
        ours = next((r for r in group if r.contender == OURS), None)
        for r in group:
            mem_ratio = ""
            if ours and ours.saved_bytes is not None and r.saved_bytes is not None:
                if ours.saved_bytes:
                    mem_ratio = f"{r.saved_bytes / ours.saved_bytes:.1f}x"
                else:
                    mem_ratio = "1.0x" if r.saved_bytes == 0 else "ours keeps 0"
            rows.append(
                [
                    case,
                    str(threads),
                    r.contender,
                    f"{r.time_ms:.2f}" if r.time_ms is not None else "-",
                    f"{r.saved_bytes / 2**20:.2f}" if r.saved_bytes is not None else "-",
                    f"{r.ratio:.2f}x" if r.ratio is not None else "",
                    mem_ratio,
                    r.rounds,
                    r.note,
                ]
            )
    return rows


HEADER = [
    "case",
    "threads",
    "contender",
    "fwd+bwd ms",
    "saved MiB",
    "time vs ours",
    "memory vs ours",
    "quiet rounds",
    "note",
]
WIDTHS = [44, 8, 34, 11, 10, 13, 15, 13]


def write_csv(results: list[Result], path: str) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(format_table(results))


def missing_line(missing: set[str]) -> str:
    """The one line naming the peers that are not installed and the extra that installs them."""
    return (
        f"peers not installed, their rows left out: {', '.join(sorted(missing))} "
        f"(install them with: {PEERS_EXTRA})"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visionloss bench", description="forward+backward time and saved memory vs peers"
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer, shorter rounds (the same sizes)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--case", action="append", help="run only cases containing this text")
    parser.add_argument("--csv", help="also write the table to this CSV file")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=None, help="torch CPU threads (one or more)"
    )
    parser.add_argument(
        "--paths",
        action="store_true",
        help="add visionloss pinned to its fused Function and to its reference",
    )
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="add visionloss under torch.compile (compiled vs eager saved memory and time)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="quiet rounds wanted per case")
    parser.add_argument(
        "--min-time", type=float, default=None, help="seconds per contender per round"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.1,
        help="drop a round where other processes used more than this share of a CPU",
    )
    parser.add_argument(
        "--patience",
        type=float,
        default=3.0,
        help="seconds to wait before each round for other processes to leave the CPU",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print the side-by-side table; return the exit code."""
    args = _parser().parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            "visionloss bench: error: --device cuda but no CUDA device is available",
            file=sys.stderr,
        )
        return 2
    cases = standard_cases()
    if args.case:
        cases = [c for c in cases if any(text in c.label for text in args.case)]
        if not cases:
            names = "\n  ".join(c.label for c in standard_cases())
            print(
                f"visionloss bench: error: no case matches {', '.join(map(repr, args.case))}; "
                f"the cases are:\n  {names}",
                file=sys.stderr,
            )
            return 2
    if args.paths:
        cases = [with_paths(c) for c in cases]
    if args.compiled:
        cases = [with_compiled(c) for c in cases]
    thread_counts = args.threads or [torch.get_num_threads()]
    clock = RoundClock(args.threshold)
    print(
        f"# visionloss bench on {cpu_model()} ({os.cpu_count()} logical CPUs), "
        f"threads {', '.join(map(str, thread_counts))}; torch {torch.__version__}, "
        f"python {platform.python_version()}, device {args.device}"
    )
    filt = (
        f"rounds where other processes used more than {args.threshold:.0%} of a CPU "
        "(/proc/stat) are dropped"
        if clock.available
        else "no /proc/stat here: rounds are not filtered"
    )
    print(f"# contenders interleaved round by round; {filt}; medians over the quiet rounds")
    print("".join(h.ljust(w) for h, w in zip(HEADER, WIDTHS, strict=False)) + HEADER[-1])
    results: list[Result] = []
    missing: set[str] = set()
    before = torch.get_num_threads()
    try:
        for threads in thread_counts:
            torch.set_num_threads(threads)
            for case_results in run_cases(
                cases,
                device=args.device,
                quick=args.quick,
                rounds=args.rounds,
                min_time=args.min_time,
                clock=clock,
                missing=missing,
                patience=args.patience,
            ):
                results.extend(case_results)
                for row in format_table(case_results):
                    print("".join(c.ljust(w) for c, w in zip(row, WIDTHS, strict=False)) + row[-1])
                sys.stdout.flush()
    finally:
        torch.set_num_threads(before)
    if missing:
        print(missing_line(missing))
    if args.csv:
        write_csv(results, args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
