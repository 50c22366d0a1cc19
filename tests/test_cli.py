"""The ``visionloss`` command: list, plot, demo, exit codes and one-line errors.

Commands run in-process through :func:`visionloss.cli.main` (argv in, exit code out), plus one
subprocess run of ``python -m visionloss.cli`` for the real entry point. The demo runs with the
hidden ``--tiny`` size (a few steps per loss): these tests check the plumbing (files, tables,
skips, determinism), not what the losses achieve.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("typer")
pytest.importorskip("rich")
pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")
pytest.importorskip("skimage")

import visionloss.functional as VF
from visionloss.cli import main
from visionloss.cli.demo import TASKS, run_task
from visionloss.cli.demo._common import Settings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_SIGNATURE and path.stat().st_size > 1000


def _one_line_error(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "error:" in lines[0] and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


# --- help, usage errors ---------------------------------------------------------------------------


def test_help_lists_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("list", "plot", "bench", "demo"):
        assert re.search(rf"\b{command}\b", out)


@pytest.mark.parametrize("command", ["list", "plot", "demo"])
def test_every_command_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    assert f"visionloss {command}" in capsys.readouterr().out


def test_no_command_shows_help_and_usage_code(capsys):
    assert main([]) == 2
    assert "Usage" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["frobnicate"], "frobnicate"),
        (["list", "--family", "nope"], "--family"),
        (["list", "--bogus"], "--bogus"),
        (["demo", "--task", "nope"], "--task"),
        (["demo", "--seed", "-3"], "--seed"),
        (["plot", "--only", "no-such-figure"], "--only"),
    ],
)
def test_bad_argument_is_one_line_and_code_2(argv, needle, capsys):
    assert main(argv) == 2
    _one_line_error(capsys.readouterr().err, needle)


@pytest.mark.parametrize("command", ["plot", "demo"])
def test_unwritable_out_is_one_line_and_code_2(command, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    extra = ["--tiny"] if command == "demo" else []
    assert main([command, "--out", str(blocker / "sub"), *extra]) == 2
    _one_line_error(capsys.readouterr().err, "--out", str(blocker / "sub"))


def test_entry_point_in_a_subprocess():
    ok = subprocess.run(
        [sys.executable, "-m", "visionloss.cli", "list", "--plain", "--family", "regression"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert {line.split("\t")[0] for line in ok.stdout.splitlines()} >= {"mse_loss", "robust_loss"}
    bad = subprocess.run(
        [sys.executable, "-m", "visionloss.cli", "list", "--format", "xml"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    _one_line_error(bad.stderr, "--format")


# --- list -----------------------------------------------------------------------------------------


def test_list_csv_has_every_loss_of_functional(capsys):
    assert main(["list", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    names = {row["name"] for row in rows}
    losses = {n for n in VF.__all__ if n.endswith("_loss")}  # helpers (box_convert...) left out
    assert losses <= names
    huber = next(row for row in rows if row["name"] == "huber_loss")
    assert huber["family"] == "regression"
    assert huber["defaults"] == "delta=1.0"  # read from the signature
    assert huber["module"] == "HuberLoss"  # the Module whose docstring points to the function
    assert huber["summary"]  # the docstring's first line
    assert "Huber 1964" in huber["paper"]
    assert all(row["family"] != "other" for row in rows)


def test_list_family_filter_and_plain(capsys):
    assert main(["list", "--family", "regression", "--plain"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert {line.split("\t")[1] for line in lines} == {"regression"}
    assert [line.split("\t")[0] for line in lines][:2] == ["mse_loss", "mae_loss"]  # DESIGN order


def test_list_table_shows_names_and_papers(capsys):
    assert main(["list", "--family", "regression"]) == 0
    out = capsys.readouterr().out
    assert "visionloss catalogue" in out
    for text in ("robust_loss", "RobustLoss", "Barron"):
        assert text in out


def test_list_json(capsys):
    assert main(["list", "--format", "json", "-f", "regression"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert {e["name"] for e in entries} >= {"charbonnier_loss", "smooth_l1_loss"}


# --- plot -----------------------------------------------------------------------------------------


def test_plot_writes_pngs_and_index(tmp_path, capsys):
    out = tmp_path / "gallery"
    assert main(["plot", "--out", str(out), "--dpi", "50"]) == 0
    index = (out / "index.html").read_text()
    referenced = re.findall(r'<img src="([^"]+)"', index)
    assert "regression.png" in referenced and "robust.png" in referenced
    assert sorted(referenced) == sorted(p.name for p in out.glob("*.png"))
    for name in referenced:
        assert _is_png(out / name), name
    # every figure of the gallery is either drawn or listed as skipped with its reason
    from visionloss.cli.plots import FIGURES

    for figure in FIGURES:
        assert f"{figure.name}.png" in referenced or f"Skipped {figure.name}" in index


def test_plot_skips_a_figure_whose_losses_are_absent(tmp_path, monkeypatch, capsys):
    monkeypatch.delattr(VF, "dice_loss", raising=False)
    assert main(["plot", "--out", str(tmp_path), "--only", "overlap", "--only", "kl"]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "dice_loss" in out
    assert not (tmp_path / "overlap.png").exists()
    assert "Skipped overlap" in (tmp_path / "index.html").read_text()


# --- demo -----------------------------------------------------------------------------------------


def test_demo_tiny_writes_table_results_and_figures(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--tiny", "--out", str(out), "--threads", "1", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "held-out results" in printed
    payload = json.loads((out / "results.json").read_text())
    assert payload["size"] == "tiny" and payload["seed"] == 3
    tasks = {task["name"]: task for task in payload["tasks"]}
    assert list(tasks) == list(TASKS)
    for name, task in tasks.items():
        assert not task["failed"], (name, task["failed"])
        assert name in printed
        ran = [row for row in task["rows"] if not row["skipped"]]
        assert len(ran) >= 2, name
        for row in ran:
            assert math.isfinite(row["metrics"][task["metric"]]), (name, row)
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["task"] for row in rows} == set(TASKS)
    assert sum(row["primary"] == "1" for row in rows) == sum(
        len([r for r in t["rows"] if not r["skipped"]]) for t in tasks.values()
    )
    figures = [f for task in tasks.values() for f in task["figures"]]
    assert len(figures) >= 6
    for name in figures:
        assert _is_png(out / name), name


def test_demo_is_deterministic_with_the_seed(tmp_path):
    settings = Settings("tiny", 5, tmp_path)
    for task in ("classification", "boxes"):
        first = run_task(task, settings, debug=True)
        second = run_task(task, settings, debug=True)
        assert [r.metrics for r in first.rows] == [r.metrics for r in second.rows]


def test_demo_skips_a_loss_that_is_absent(tmp_path, monkeypatch):
    monkeypatch.delattr(VF, "focal_loss", raising=False)
    result = run_task("classification", Settings("tiny", 0, tmp_path), debug=True)
    by_method = {row.method: row for row in result.rows}
    assert "focal_loss" in by_method["focal γ=2"].skipped
    assert by_method["cross-entropy"].metrics and not by_method["cross-entropy"].skipped
    assert "focal γ=2" not in result.best()


def test_demo_task_error_becomes_a_failed_row_and_code_1(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(VF, "giou_loss", broken)
    code = main(["demo", "--tiny", "--task", "boxes", "--out", str(tmp_path), "--threads", "1"])
    assert code == 1
    captured = capsys.readouterr()
    assert "RuntimeError: boom" in captured.out and "Traceback" not in captured.out + captured.err
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["tasks"][0]["failed"] == "RuntimeError: boom"


def test_best_marker_follows_the_metric_direction():
    from visionloss.cli.demo._common import Row, TaskResult

    up = TaskResult("t", "t", "m", True, rows=[Row("a", {"m": 1.0}), Row("b", {"m": 2.0})])
    down = TaskResult("t", "t", "m", False, rows=[Row("a", {"m": 1.0}), Row("b", {"m": 2.0})])
    ref = Row("r", {"m": 9.0}, reference=True)
    assert up.best() == ["b"] and down.best() == ["a"]
    assert TaskResult("t", "t", "m", True, rows=[ref, *up.rows]).best() == ["b"]  # refs never win
    tie = TaskResult("t", "t", "m", True, rows=[Row("a", {"m": 1.0}), Row("b", {"m": 1.0})])
    assert tie.best() == []  # all equal: no star
