"""``visionloss demo``: small models trained with different losses, one task per family.

Every task trains the same model from the same initialisation, on the same batches, once per
loss, and scores it on held-out data with a metric that does not depend on the loss. Data ships
with scikit-learn (digits) and scikit-image (the horse silhouette) or is synthetic: nothing is
downloaded. :func:`run_demo` prints a results table (best loss per task marked) and writes the
figures, ``results.json`` and ``results.csv`` into the output folder.

One seed cannot rank losses (the best of one run changes with the seed). With ``seeds > 1`` every
task runs once per seed, each seed's files go to ``seed-<n>/``, and :mod:`.seeds` summarises them:
mean and spread per loss, and a star only where a paired test over the seeds says the lead is
larger than the noise (``summary.md``, ``summary.json``).
"""

from __future__ import annotations

import csv
import importlib
import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ._common import Settings, TaskResult

__all__ = ["TASKS", "DemoReport", "run_demo", "run_seeds", "run_task"]

# task name -> module (one module per task family; vae and gan share the generative one)
TASKS: dict[str, str] = {
    "segmentation": "segmentation",
    "classification": "classification",
    "boxes": "boxes",
    "embedding": "embedding",
    "vae": "generative",
    "gan": "generative",
    "multitask": "multitask",
}


@dataclass
class DemoReport:
    """All the tasks' results and where they were written."""

    settings: Settings
    results: list[TaskResult] = field(default_factory=list)
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[TaskResult]:
        return [r for r in self.results if r.failed]


def _module(task: str) -> Any:
    return importlib.import_module(f"{__name__}.{TASKS[task]}")


def _hooks(task: str) -> tuple[Any, Any, str]:
    """The task's ``run``, ``total_steps`` and title (generative holds two tasks)."""
    module = _module(task)
    if TASKS[task] == "generative":
        return getattr(module, f"run_{task}"), getattr(module, f"{task}_steps"), module.TITLES[task]
    return module.run, module.total_steps, module.TITLE


def run_task(task: str, settings: Settings, tick: Any = None, *, debug: bool = False) -> TaskResult:
    """Run one task; an error becomes the task's ``failed`` note, not an exception."""
    run, _, title = _hooks(task)
    start = time.perf_counter()
    try:
        result: TaskResult = run(settings, tick or (lambda _label: None))
    except Exception as error:
        if debug:
            raise
        message = " ".join(f"{type(error).__name__}: {error}".split())
        result = TaskResult(task, title, "", True, failed=message)
    result.seconds = time.perf_counter() - start
    return result


def run_demo(
    out: Path,
    *,
    size: str = "full",
    seed: int = 0,
    tasks: list[str] | None = None,
    threads: int | None = 1,
    debug: bool = False,
    console: Any = None,
) -> DemoReport:
    """Run the tasks (all by default), print the table, write figures and results files.

    ``size``: "full", "quick" or "tiny" (the tests' minimum). ``threads``: torch's CPU threads
    during the run (restored afterwards); ``None`` leaves them as they are.
    """
    from rich.console import Console

    console = console or Console()
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        report = _run(out, size, seed, tasks, debug, console)
    finally:
        torch.set_num_threads(previous_threads)
    console.print(
        "[yellow]one seed: the ★ marks the best of this run only and cannot rank the losses "
        "(the winner changes with the seed); run with --seeds 5 for mean, spread and a paired "
        "test[/yellow]"
    )
    return report


def run_seeds(
    out: Path,
    *,
    seeds: int,
    size: str = "full",
    seed: int = 0,
    tasks: list[str] | None = None,
    threads: int | None = 1,
    debug: bool = False,
    console: Any = None,
) -> tuple[list[DemoReport], list[Any]]:
    """Run the demo once per seed (``seed`` .. ``seed + seeds - 1``) into ``out/seed-<n>/``, then
    print and write the summary (``summary.md``, ``summary.json``): mean, spread, paired test."""
    from rich.console import Console

    from . import seeds as seeds_module

    console = console or Console()
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    reports: list[DemoReport] = []
    used_threads = torch.get_num_threads()  # the header reports these, not the restored count
    start = time.perf_counter()
    try:
        for s in range(seed, seed + seeds):
            folder = Path(out) / f"seed-{s}"
            folder.mkdir(parents=True, exist_ok=True)
            reports.append(_run(folder, size, s, tasks, debug, console))
    finally:
        torch.set_num_threads(previous_threads)
    summaries = seeds_module.summarise([(r.settings.seed, r.results) for r in reports])
    seconds = time.perf_counter() - start
    console.print(seeds_table(summaries))
    for summary in summaries:
        console.print(f"[bold]{summary.name}[/bold]: {summary.verdict}")
    header = (
        f"visionloss demo --seeds {seeds} ({size}, seeds {seed}..{seed + seeds - 1}, "
        f"{used_threads} threads, {seconds:.0f} s; visionloss {_version()}, "
        f"torch {torch.__version__})"
    )
    (Path(out) / "summary.md").write_text(seeds_module.markdown(summaries, header))
    payload = {
        "command": "visionloss demo",
        "size": size,
        "seeds": [r.settings.seed for r in reports],
        "test": f"one-sided paired t-test, alpha {seeds_module.ALPHA}, best vs every other loss",
        "seconds": round(seconds, 1),
        "tasks": [s.as_dict() for s in summaries],
    }
    (Path(out) / "summary.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    console.print(f"summary in {out}/summary.md and summary.json ({seconds:.1f} s)")
    return reports, summaries


def _version() -> str:
    import visionloss

    return visionloss.__version__


def seeds_table(summaries: list[Any]) -> Any:
    """The rich table of a multi-seed run: mean ± std per loss, the paired test's verdict."""
    from rich.markup import escape
    from rich.table import Table

    grid = Table(
        title="visionloss demo over seeds: held-out results",
        caption="mean ± std over the seeds; ★ only when a one-sided paired t-test over the seeds "
        "(p < 0.01) says the best mean beats every other loss; p: that test against the best",
    )
    grid.add_column("task / loss", no_wrap=True)
    grid.add_column("mean ± std", justify="right", no_wrap=True)
    grid.add_column("p", justify="right", no_wrap=True)
    grid.add_column("", no_wrap=True)
    for s in summaries:
        arrow = "↑" if s.higher_is_better else "↓"
        grid.add_row(
            f"[bold magenta]{s.name}[/bold magenta]: [cyan]{escape(s.metric)} {arrow}[/cyan]",
            "", "", "",
        )
        for m in s.methods:
            p = s.p_values.get(m.method)
            star = "[bold yellow]★[/bold yellow]" if m.method == s.starred else ""
            grid.add_row(
                "  " + escape(m.method),
                f"{_fmt(m.mean)} ± {_fmt(m.std)}",
                "best" if m.method == s.best else ("" if p is None else f"{p:.3f}"),
                star,
                style="dim" if m.reference else None,
                end_section=False,
            )
        grid.add_row("", "", "", "", end_section=True)
    return grid


def _run(
    out: Path, size: str, seed: int, tasks: list[str] | None, debug: bool, console: Any
) -> DemoReport:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    settings = Settings(size=size, seed=seed, out=Path(out))
    names = list(tasks) if tasks else list(TASKS)
    report = DemoReport(settings)
    start = time.perf_counter()
    console.print(
        f"[bold]visionloss demo[/bold] ({size}, seed {seed}, {torch.get_num_threads()} threads): "
        f"{len(names)} tasks, results in {settings.out}/"
    )
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<44}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        for name in names:
            _, steps, _ = _hooks(name)
            bar = progress.add_task(f"{name}", total=steps(settings))

            def tick(label: str, bar: Any = bar, name: str = name) -> None:
                progress.update(bar, advance=1, description=f"{name}: {label}")

            result = run_task(name, settings, tick, debug=debug)
            status = "[red]failed[/red]" if result.failed else "[green]done[/green]"
            progress.update(
                bar,
                completed=steps(settings),
                description=f"{name}: {status} ({result.seconds:.1f} s)",
            )
            report.results.append(result)
    report.seconds = time.perf_counter() - start
    console.print(results_table(report, console.width))
    for result in report.results:
        if result.failed:
            console.print(f"[red]failed[/red] {result.name}: {result.failed}")
    report.files = [*write_results(report), *(f for r in report.results for f in r.figures)]
    console.print(
        f"{len(report.files)} files in {settings.out}/: {', '.join(report.files)}"
        f"  ({report.seconds:.1f} s)"
    )
    return report


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def results_table(report: DemoReport, width: int | None = None) -> Any:
    """The rich table: per task a header row naming its metric, then per loss the metric, its
    change against the task's first loss, a star on the best, and (when wide enough) the others."""
    from rich.markup import escape
    from rich.table import Table

    wide = width is None or width >= 110
    grid = Table(
        title="visionloss demo: held-out results",
        caption="★ best loss of the task on its metric (↑ higher is better, ↓ lower); "
        "Δ: change against the task's first loss; dim rows are references, not losses"
        + ("" if wide else "; other metrics: results.csv"),
    )
    grid.add_column("task / loss", no_wrap=True)
    grid.add_column("value", justify="right", no_wrap=True)
    grid.add_column("Δ", justify="right", no_wrap=True)
    grid.add_column("", no_wrap=True)
    if wide:
        grid.add_column("other metrics", style="dim")

    def add(*cells: str, **options: Any) -> None:
        grid.add_row(*(cells if wide else cells[:4]), **options)

    for result in report.results:
        if result.failed:
            add(
                f"[bold magenta]{result.name}[/bold magenta] [red]failed[/red]",
                "",
                "",
                "",
                escape(result.failed),
                end_section=True,
            )
            continue
        arrow = "↑" if result.higher_is_better else "↓"
        add(
            f"[bold magenta]{result.name}[/bold magenta]: [cyan]{escape(result.metric)} {arrow}[/cyan]",
            "",
            "",
            "",
            escape(result.note),
        )
        best = set(result.best())
        base = result.baseline()
        for i, row in enumerate(result.rows):
            last = i == len(result.rows) - 1
            label = "  " + escape(row.method)
            value = row.metrics.get(result.metric, math.nan)
            delta = ""
            if base is not None and row is not base and not row.reference:
                diff = value - base.metrics.get(result.metric, math.nan)
                good = (diff > 0) == result.higher_is_better
                colour = "green" if good else "red"
                delta = f"[{colour}]{_fmt_delta(diff)}[/{colour}]" if abs(diff) >= 5e-4 else "±0"
            others = ", ".join(
                f"{k} {_fmt(v)}" for k, v in row.metrics.items() if k != result.metric
            )
            if row.note:
                others = f"{others}; {row.note}" if others else row.note
            star = "[bold yellow]★[/bold yellow]" if row.method in best else ""
            style = "dim" if row.reference else ("bold" if star else None)
            add(label, _fmt(value), delta, star, escape(others), style=style, end_section=last)
    return grid


def _fmt_delta(diff: float) -> str:
    return f"{diff:+.3f}" if abs(diff) < 100 else f"{diff:+.1f}"


def write_results(report: DemoReport) -> list[str]:
    """``results.json`` (settings, versions, every metric) and ``results.csv`` (one row a metric)."""
    import visionloss

    folder = report.settings.out
    tasks: list[dict[str, Any]] = []
    payload = {
        "command": "visionloss demo",
        "size": report.settings.size,
        "seed": report.settings.seed,
        "threads": torch.get_num_threads(),
        "seconds": round(report.seconds, 2),
        "versions": {
            "visionloss": visionloss.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "tasks": tasks,
    }
    for result in report.results:
        entry = asdict(result)
        entry["best"] = result.best()
        entry["seconds"] = round(result.seconds, 2)
        tasks.append(entry)
    (folder / "results.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    with open(folder / "results.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["task", "loss", "metric", "value", "primary", "best", "reference", "note"])
        for result in report.results:
            if result.failed:
                writer.writerow([result.name, "", "", "", "", "", "", result.failed])
                continue
            best = set(result.best())
            for row in result.rows:
                for metric, value in row.metrics.items():
                    writer.writerow(
                        [
                            result.name,
                            row.method,
                            metric,
                            f"{value:.6g}",
                            int(metric == result.metric),
                            int(row.method in best and metric == result.metric),
                            int(row.reference),
                            row.note,
                        ]
                    )
    return ["results.json", "results.csv"]
