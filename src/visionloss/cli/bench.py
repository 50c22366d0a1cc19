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
from dataclasses import dataclass

import torch

from .._core.memory import saved_bytes, saved_storages
from .bench_cases import (
    OURS,
    BenchCase,
    Contender,
    Inputs,
    Run,
    standard_cases,
    with_compiled,
    with_paths,
)

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

PEERS_EXTRA = "pip install 'visionloss[peers]'"


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
