"""The demo over several seeds: mean, spread, and a star only where the lead beats the noise.

Every seed re-draws the data, the initialisation and the batches, and every loss of a task sees
the same draw, so the results of two losses on one seed are a pair. A loss is starred when its
mean is the best of its task **and** a one-sided paired t-test over the seeds says it beats every
other loss of the task at level :data:`ALPHA` (no correction for the several comparisons: each
must pass on its own, which is stricter than testing against the runner-up only). With fewer than
:data:`MIN_SEEDS` seeds nothing is starred: the table says the run cannot rank.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._common import TaskResult

__all__ = [
    "ALPHA",
    "MIN_SEEDS",
    "MethodSummary",
    "TaskSummary",
    "load_runs",
    "paired_p_value",
    "summarise",
]

#: the level of the one-sided paired t-test a starred loss must pass against every other loss:
#: about 0.05 shared over the demo's 7 tasks (Bonferroni). At 0.05 per task, a first full run
#: starred a multi-task lead (p = 0.038) that vanished on the next five seeds.
ALPHA = 0.01
#: the fewest seeds that can rank (the t-test needs at least 2 differences; 3 is the floor used)
MIN_SEEDS = 3


@dataclass
class MethodSummary:
    """One loss of one task over the seeds."""

    method: str
    values: list[float]
    reference: bool = False

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else math.nan


@dataclass
class TaskSummary:
    """One task over the seeds: its losses, the best by mean, and whether the lead is real."""

    name: str
    title: str
    metric: str
    higher_is_better: bool
    seeds: list[int]
    methods: list[MethodSummary] = field(default_factory=list)
    best: str = ""  # the best mean (empty when fewer than 2 losses)
    starred: str = ""  # the best, when it beats every other loss by the paired test
    p_values: dict[str, float] = field(default_factory=dict)  # best vs each other loss
    verdict: str = ""
    failed: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.name,
            "title": self.title,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "seeds": self.seeds,
            "best_mean": self.best,
            "starred": self.starred,
            "p_values_vs_best": {k: round(v, 4) for k, v in self.p_values.items()},
            "verdict": self.verdict,
            "failed": self.failed,
            "methods": [
                {
                    "loss": m.method,
                    "mean": m.mean,
                    "std": m.std,
                    "values": m.values,
                    "reference": m.reference,
                }
                for m in self.methods
            ],
        }


def paired_p_value(better: list[float], other: list[float], higher_is_better: bool) -> float:
    """One-sided paired t-test p-value that ``better`` beats ``other`` (same seeds, same order).

    Identical differences (zero spread) give p = 0 when they favour ``better``, 1 otherwise.
    """
    diffs = [(a - b) if higher_is_better else (b - a) for a, b in zip(better, other, strict=True)]
    n = len(diffs)
    if n < 2:
        return 1.0
    mean = statistics.fmean(diffs)
    sd = statistics.stdev(diffs)
    if sd == 0:
        return 0.0 if mean > 0 else 1.0
    t = mean / (sd / math.sqrt(n))
    from scipy import stats  # scipy ships with scikit-learn, a dependency of the cli extra

    return float(stats.t.sf(t, df=n - 1))


def load_runs(folder: Path) -> list[tuple[int, list[TaskResult]]]:
    """The per-seed results a ``--seeds`` run wrote (``seed-<n>/results.json``), to summarise
    again (with another test level, say) without training anything."""
    from ._common import Row

    runs = []
    for path in sorted(
        Path(folder).glob("seed-*/results.json"), key=lambda p: int(p.parent.name[5:])
    ):
        payload = json.loads(path.read_text(encoding="utf-8"))
        results = []
        for task in payload["tasks"]:
            rows = [
                Row(r["method"], r["metrics"], r.get("note", ""), r["reference"])
                for r in task["rows"]
            ]
            results.append(
                TaskResult(
                    task["name"],
                    task["title"],
                    task["metric"],
                    task["higher_is_better"],
                    rows=rows,
                    failed=task.get("failed", ""),
                )
            )
        runs.append((int(payload["seed"]), results))
    return runs


def summarise(runs: list[tuple[int, list[TaskResult]]]) -> list[TaskSummary]:
    """Per task, the mean and spread of each loss over the seeds and the starred loss (if any)."""
    if not runs:
        return []
    seeds = [seed for seed, _ in runs]
    summaries: list[TaskSummary] = []
    for index, first in enumerate(runs[0][1]):
        per_seed = [results[index] for _, results in runs]
        summary = TaskSummary(first.name, first.title, first.metric, first.higher_is_better, seeds)
        failed = [r.failed for r in per_seed if r.failed]
        if failed:
            summary.failed = failed[0]
            summary.verdict = "failed"
            summaries.append(summary)
            continue
        for row in first.rows:
            values = [
                next(r for r in result.rows if r.method == row.method).metrics[first.metric]
                for result in per_seed
            ]
            summary.methods.append(MethodSummary(row.method, values, row.reference))
        _decide(summary)
        summaries.append(summary)
    return summaries


def _decide(summary: TaskSummary) -> None:
    losses = [m for m in summary.methods if not m.reference and all(map(math.isfinite, m.values))]
    if len(losses) < 2:
        summary.verdict = "fewer than two losses: nothing to rank"
        return
    if len({tuple(m.values) for m in losses}) == 1:
        summary.verdict = "every loss gave the same values: nothing to rank"
        return
    pick = max if summary.higher_is_better else min
    best = pick(losses, key=lambda m: m.mean)
    summary.best = best.method
    if len(summary.seeds) < MIN_SEEDS:
        summary.verdict = (
            f"{len(summary.seeds)} seed(s): cannot rank (a lead needs at least {MIN_SEEDS} seeds "
            "to be told from noise); run with --seeds 5"
        )
        return
    for other in losses:
        if other is not best:
            summary.p_values[other.method] = paired_p_value(
                best.values, other.values, summary.higher_is_better
            )
    worst_p = max(summary.p_values.values())
    if worst_p < ALPHA:
        summary.starred = best.method
        summary.verdict = (
            f"{best.method} beats every other loss (paired t-test over {len(summary.seeds)} "
            f"seeds, one-sided, largest p = {worst_p:.3f} < {ALPHA})"
        )
    else:
        tied = sorted(k for k, p in summary.p_values.items() if p >= ALPHA)
        summary.verdict = (
            f"best mean {best.method}, but its lead over {', '.join(tied)} is within the noise "
            f"(paired t-test, p ≥ {ALPHA}): no star"
        )


def markdown(summaries: list[TaskSummary], header: str = "") -> str:
    """The summary as a Markdown table per task (the guide commits one)."""
    lines = [header] if header else []
    for s in summaries:
        arrow = "↑" if s.higher_is_better else "↓"
        lines += ["", f"### {s.name}: {s.title}", ""]
        if s.failed:
            lines.append(f"failed: {s.failed}")
            continue
        lines += [
            f"Metric: {s.metric} {arrow}; seeds {', '.join(map(str, s.seeds))}.",
            "",
            "| loss | mean | std | per seed | p (best better) |",
            "|---|---:|---:|---|---:|",
        ]
        for m in s.methods:
            star = " ★" if m.method == s.starred else ""
            name = (
                f"{m.method} (reference)"
                if m.reference and "reference" not in m.method
                else m.method
            )
            p = s.p_values.get(m.method)
            per_seed = ", ".join(f"{v:.3f}" for v in m.values)
            p_text = "best" if m.method == s.best else ("" if p is None else f"{p:.3f}")
            lines.append(f"| {name}{star} | {m.mean:.3f} | {m.std:.3f} | {per_seed} | {p_text} |")
        lines += ["", f"Verdict: {s.verdict}."]
    return "\n".join(lines) + "\n"
