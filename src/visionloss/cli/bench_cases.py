"""The cases of ``visionloss bench``: each loss at the size it runs, its contenders (visionloss,
the installed peers, torch's own op or the plain formula a user would write) and their inputs;
``with_paths`` / ``with_compiled`` add visionloss pinned to its fused Function and reference, or
compiled. The measurement itself is :mod:`visionloss.cli.bench`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "OURS",
    "BenchCase",
    "Contender",
    "Inputs",
    "Run",
    "standard_cases",
    "with_compiled",
    "with_paths",
]

Run = Callable[[], Tensor]
Inputs = dict[str, Tensor]

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
