"""CPU benchmark of batch_all triplet mining: visionloss against pytorch-metric-learning.

Contenders (forward + backward of the mean over the triplets with a positive loss, hinge,
margin 0.2, Euclidean distances, B embeddings of dimension D, B / 8 classes of 8):

* ``visionloss``: ``VF.batch_triplet_loss(x, labels, mining="batch_all")`` (streamed, O(B^2));
* ``pml``: ``losses.TripletMarginLoss(margin, distance=LpDistance(normalize_embeddings=False))``
  with no miner (every triplet, ``AvgNonZeroReducer``): the equivalent that
  ``tests/peers/test_embedding_peers.py`` checks value and gradient against;
* ``broadcast`` (only where it fits): the previous (B, B, B) formula, ``reduction="none"`` then
  the mean over the counted triplets.

Timing: contenders interleaved round by round in one process, a few calls each per round. Per call
both the process CPU time (robust to other processes on a shared machine; at one thread it is the
compute time) and the wall time; the wall figures keep only the rounds where this process got an
even share of the CPU across the contenders (other processes took the CPU otherwise). Reported:
medians of the per-call times and of the per-round paired ratios pml / visionloss. Then the bytes the autograd graph keeps for backward
(``visionloss._core.memory.saved_bytes``). The CPU model is read from /proc/cpuinfo.

    PYTHONPATH=src python benchmarks/batch_all.py                 # B = 256 and 1024, 1 and 2 threads
    PYTHONPATH=src python benchmarks/batch_all.py --sizes 256 --rounds 5 --threads 1
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

import visionloss.functional as VF
from visionloss._core.memory import saved_bytes

MARGIN = 0.2


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def make_batch(b: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, d, generator=gen)
    labels = torch.arange(b) % max(b // 8, 2)
    return x, labels


def contenders(labels: torch.Tensor, b: int) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    out: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "visionloss": lambda e: VF.batch_triplet_loss(e, labels, margin=MARGIN, mining="batch_all")
    }
    try:
        from pytorch_metric_learning import distances, losses

        pml = losses.TripletMarginLoss(
            margin=MARGIN, distance=distances.LpDistance(normalize_embeddings=False)
        )
        out["pml"] = lambda e: pml(e, labels)
    except ImportError:
        pass
    if b <= 512:

        def broadcast(e: torch.Tensor) -> torch.Tensor:
            none = VF.batch_triplet_loss(
                e, labels, margin=MARGIN, mining="batch_all", reduction="none"
            )
            return none.sum() / (none > 0).sum().clamp(min=1)

        out["broadcast"] = broadcast
    return out


def step(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> None:
    leaf = x.detach().requires_grad_(True)
    fn(leaf).backward()


def bench(b: int, d: int, threads: int, rounds: int) -> None:
    torch.set_num_threads(threads)
    x, labels = make_batch(b, d)
    fns = contenders(labels, b)
    # the same value and gradient before timing anything
    leaf = x.clone().requires_grad_(True)
    ours = fns["visionloss"](leaf)
    (ours_grad,) = torch.autograd.grad(ours, leaf)
    for name, fn in fns.items():
        other_leaf = x.clone().requires_grad_(True)
        other = fn(other_leaf)
        (other_grad,) = torch.autograd.grad(other, other_leaf)
        torch.testing.assert_close(other, ours, rtol=1e-4, atol=1e-6, msg=name)
        torch.testing.assert_close(other_grad, ours_grad, rtol=1e-3, atol=1e-6, msg=name)
        step(fn, x)  # warm-up
    calls = 3 if b <= 256 else 1
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    wall_ratios: list[float] = []
    cpu_ratios: list[float] = []
    kept = 0
    for _ in range(rounds):
        round_wall: dict[str, float] = {}
        round_cpu: dict[str, float] = {}
        for name, fn in fns.items():
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for _ in range(calls):
                step(fn, x)
            round_wall[name] = (time.perf_counter() - wall0) / calls
            round_cpu[name] = (time.process_time() - cpu0) / calls
        for name in fns:
            cpu[name].append(round_cpu[name])
        if "pml" in fns:
            cpu_ratios.append(round_cpu["pml"] / round_cpu["visionloss"])
        # the share of the CPU this process got while each contender ran: a round where it
        # differs by more than 20% between the contenders (other processes took the CPU during
        # one of them) is dropped from the wall-time figures
        shares = [round_cpu[n] / round_wall[n] for n in fns]
        if min(shares) < 0.8 * max(shares):
            continue
        kept += 1
        for name in fns:
            wall[name].append(round_wall[name])
        if "pml" in fns:
            wall_ratios.append(round_wall["pml"] / round_wall["visionloss"])

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1e3:.1f}" if values else "-"

    def ratio(values: list[float]) -> str:
        return f"{statistics.median(values):.2f}x" if values else "-"

    names = list(fns)
    print(
        f"| {b} | {threads} | {' / '.join(ms(cpu[n]) for n in names)} | {ratio(cpu_ratios)} | "
        f"{' / '.join(ms(wall[n]) for n in names)} | {ratio(wall_ratios)} | "
        f"{kept} of {rounds} |",
        flush=True,
    )


def memory(b: int, d: int) -> None:
    torch.set_num_threads(2)
    x, labels = make_batch(b, d)
    for name, fn in contenders(labels, b).items():
        leaf = x.clone().requires_grad_(True)
        mib = saved_bytes(lambda fn=fn, leaf=leaf: fn(leaf), [leaf]) / 2**20
        print(f"| {b} | {name} | {mib:.1f} MiB |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[512, 1024])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}; torch {torch.__version__}")
    try:
        import pytorch_metric_learning

        print(f"pytorch-metric-learning {pytorch_metric_learning.__version__}")
    except ImportError:
        print("pytorch-metric-learning not installed")
    print(f"\nforward+backward, D={args.dim}, B/8 classes of 8, margin {MARGIN}\n")
    print(
        "columns: CPU time per call (ms, process time: all threads summed) and its median paired "
        "ratio pml / visionloss over every round; wall time per call (ms) and its ratio over the "
        "rounds kept. Contenders in the order: " + ", ".join(("visionloss", "pml", "broadcast"))
    )
    print(
        "\n| B | threads | CPU ms | CPU ratio | wall ms | wall ratio | rounds kept |\n"
        "|---|---|---|---|---|---|---|"
    )
    for b in args.sizes:
        for threads in args.threads:
            bench(b, args.dim, threads, args.rounds)
    print("\nsaved for backward\n\n| B | contender | saved |\n|---|---|---|")
    for b in args.memory_sizes:
        memory(b, args.dim)


if __name__ == "__main__":
    main()
