"""The ``visionloss`` command: list, plot, demo, exit codes and one-line errors.

Commands run in-process through :func:`visionloss.cli.main` (argv in, exit code out), plus one
subprocess run of ``python -m visionloss.cli`` for the real entry point. The demo runs with the
hidden ``--tiny`` size (a few steps per loss): these tests check the plumbing (files, tables,
determinism), not what the losses achieve. ``list`` reads the loss specs; in a checkout where
only some families are declared through specs, these tests use the regression losses.
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

import visionloss
import visionloss.functional as VF
from visionloss.cli import main
from visionloss.cli.demo import TASKS, run_task
from visionloss.cli.demo._common import Settings
from visionloss.cli.listing import COMPOSITION, latex_to_text
from visionloss.losses import SPECS

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
        (["list", "hubr"], "'hubr'"),
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
    assert {line.split("\t")[0] for line in ok.stdout.splitlines()} >= {"mse", "robust"}
    bad = subprocess.run(
        [sys.executable, "-m", "visionloss.cli", "list", "--format", "xml"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    _one_line_error(bad.stderr, "--format")


# --- list -----------------------------------------------------------------------------------------


def _csv_rows(capsys) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))


def test_list_csv_has_one_row_per_spec(capsys):
    assert main(["list", "--format", "csv"]) == 0
    rows = _csv_rows(capsys)
    losses = [row for row in rows if row["family"] != "composition"]
    assert [row["name"] for row in losses] == [s.name for s in SPECS]  # catalogue order
    assert {row["name"] for row in rows} == {s.name for s in SPECS} | {e.name for e in COMPOSITION}
    huber = next(row for row in rows if row["name"] == "huber")
    spec = visionloss.loss_info("huber")
    assert huber["function"] == "huber_loss"
    assert huber["module"] == "HuberLoss"
    assert huber["family"] == "regression"
    assert huber["required"] == ""
    assert huber["defaults"] == "delta=1.0"  # reduction left out
    assert huber["summary"] == spec.summary
    assert huber["formula"] == spec.formula  # LaTeX, as declared
    assert "Huber" in huber["paper"] and "1964" in huber["paper"]
    for spec in SPECS:  # every column comes from the spec
        row = next(r for r in rows if r["name"] == spec.name)
        assert row["function"] == spec.function_name
        assert row["module"] == (spec.module_name or "")
        assert row["required"] == ", ".join(spec.required)
        assert row["paper"] == spec.paper


def test_list_required_options_come_from_the_spec(capsys):
    assert main(["list", "--format", "csv"]) == 0
    rows = {row["name"]: row for row in _csv_rows(capsys)}
    for spec in SPECS:
        if spec.required:  # e.g. mode for the overlap losses, once they are declared by spec
            assert rows[spec.name]["required"] == ", ".join(spec.required)
            assert all(f"{r}=" not in rows[spec.name]["defaults"] for r in spec.required)


def test_list_composition_tools(capsys):
    assert main(["list", "--format", "json", "--family", "composition"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in entries] == [
        "CombinedLoss",
        "MultiTaskLoss",
        "class_weights",
        "build_loss",
    ]
    assert all(e["summary"] for e in entries)
    for e in entries:  # each names something public
        assert hasattr(visionloss, e["name"]), e["name"]


def test_list_family_filter_and_plain(capsys):
    assert main(["list", "--family", "regression", "--plain"]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert {line[3] for line in lines} == {"regression"}
    assert [line[0] for line in lines][:2] == ["mse", "mae"]  # DESIGN order
    assert lines[0][:3] == ["mse", "mse_loss", "MSELoss"]


@pytest.mark.parametrize("form", ["huber", "huber_loss", "HuberLoss"])
def test_list_takes_any_name_form(form, capsys):
    assert main(["list", form, "--format", "csv"]) == 0
    assert [row["name"] for row in _csv_rows(capsys)] == ["huber"]


def test_list_names_keep_their_order_and_take_composition_tools(capsys):
    assert main(["list", "RobustLoss", "mse_loss", "build_loss", "robust", "--plain"]) == 0
    names = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["robust", "mse", "build_loss"]


def test_list_help_names_the_three_name_forms(capsys):
    assert main(["list", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for text in ("build_loss", "registry name", "function name", "Module name"):
        assert text in out, text


def test_list_table_shows_names_formula_text_and_papers(capsys):
    assert main(["list", "--family", "regression"]) == 0
    out = capsys.readouterr().out
    assert "visionloss catalogue" in out
    for text in ("robust", "robust_loss", "RobustLoss", "Barron", "δ"):
        assert text in out
    assert r"\delta" not in out and r"\tfrac" not in out  # LaTeX shown as text


def test_list_json(capsys):
    assert main(["list", "--format", "json", "-f", "regression"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert {e["name"] for e in entries} >= {"charbonnier", "smooth_l1"}
    robust = next(e for e in entries if e["name"] == "robust")
    assert robust["formula"].startswith(r"\frac{")  # json keeps the LaTeX
    assert robust["defaults"] == "alpha=1.0, scale=1.0"


@pytest.mark.parametrize(
    ("latex", "text"),
    [
        ("(x - y)^2", "(x - y)²"),
        (r"\alpha + \beta \le \gamma", "α + β ≤ γ"),
        (r"\tfrac12 d^2", "½ d²"),
        (r"\frac{1}{2}", "½"),
        (r"\frac{a}{b}", "a/b"),
        (r"\frac{a + b}{c}", "(a + b)/c"),
        (r"\tfrac{1}{2\beta} d^2", "1/(2β) d²"),  # not 1/2β
        (r"\left(x\right)^{\alpha/2}", "(x)^(α/2)"),
        (r"d \text{ if } |d| < 1", "d if |d| < 1"),
        (r"\sqrt{d^2 + \epsilon^2} - \epsilon", "√(d² + ε²) - ε"),
        (r"\log\cosh(x - y)", "log cosh(x - y)"),
        (r"\sum_{c} w_c", "Σ_c w_c"),
        (r"\|x\|_2", "‖x‖_2"),
        (r"\unknown{x}", "unknownx"),  # an unknown command loses only its backslash
    ],
)
def test_latex_to_text(latex, text):
    assert latex_to_text(latex) == text


def test_latex_to_text_reads_every_formula():
    for spec in SPECS:
        text = latex_to_text(spec.formula)
        assert text and "\\" not in text and "{" not in text, (spec.name, text)
    robust = latex_to_text(visionloss.loss_info("robust").formula)
    assert robust == "|α - 2|/α(((d/c)²/|α - 2| + 1)^(α/2) - 1)"


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
    from visionloss.cli.plots import FIGURES

    assert sorted(referenced) == sorted(f"{figure.name}.png" for figure in FIGURES)


def test_plot_margin_curves_are_the_margins_target_logits():
    import numpy as np
    import torch

    from visionloss.cli.plots import margin_curves

    theta = torch.linspace(0.2, 2.5, 47, dtype=torch.float64)  # theta + m < pi for ArcFace
    curves = margin_curves(theta)
    th = theta.numpy()
    softmax, arcface, cosface = (curves[k][0] for k in curves)
    np.testing.assert_allclose(softmax, np.cos(th), atol=1e-9)
    np.testing.assert_allclose(arcface, np.cos(th + 0.5), atol=1e-9)
    np.testing.assert_allclose(cosface, np.cos(th) - 0.35, atol=1e-9)
    for _, loss in curves.values():
        assert np.all(np.diff(loss) > 0)  # further from the centre, a larger loss
    # the loss is log 2 where the target logit reaches the other class's (0): at 90 degrees for
    # the softmax, 90 degrees - m for ArcFace, arccos(m) for CosFace
    at = torch.tensor([math.pi / 2, math.pi / 2 - 0.5, math.acos(0.35)], dtype=torch.float64)
    crossing = margin_curves(at)
    for i, (_, loss) in enumerate(crossing.values()):
        assert loss[i] == pytest.approx(math.log(2))


def test_plot_nt_xent_curve_is_the_closed_form_and_falls_with_similarity():
    import numpy as np
    import torch

    from visionloss.cli.plots import nt_xent_curves

    s = torch.linspace(-0.9, 0.9, 19, dtype=torch.float64)
    for tau in (0.1, 0.5):
        loss, grad = nt_xent_curves(s, tau)
        # positive at s, two negatives at 0: -log(e^(s/t) / (e^(s/t) + 2))
        e = np.exp(-s.numpy() / tau)
        np.testing.assert_allclose(loss, np.log1p(2 * e), rtol=1e-9)
        np.testing.assert_allclose(grad, -(2 * e / tau) / (1 + 2 * e), rtol=1e-6)
        assert np.all(np.diff(loss) < 0)
    # a low temperature: a hard positive (s = -0.9) is pulled at almost 1 / tau, an easy one
    # (s = 0.9) hardly at all
    _, grad = nt_xent_curves(s, 0.1)
    assert -grad[0] > 9.9 and -grad[-1] < 1e-2


def test_plot_quality_curves_minimum_at_the_target_and_negatives_focused():
    import numpy as np
    import torch

    from visionloss.cli.plots import quality_curves

    p = torch.linspace(0.01, 0.99, 99, dtype=torch.float64)
    q = 0.6
    bce, qfl, vfl = (c[0] for c in quality_curves(p, q).values())
    best = int(np.argmin(np.abs(p.numpy() - q)))
    assert qfl[best] == pytest.approx(0.0, abs=1e-12)  # |q - p|^2 = 0 at p = q
    assert int(np.argmin(qfl)) == best and int(np.argmin(bce)) == best
    np.testing.assert_allclose(vfl, q * bce, rtol=1e-9)  # a positive is weighted by q
    bce0, qfl0, vfl0 = (c[0] for c in quality_curves(p, 0.0).values())
    pn = p.numpy()
    np.testing.assert_allclose(vfl0, 0.75 * pn**2 * bce0, rtol=1e-9)
    np.testing.assert_allclose(qfl0, pn**2 * bce0, rtol=1e-9)
    assert np.all(vfl0 < bce0) and np.all(np.diff(vfl0) > 0)


def test_plot_topk_curve_falls_to_cross_entropy_and_trains_k_of_the_pixels():
    import numpy as np
    import torch

    from visionloss.cli.plots import topk_curves

    k = torch.tensor([0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    curves = topk_curves(k)
    loss = np.array(curves["loss"])
    assert np.all(np.diff(loss) < 0)
    assert loss[-1] == pytest.approx(curves["ce"])
    assert loss[0] == pytest.approx(math.log1p(math.exp(3.0)))  # the one hardest pixel
    np.testing.assert_allclose(curves["share"], k.numpy())  # k V pixels of V = 100
    # the compound adds the same Dice term at every k
    gap = np.array(curves["dice_topk"]) - loss
    np.testing.assert_allclose(gap, gap[0], rtol=1e-9)


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
        assert len(task["rows"]) >= 2, name
        for row in task["rows"]:
            assert math.isfinite(row["metrics"][task["metric"]]), (name, row)
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["task"] for row in rows} == set(TASKS)
    assert sum(row["primary"] == "1" for row in rows) == sum(len(t["rows"]) for t in tasks.values())
    figures = [f for task in tasks.values() for f in task["figures"]]
    assert len(figures) >= 6
    for name in figures:
        assert _is_png(out / name), name


def test_demo_issue_19_rows_nt_xent_groups_and_dice_boundary_ramp():
    import torch

    from visionloss.cli.demo import embedding, segmentation

    assert any(n == "dice_topk_loss" for _, n, _ in segmentation._methods_spec())
    assert any(n == segmentation.BOUNDARY for _, n, _ in segmentation._methods_spec())
    # NT-Xent views: images 2j and 2j + 1 of each digit, one group per j, no same-digit negative
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat_interleave(30)
    idx = embedding.pk_batch(labels, 4, gen)
    assert torch.equal(labels[idx].reshape(10, 4), torch.arange(10)[:, None].expand(10, 4))
    emb = torch.randn(40, 8, generator=gen, dtype=torch.float64)
    grouped = emb.reshape(10, 4, 8)
    expected = (
        VF.nt_xent_loss(grouped[:, 0], grouped[:, 1], temperature=0.1)
        + VF.nt_xent_loss(grouped[:, 2], grouped[:, 3], temperature=0.1)
    ) / 2
    torch.testing.assert_close(embedding.nt_xent_views(emb, 4, 0.1), expected)
    # Dice + boundary: Dice alone at the first step, Dice + the foreground boundary term at the last
    logits = torch.randn(2, 3, 8, 8, generator=gen, dtype=torch.float64)
    target = torch.randint(0, 3, (2, 8, 8), generator=gen)
    phi = VF.signed_distance_map(
        torch.nn.functional.one_hot(target, 3).movedim(-1, 1), dtype=torch.float64
    )
    dice = VF.dice_loss(logits, target, mode="multiclass")
    boundary = VF.boundary_loss(logits, phi, class_weight=[0.0, 1.0, 1.0])
    torch.testing.assert_close(segmentation.dice_boundary(logits, target, phi, 0.0), dice)
    torch.testing.assert_close(
        segmentation.dice_boundary(logits, target, phi, 1.0), dice + boundary
    )


def test_demo_is_deterministic_with_the_seed(tmp_path):
    settings = Settings("tiny", 5, tmp_path)
    for task in ("classification", "boxes"):
        first = run_task(task, settings, debug=True)
        second = run_task(task, settings, debug=True)
        assert [r.metrics for r in first.rows] == [r.metrics for r in second.rows]


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


# --- explain, advise, demo --seeds (the guide, issue 15) -----------------------------------------


def test_help_lists_explain_and_advise(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\bexplain\b", out) and re.search(r"\badvise\b", out)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_explain_every_loss_under_the_article_headings(spec, capsys):
    assert main(["explain", spec.module_name or spec.function_name]) == 0
    out = capsys.readouterr().out
    for heading in ("Definition", "Formula", "Application", "Advantages", "Disadvantages",
                    "Alternatives", "Evidence"):
        assert f"\n{heading}\n{'-' * len(heading)}\n" in out
    # evidence tests live in tests/test_guide_evidence.py and, for later cards, in other tests/ files
    assert re.search(r"tests/[\w/]+\.py::", out)


def test_explain_json_and_markdown(capsys):
    assert main(["explain", "huber_loss", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "huber" and data["advantages"] and data["disadvantages"]
    assert main(["explain", "DiceLoss", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "### Advantages" in out and "$$" in out


def test_explain_unknown_name_is_one_line_and_code_2(capsys):
    assert main(["explain", "dise"]) == 2
    _one_line_error(capsys.readouterr().err, "'dise'", "dice")


def test_advise_npy_as_json(tmp_path, capsys):
    import numpy as np

    masks = np.zeros((10, 32, 32), np.int64)
    masks[:, :3, :3] = 1
    np.save(tmp_path / "masks.npy", masks)
    assert main(["advise", str(tmp_path / "masks.npy"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["task"] == "segmentation"
    assert data["recommendations"][0]["expression"] == "dice_ce(mode='binary')"
    visionloss.build_loss(data["recommendations"][1]["expression"])


def test_advise_folder_of_pngs_as_text(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    for i in range(3):
        m = np.zeros((16, 16), np.uint8)
        m[: 4 + i, :8] = 255
        Image.fromarray(m).save(tmp_path / f"{i}.png")
    assert main(["advise", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "foreground_fraction" in out and "Recommendation:" in out


def test_advise_bad_file_is_one_line_and_code_1(tmp_path, capsys):
    bad = tmp_path / "masks.pt"
    bad.write_bytes(b"not a torch file")
    assert main(["advise", str(bad)]) == 1
    _one_line_error(capsys.readouterr().err, str(bad))


def test_demo_seeds_writes_a_summary(tmp_path, capsys):
    assert main(["demo", "--tiny", "--seeds", "3", "-t", "boxes", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["seeds"] == [0, 1, 2]
    (task,) = summary["tasks"]
    assert task["task"] == "boxes" and all(len(m["values"]) == 3 for m in task["methods"])
    assert "### boxes" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "seed-2" / "results.json").is_file()


def test_demo_single_seed_says_it_cannot_rank(tmp_path, capsys):
    assert main(["demo", "--tiny", "-t", "boxes", "--out", str(tmp_path)]) == 0
    assert "cannot rank" in " ".join(capsys.readouterr().out.split())
