"""The guide: every loss has a complete card, every named piece of evidence exists, ``advise``
gives the documented answers on synthetic data whose right answer is known, and the demo's
multi-seed summary stars a loss only when the lead beats the noise."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch

import visionloss
from visionloss.guide import CARDS, HEADINGS, card_dict, card_for, evidence_kind, render
from visionloss.guide.advise import AdviseError, advise
from visionloss.losses import SPECS

ROOT = Path(__file__).resolve().parent.parent
DEMO_TABLE = ROOT / "docs" / "guide" / "demo-results.md"


# --- cards ----------------------------------------------------------------------------------------


def test_every_catalogue_loss_has_a_card_and_no_stray_cards():
    assert {s.name for s in SPECS} == set(CARDS)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_card_is_complete(spec):
    card = card_for(spec.name)
    assert spec.formula.strip() and spec.summary.strip()
    assert len(card.definition) > 40 and len(card.application) > 30
    assert len(card.advantages) >= 2 and len(card.disadvantages) >= 2
    assert card.alternatives
    for claim in (*card.advantages, *card.disadvantages):
        assert claim.text.strip()
        assert claim.runs(), f"{spec.name}: {claim.text!r} names no evidence the project runs"
        for evidence in claim.evidence:
            evidence_kind(evidence)  # a known kind
    for name, when in card.alternatives:
        assert name in CARDS and name != spec.name and when.strip()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_card_is_attached_to_the_spec(spec):
    info = visionloss.loss_info(spec.function_name)
    assert info.card is not None
    assert info.card["definition"] == card_for(spec.name).definition


def _all_evidence() -> set[str]:
    return {
        e
        for card in CARDS.values()
        for c in (*card.advantages, *card.disadvantages)
        for e in c.evidence
    }


_MODULES: dict[str, object] = {}


def _load(file: str) -> object:
    """A test module by its path (the tests folder is not a package)."""
    if file not in _MODULES:
        spec = importlib.util.spec_from_file_location(f"_guide_{Path(file).stem}", ROOT / file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MODULES[file] = module
    return _MODULES[file]


def _test_exists(node: str) -> bool:
    file, _, name = node.partition("::")
    base, _, param = name.partition("[")
    if not (ROOT / file).is_file():
        return False
    module = _load(file)
    function = getattr(module, base, None)
    if function is None or not callable(function):
        return False
    if not param:
        return True
    param = param.removesuffix("]")
    for mark in getattr(function, "pytestmark", []):
        if mark.name == "parametrize" and param in [str(v) for v in mark.args[1]]:
            return True
    return False


def test_every_named_test_exists():
    tests = sorted(e for e in _all_evidence() if evidence_kind(e) == "test")
    assert len(tests) > 40
    missing = [t for t in tests if not _test_exists(t)]
    assert not missing, missing


def test_every_evidence_test_is_named_by_a_card():
    module = _load("tests/test_guide_evidence.py")
    defined = {n for n in dir(module) if n.startswith("test_")}
    named = {
        e.partition("::")[2].partition("[")[0]
        for e in _all_evidence()
        if evidence_kind(e) == "test"
    }
    assert defined <= named, sorted(defined - named)


def test_every_named_figure_exists():
    pytest.importorskip("matplotlib")
    from visionloss.cli.plots import FIGURES

    names = {f.name for f in FIGURES}
    figures = {e.split(":", 1)[1] for e in _all_evidence() if evidence_kind(e) == "plot"}
    assert figures and figures <= names, figures - names


def test_every_named_demo_row_is_in_the_committed_table():
    text = DEMO_TABLE.read_text(encoding="utf-8")
    rows = {e.split(":", 1)[1] for e in _all_evidence() if evidence_kind(e) == "demo"}
    assert rows
    sections = re.split(r"^### ", text, flags=re.M)
    tables = {s.split(":", 1)[0].strip(): s for s in sections[1:]}
    for row in rows:
        task, loss = row.split("/", 1)
        assert task in tables, f"demo task {task!r} not in {DEMO_TABLE.name}"
        assert f"| {loss}" in tables[task], f"demo row {row!r} not in {DEMO_TABLE.name}"


@pytest.mark.parametrize("fmt", ["text", "markdown"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_render_has_every_heading_with_content(spec, fmt):
    text = render(spec.function_name, fmt)
    for heading in HEADINGS:
        marker = f"### {heading}\n" if fmt == "markdown" else f"\n{heading}\n{'-' * len(heading)}\n"
        assert marker in text, heading
        body = text.split(marker, 1)[1].lstrip("\n")
        assert body and not body.startswith(("### ", "-" * 3)), f"empty {heading}"


def test_render_json_is_the_card_dict():
    data = json.loads(render("FocalLoss", "json"))
    assert data == json.loads(json.dumps(card_dict("focal")))
    assert data["advantages"][0]["evidence"][0]["kind"] == "test"


def test_card_for_any_name_form_and_unknown_name():
    assert card_for("huber") is card_for("huber_loss") is card_for("HuberLoss")
    with pytest.raises(ValueError, match="did you mean"):
        card_for("hubr")


# --- advise: rules on synthetic data with a known answer ------------------------------------------


def _blobs(n: int, size: int, fg_side: int, empty_every: int = 0, classes: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    masks = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        if empty_every and i % empty_every == 0:
            continue
        y, x = torch.randint(0, size - fg_side + 1, (2,), generator=g).tolist()
        masks[i, y : y + fg_side, x : x + fg_side] = 1 + i % (classes - 1)
    return masks


def test_advise_balanced_masks_recommend_cross_entropy():
    masks = torch.zeros(20, 32, 32, dtype=torch.long)
    masks[:, :, 16:] = 1  # half the pixels
    masks[::2, :16, :16] = 2
    advice = advise(masks)
    assert advice.rules[0].startswith("S4")
    assert advice.recommendations[0].expression == "cross_entropy()"


def test_advise_one_percent_foreground_recommends_weighted_dice_ce_then_tversky():
    masks = _blobs(40, 64, 6, classes=3)  # 36 px of 4096: 0.9% foreground, two classes
    advice = advise(masks)
    stats = advice.stats
    assert stats["foreground_fraction"] == pytest.approx(36 / 4096, rel=1e-6)
    assert stats["empty_mask_rate"] == 0
    assert advice.rules[0].startswith("S2")
    first, second, third = advice.recommendations
    weights = visionloss.class_weights(stats["pixels_per_class"], scheme="inverse_sqrt")
    assert first.expression.startswith("dice_ce(mode='multiclass', class_weight=[")
    shown = [float(v) for v in re.findall(r"[\d.]+", first.expression.split("[")[1])]
    assert shown == pytest.approx(weights.tolist(), abs=1e-4)
    assert second.expression == "tversky(mode='multiclass', alpha=0.2, beta=0.8)"  # f < 1%
    assert third.loss == "focal"


def test_advise_three_percent_foreground_uses_beta_0_7():
    advice = advise(_blobs(10, 32, 6))  # 36 / 1024 = 3.5%
    assert advice.recommendations[1].expression == "tversky(mode='binary', alpha=0.3, beta=0.7)"


def test_advise_many_empty_masks_recommend_batch_dice():
    masks = _blobs(40, 32, 8, empty_every=2)  # half the masks empty
    advice = advise(masks)
    assert advice.stats["empty_mask_rate"] == pytest.approx(0.5)
    assert advice.rules[0].startswith("S1")
    assert advice.recommendations[0].expression == "dice_ce(mode='binary', batch_dice=True)"


@pytest.mark.parametrize(
    ("counts", "rule", "first"),
    [
        ([100, 90, 80], "C1", "cross_entropy"),
        ([1000, 50], "C2", "cross_entropy"),
        ([5000, 10], "C3", "focal"),
    ],
)
def test_advise_classification_rules(counts, rule, first):
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    advice = advise(labels)
    assert advice.task == "classification" and advice.rules[0].startswith(rule)
    assert advice.recommendations[0].loss == first


def test_advise_boxes_rules():
    square = [[0, 0, 10, 10], [5, 5, 25, 24], [0, 0, 40, 42]]
    assert advise(square).recommendations[0].loss == "diou"
    mixed = [[0, 0, 10, 40], [0, 0, 40, 10], [0, 0, 20, 20], [0, 0, 5, 30], [0, 0, 30, 5]]
    advice = advise(mixed, anchors=[(100, 100)])
    assert advice.recommendations[0].loss == "ciou"
    assert advice.stats["anchor_best_iou_mean"] < 0.5
    assert any("anchors fit poorly" in r for r in advice.rules)


@pytest.mark.parametrize(
    "masks",
    [_blobs(8, 32, 6), _blobs(8, 32, 8, empty_every=2), _blobs(8, 64, 6, classes=3)],
)
def test_advised_expressions_build_and_run(masks):
    advice = advise(masks)
    classes = advice.stats["classes"]
    for rec in advice.recommendations:
        loss = visionloss.build_loss(rec.expression)
        if "'binary'" in rec.expression:
            value = loss(torch.randn(8, 1, *masks.shape[1:]), masks[:, None].float())
        else:
            value = loss(torch.randn(8, classes, *masks.shape[1:]), masks)
        assert torch.isfinite(value)
        assert rec.reasons


def test_advise_reasons_are_card_lines():
    advice = advise(_blobs(40, 64, 6, classes=3))
    texts = {c.text for card in CARDS.values() for c in (*card.advantages, *card.disadvantages)}
    for rec in advice.recommendations:
        for reason in rec.reasons:
            if "(advantage)" in reason or "(disadvantage)" in reason:
                assert reason.split("): ", 1)[1] in texts


# --- advise: files ----------------------------------------------------------------------------


def test_advise_reads_npy_and_pt(tmp_path):
    np = pytest.importorskip("numpy")
    masks = _blobs(70, 32, 6)  # more than one streamed chunk of 64
    np.save(tmp_path / "m.npy", masks.numpy())
    torch.save(masks, tmp_path / "m.pt")
    a = advise(tmp_path / "m.npy")
    b = advise(tmp_path / "m.pt")
    c = advise(masks)
    assert a.stats == b.stats == c.stats
    assert a.stats["images"] == 70


def test_advise_streams_a_folder_of_pngs_in_several_encodings(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    np = pytest.importorskip("numpy")
    masks = _blobs(6, 16, 4).numpy().astype(np.uint8)
    grey, binary, colour = tmp_path / "grey", tmp_path / "binary", tmp_path / "colour"
    for folder in (grey, binary, colour):
        folder.mkdir()
    for i, m in enumerate(masks):
        Image.fromarray(m).save(grey / f"{i}.png")
        Image.fromarray(m * 255).save(binary / f"{i}.png")
        rgb = np.zeros((*m.shape, 3), np.uint8)
        rgb[m == 1] = (200, 30, 30)
        Image.fromarray(rgb).save(colour / f"{i}.png")
    seen = []
    results = [advise(f, progress=lambda d, t: seen.append((d, t))) for f in (grey, binary, colour)]
    expected = advise(torch.from_numpy(masks.astype(np.int64))).stats
    for r in results:
        for key in ("pixels_per_class", "foreground_fraction", "empty_mask_rate"):
            assert r.stats[key] == expected[key]
    assert seen[-1] == (6, 6)


def test_advise_png_with_voc_ignore_value(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    np = pytest.importorskip("numpy")
    m = np.zeros((8, 8), np.uint8)
    m[:2] = 3
    m[7] = 255  # VOC's border label
    Image.fromarray(m).save(tmp_path / "a.png")
    stats = advise(tmp_path).stats
    assert stats["pixels_per_class"] == [40, 0, 0, 16]  # 8 pixels of 255 left out


def test_advise_reads_boxes_from_csv_and_json(tmp_path):
    (tmp_path / "b.csv").write_text("x1,y1,x2,y2\n0,0,10,10\n5,5,25,24\n0,0,40,42\n")
    (tmp_path / "b.json").write_text(json.dumps([[0, 0, 10, 10], [5, 5, 25, 24], [0, 0, 40, 42]]))
    coco = {
        "annotations": [
            {"bbox": [0, 0, 10, 10]},
            {"bbox": [5, 5, 20, 19]},
            {"bbox": [0, 0, 40, 42]},
        ]
    }
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    stats = [advise(tmp_path / f).stats for f in ("b.csv", "b.json", "coco.json")]
    assert stats[0] == stats[1] == stats[2]
    assert stats[0]["boxes"] == 3


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("bad.npy", b"not a numpy file at all", "cannot read .npy"),
        ("bad.pt", b"garbage", "cannot read as a tensor file"),
        ("bad.json", b"{not json", "cannot read JSON"),
        ("bad.csv", b"a,b\n1,2\n", "box columns not found"),
        ("bad.txt", b"1 2 3", "unsupported file type"),
        ("bad.png", b"\x89PNG\r\n\x1a\nbroken", "cannot read as an image"),
    ],
)
def test_advise_bad_file_is_one_line_naming_it(tmp_path, name, content, needle):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AdviseError) as info:
        advise(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and needle in message


def test_advise_refuses_pickles_and_code(tmp_path):
    np = pytest.importorskip("numpy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(AdviseError, match="not a plain numeric"):
        advise(tmp_path / "obj.npy")

    class Evil:
        def __reduce__(self):
            return (print, ("ran user code",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(AdviseError, match="evil.pt"):
        advise(tmp_path / "evil.pt")


def test_advise_too_large_and_wrongly_typed(tmp_path):
    masks = _blobs(4, 16, 4)
    torch.save(masks, tmp_path / "m.pt")
    with pytest.raises(AdviseError, match="too large"):
        advise(tmp_path / "m.pt", max_bytes=100)
    torch.save(torch.rand(4, 16, 16), tmp_path / "f.pt")
    with pytest.raises(AdviseError, match="f.pt: expected integer class ids"):
        advise(tmp_path / "f.pt")
    torch.save({"a": torch.zeros(2), "b": torch.zeros(2)}, tmp_path / "d.pt")
    with pytest.raises(AdviseError, match="expected a tensor"):
        advise(tmp_path / "d.pt")
    with pytest.raises(AdviseError, match="no such file"):
        advise(tmp_path / "missing.npy")
    with pytest.raises(ValueError, match="task"):
        advise(masks, task="detection")


# --- demo over seeds ------------------------------------------------------------------------------


def _task(values: dict[str, float], seed: int):
    from visionloss.cli.demo._common import Row, TaskResult

    return TaskResult(
        "t", "t", "m", True, rows=[Row(k, {"m": v + 0.001 * seed}) for k, v in values.items()]
    )


def test_seeds_summary_stars_a_consistent_lead_only():
    pytest.importorskip("scipy")
    from visionloss.cli.demo.seeds import summarise

    clear = [
        (s, [_task({"a": 0.5 + 0.01 * (s % 2), "b": 0.6 + 0.01 * (s % 2)}, s)]) for s in range(5)
    ]
    (summary,) = summarise(clear)
    assert summary.best == "b" and summary.starred == "b"
    noisy_b = [0.6, 0.4, 0.7, 0.45, 0.5]
    noisy = [(s, [_task({"a": 0.5, "b": noisy_b[s]}, s)]) for s in range(5)]
    (summary,) = summarise(noisy)
    assert summary.best == "b" and summary.starred == ""
    assert "within the noise" in summary.verdict


def test_seeds_summary_with_too_few_seeds_cannot_rank():
    from visionloss.cli.demo.seeds import summarise

    (summary,) = summarise([(0, [_task({"a": 0.5, "b": 0.9}, 0)])])
    assert summary.starred == "" and "cannot rank" in summary.verdict


def test_paired_p_value_by_hand():
    pytest.importorskip("scipy")
    from visionloss.cli.demo.seeds import paired_p_value

    # differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.464, df 2: one-sided p = 0.0371
    assert paired_p_value([2.0, 3.0, 4.0], [1.0, 1.0, 1.0], True) == pytest.approx(0.0371, abs=1e-4)
    assert paired_p_value([1.0, 1.0, 1.0], [2.0, 3.0, 4.0], False) == pytest.approx(
        0.0371, abs=1e-4
    )


def test_committed_cards_page_is_up_to_date():
    # regenerate with: python -c "import visionloss; print(visionloss.guide.cards_markdown(), end='')"
    #   > docs/guide/cards.md
    committed = (ROOT / "docs" / "guide" / "cards.md").read_text(encoding="utf-8")
    assert committed == visionloss.guide.cards_markdown()


def test_guide_page_links_only_to_existing_cards_and_tests():
    page = (ROOT / "docs" / "guide" / "choosing-a-loss.md").read_text(encoding="utf-8")
    anchors = set(re.findall(r"cards\.md#([a-z0-9_]+)", page))
    assert anchors and anchors <= set(CARDS), anchors - set(CARDS)
    module = _load("tests/test_guide_evidence.py")
    for name in set(re.findall(r"`(test_[a-z0-9_]+)`", page)):
        assert hasattr(module, name), name
