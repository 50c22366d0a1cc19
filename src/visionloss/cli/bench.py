"""Side-by-side benchmark of visionloss against its peers: time and memory kept for backward.

For each case every contender (visionloss, the peers that are installed, torch itself and the
plain composition of torch ops a user would write) gets the same inputs, and two figures:

* forward+backward time: the median over many calls (``torch.utils.benchmark``), with the
  contenders interleaved round by round in one process so that drift hits them all alike;
* bytes kept for backward: every tensor the autograd graph saves, seen through
  ``torch.autograd.graph.saved_tensors_hooks``, counted once per storage, inputs excluded.

Usable without the CLI extra: ``python -m visionloss.cli.bench [--quick] [--device cuda] [--csv F]``;
``visionloss bench`` calls the same :func:`main`.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.memory import saved_bytes, saved_storages

__all__ = [
    "BenchCase",
    "Contender",
    "Result",
    "main",
    "measure",
    "run_cases",
    "saved_bytes",
    "saved_storages",
    "standard_cases",
]

Run = Callable[[], Tensor]


@dataclass
class Contender:
    """One implementation of a case: ``build(inputs) -> run`` where ``run()`` returns the loss."""

    name: str
    build: Callable[[dict[str, Tensor]], Run]


@dataclass
class BenchCase:
    """A loss on fixed inputs and the contenders computing it."""

    name: str
    make_inputs: Callable[[torch.device, bool], dict[str, Tensor]]
    contenders: list[Contender] = field(default_factory=list)


@dataclass
class Result:
    case: str
    contender: str
    time_ms: float | None
    saved_bytes: int | None
    note: str = ""


def _step(run: Run, inputs: dict[str, Tensor]) -> Callable[[], None]:
    grads = [t for t in inputs.values() if t.requires_grad]

    def step() -> None:
        loss = run()
        torch.autograd.grad(loss, grads)

    return step


def measure(
    case: BenchCase, device: torch.device, *, quick: bool, rounds: int, min_time: float
) -> list[Result]:
    """Time and memory of every contender of ``case``; contenders that cannot run are noted."""
    from torch.utils.benchmark import Timer

    inputs = case.make_inputs(device, quick)
    steps: dict[str, Callable[[], None]] = {}
    results: dict[str, Result] = {}
    for contender in case.contenders:
        try:
            run = contender.build(inputs)
            step = _step(run, inputs)
            step()  # warm-up, and a failure here is reported instead of timed
            results[contender.name] = Result(
                case.name, contender.name, None, saved_bytes(run, inputs.values())
            )
            steps[contender.name] = step
        except Exception as error:  # a peer missing or refusing the input: reported, not fatal
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            results[contender.name] = Result(case.name, contender.name, None, None, message[:80])
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):  # interleaved: every contender once per round
        for name, step in steps.items():
            # Timer runs at 1 thread unless told: measure at the threads the caller set
            timer = Timer(
                stmt="step()", globals={"step": step}, num_threads=torch.get_num_threads()
            )
            measurement = timer.blocked_autorange(min_run_time=min_time)
            times[name].extend(measurement.times)
    for name, samples in times.items():
        results[name].time_ms = statistics.median(samples) * 1e3
    return list(results.values())


# --- cases ------------------------------------------------------------------------------------


def _logits(shape: tuple[int, ...], device: torch.device, seed: int = 0) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen).to(device).requires_grad_(True)


def _labels(shape: tuple[int, ...], classes: int, device: torch.device, seed: int = 1) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, classes, shape, generator=gen).to(device)


def _dense_inputs(shape: tuple[int, ...]) -> Callable[[torch.device, bool], dict[str, Tensor]]:
    def make(device: torch.device, quick: bool) -> dict[str, Tensor]:
        full = shape if not quick else (2, shape[1], *tuple(max(8, s // 4) for s in shape[2:]))
        n, c, *spatial = full
        return {"logits": _logits(full, device), "target": _labels((n, *spatial), c, device)}

    return make


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


def _sigmoid_focal_inputs(device: torch.device, quick: bool) -> dict[str, Tensor]:
    n = 5000 if quick else 50000
    gen = torch.Generator().manual_seed(2)
    target = (torch.rand(n, 80, generator=gen) < 0.01).float().to(device)
    return {"logits": _logits((n, 80), device), "target": target}


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


def _ce_contenders() -> list[Contender]:
    def ours(x: dict[str, Tensor]) -> Run:
        import visionloss.functional as VF

        return lambda: VF.cross_entropy(x["logits"], x["target"])

    def torch_ce(x: dict[str, Tensor]) -> Run:
        return lambda: F.cross_entropy(x["logits"], x["target"])

    return [Contender("visionloss", ours), Contender("torch F.cross_entropy", torch_ce)]


def _box_inputs(device: torch.device, quick: bool) -> dict[str, Tensor]:
    n = 10000 if quick else 100000
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


def _triplet_inputs(device: torch.device, quick: bool) -> dict[str, Tensor]:
    n = 256 if quick else 1024
    return {
        "embeddings": _logits((n, 128), device, seed=4),
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


def _ssim_inputs(device: torch.device, quick: bool) -> dict[str, Tensor]:
    shape = (2, 3, 64, 64) if quick else (8, 3, 256, 256)
    gen = torch.Generator().manual_seed(6)
    return {
        "input": torch.rand(shape, generator=gen).to(device).requires_grad_(True),
        "target": torch.rand(shape, generator=gen).to(device),
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


def standard_cases() -> list[BenchCase]:
    """The cases of issue 9 / DESIGN section 5."""
    return [
        BenchCase("dice 8x6x128x128", _dense_inputs((8, 6, 128, 128)), _overlap_contenders("dice")),
        BenchCase(
            "tversky 8x6x128x128", _dense_inputs((8, 6, 128, 128)), _overlap_contenders("tversky")
        ),
        BenchCase(
            "dice 3D 2x4x64x64x64", _dense_inputs((2, 4, 64, 64, 64)), _overlap_contenders("dice")
        ),
        BenchCase("sigmoid focal 50000x80", _sigmoid_focal_inputs, _sigmoid_focal_contenders()),
        BenchCase(
            "softmax focal 8x19x96x96", _dense_inputs((8, 19, 96, 96)), _softmax_focal_contenders()
        ),
        BenchCase("cross-entropy 8x19x96x96", _dense_inputs((8, 19, 96, 96)), _ce_contenders()),
        BenchCase("giou 100000 boxes", _box_inputs, _box_contenders("giou")),
        BenchCase("ciou 100000 boxes", _box_inputs, _box_contenders("ciou")),
        BenchCase("batch-hard triplet 1024x128", _triplet_inputs, _triplet_contenders()),
        BenchCase("ssim 8x3x256x256", _ssim_inputs, _ssim_contenders()),
    ]


def run_cases(
    cases: list[BenchCase],
    *,
    device: str = "cpu",
    quick: bool = False,
    rounds: int | None = None,
    min_time: float | None = None,
) -> Iterator[list[Result]]:
    """Measure each case in turn; yields the results of one case at a time."""
    dev = torch.device(device)
    rounds = rounds or (2 if quick else 5)
    min_time = min_time or (0.05 if quick else 0.3)
    for case in cases:
        yield measure(case, dev, quick=quick, rounds=rounds, min_time=min_time)


def format_table(results: list[Result]) -> list[list[str]]:
    """Rows: case, contender, ms, saved MiB, time ratio to visionloss, memory ratio to visionloss."""
    rows = []
    by_case: dict[str, list[Result]] = {}
    for result in results:
        by_case.setdefault(result.case, []).append(result)
    for case, group in by_case.items():
        ours = next((r for r in group if r.contender == "visionloss"), None)
        for r in group:
            time_ratio = mem_ratio = ""
            if ours and ours.time_ms and r.time_ms:
                time_ratio = f"{r.time_ms / ours.time_ms:.2f}x"
            if ours and ours.saved_bytes is not None and r.saved_bytes is not None:
                if ours.saved_bytes:
                    mem_ratio = f"{r.saved_bytes / ours.saved_bytes:.1f}x"
                else:
                    mem_ratio = "1.0x" if r.saved_bytes == 0 else "ours keeps 0"
            rows.append(
                [
                    case,
                    r.contender,
                    f"{r.time_ms:.2f}" if r.time_ms is not None else "-",
                    f"{r.saved_bytes / 2**20:.2f}" if r.saved_bytes is not None else "-",
                    time_ratio,
                    mem_ratio,
                    r.note,
                ]
            )
    return rows


HEADER = ["case", "contender", "fwd+bwd ms", "saved MiB", "time vs ours", "memory vs ours", "note"]


def write_csv(results: list[Result], path: str) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(format_table(results))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visionloss bench", description="forward+backward time and saved memory vs peers"
    )
    parser.add_argument("--quick", action="store_true", help="small inputs, few repeats")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--case", action="append", help="run only cases containing this text")
    parser.add_argument("--csv", help="also write the table to this CSV file")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
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
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = standard_cases()
    if args.case:
        cases = [c for c in cases if any(text in c.name for text in args.case)]
    results: list[Result] = []
    widths = [30, 34, 11, 10, 13, 15]
    print("".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=False)) + "note")
    for case_results in run_cases(cases, device=args.device, quick=args.quick):
        results.extend(case_results)
        for row in format_table(case_results):
            print("".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + row[-1])
        sys.stdout.flush()
    if args.csv:
        write_csv(results, args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
