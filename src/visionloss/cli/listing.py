"""``visionloss list``: the catalogue, read from the installed package.

Names, summaries (the docstring's first line), Modules and defaults come from
``visionloss.functional`` and ``visionloss`` themselves, so the table always shows what is
installed; the short formula and the paper of each loss come from :data:`NOTES` below.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ._util import FAMILIES

__all__ = ["NOTES", "Entry", "catalogue", "render_csv", "render_json", "render_plain", "table"]

# name -> (family, short formula, paper). A name that is missing here still gets listed (family
# from its module, formula "-"), so a new loss never breaks the command.
NOTES: dict[str, tuple[str, str, str]] = {
    # regression
    "mse_loss": ("regression", "(x − y)²", ""),
    "mae_loss": ("regression", "|x − y|", ""),
    "huber_loss": ("regression", "½d² if |d| ≤ δ else δ(|d| − ½δ)", "Huber 1964"),
    "smooth_l1_loss": (
        "regression",
        "½d²/β if |d| < β else |d| − ½β",
        "Girshick 2015 (Fast R-CNN)",
    ),
    "log_cosh_loss": ("regression", "log cosh(x − y)", ""),
    "charbonnier_loss": ("regression", "√(d² + ε²) − ε", "Charbonnier et al. 1994"),
    "robust_loss": (
        "regression",
        "|α−2|/α · (((d/c)²/|α−2| + 1)^(α/2) − 1)",
        "Barron 2019, arXiv:1701.03077",
    ),
    # classification
    "binary_cross_entropy": ("classification", "−y log σ(x) − (1−y) log(1 − σ(x))", ""),
    "cross_entropy": ("classification", "−Σ_c y_c log softmax(x)_c", ""),
    "focal_loss": (
        "classification",
        "−α_t (1 − p_t)^γ log p_t",
        "Lin et al. 2017, arXiv:1708.02002",
    ),
    "poly1_loss": ("classification", "CE + ε (1 − p_t)", "Leng et al. 2022, arXiv:2204.12511"),
    # segmentation: I = Σ p g, P = Σ p, G = Σ g per sample and class
    "dice_loss": (
        "segmentation",
        "1 − (2I + s)/(P + G + s)",
        "Milletari et al. 2016, arXiv:1606.04797",
    ),
    "jaccard_loss": ("segmentation", "1 − (I + s)/(P + G − I + s)", "Rahman & Wang 2016"),
    "tversky_loss": (
        "segmentation",
        "1 − (I + s)/(I + α FP + β FN + s)",
        "Salehi et al. 2017, arXiv:1706.05721",
    ),
    "focal_tversky_loss": (
        "segmentation",
        "(Tversky loss)^γ",
        "Abraham & Khan 2019, arXiv:1810.07842",
    ),
    "generalized_dice_loss": (
        "segmentation",
        "1 − 2 Σ_c w_c I_c / Σ_c w_c (P_c + G_c), w_c = 1/G_c²",
        "Sudre et al. 2017, arXiv:1707.03237",
    ),
    "lovasz_softmax_loss": (
        "segmentation",
        "Lovász extension of the Jaccard loss on softmax errors",
        "Berman et al. 2018, arXiv:1705.08790",
    ),
    "lovasz_hinge_loss": (
        "segmentation",
        "Lovász extension of the Jaccard loss on hinge errors",
        "Berman et al. 2018, arXiv:1705.08790",
    ),
    "dice_ce_loss": ("segmentation", "λ_dice · Dice + λ_ce · CE", ""),
    "dice_focal_loss": (
        "segmentation",
        "λ_dice · Dice + λ_focal · focal",
        "Zhu et al. 2019 (AnatomyNet)",
    ),
    # boxes
    "box_iou_loss": ("boxes", "1 − IoU of the chosen kind (iou, giou, diou, ciou, eiou)", ""),
    "iou_loss": ("boxes", "1 − |A∩B| / |A∪B|", "Yu et al. 2016 (UnitBox), arXiv:1608.01471"),
    "giou_loss": (
        "boxes",
        "1 − IoU + |C ∖ (A∪B)| / |C|",
        "Rezatofighi et al. 2019, arXiv:1902.09630",
    ),
    "diou_loss": ("boxes", "1 − IoU + ρ²(b, b*) / c²", "Zheng et al. 2020, arXiv:1911.08287"),
    "ciou_loss": (
        "boxes",
        "1 − IoU + ρ²/c² + α v (aspect ratio)",
        "Zheng et al. 2020, arXiv:1911.08287",
    ),
    "eiou_loss": (
        "boxes",
        "1 − IoU + ρ²/c² + Δw²/C_w² + Δh²/C_h²",
        "Zhang et al. 2022, arXiv:2101.08158",
    ),
    # embedding
    "triplet_margin_loss": (
        "embedding",
        "max(d(a,p) − d(a,n) + m, 0)",
        "Schroff et al. 2015 (FaceNet), arXiv:1503.03832",
    ),
    "batch_triplet_loss": (
        "embedding",
        "max(d(a,p) − d(a,n) + m, 0) on triplets mined in the batch",
        "Hermans et al. 2017, arXiv:1703.07737",
    ),
    "contrastive_loss": ("embedding", "½[y d² + (1 − y) max(m − d, 0)²]", "Hadsell et al. 2006"),
    # generative
    "generator_loss": (
        "generative",
        "non-saturating: softplus(−f); minimax: −softplus(f); lsgan, hinge, wasserstein",
        "Goodfellow et al. 2014, arXiv:1406.2661",
    ),
    "discriminator_loss": (
        "generative",
        "softplus(−r) + softplus(f); lsgan, hinge, wasserstein",
        "Goodfellow et al. 2014, arXiv:1406.2661",
    ),
    "gradient_penalty": (
        "generative",
        "λ (‖∇D(x̂)‖ − 1)², x̂ between real and fake",
        "Gulrajani et al. 2017, arXiv:1704.00028",
    ),
    "r1_penalty": (
        "generative",
        "γ/2 · ‖∇D(x)‖² on real data",
        "Mescheder et al. 2018, arXiv:1801.04406",
    ),
    "gaussian_nll_loss": ("generative", "½[log σ² + (y − μ)²/σ² + log 2π]", ""),
    "ssim_loss": ("generative", "1 − SSIM(x, y)", "Wang et al. 2004"),
    "ms_ssim_loss": ("generative", "1 − MS-SSIM(x, y)", "Wang et al. 2003"),
    "kl_divergence": ("generative", "Σ p (log p − log q)", "Kullback & Leibler 1951"),
    "gaussian_kl": (
        "generative",
        "½ Σ [σ²/σ₂² + (μ − μ₂)²/σ₂² − 1 + log σ₂²/σ²]",
        "",
    ),
    "vae_loss": (
        "generative",
        "reconstruction + β · KL(q(z|x) ‖ N(0, I))",
        "Kingma & Welling 2014, arXiv:1312.6114",
    ),
    # composition
    "CombinedLoss": ("composition", "Σ_i w_i L_i, parts logged", ""),
    "MultiTaskLoss": (
        "composition",
        "fixed Σ w_i L_i; uncertainty Σ ½e^(−s_i) L_i + ½s_i; dwa; gradnorm",
        "Kendall et al. 2018, arXiv:1705.07115",
    ),
    "class_weights": (
        "composition",
        "1/n, 1/√n or (1 − β)/(1 − βⁿ), mean 1",
        "Cui et al. 2019, arXiv:1901.05555",
    ),
    "build_loss": ("composition", "parses 'dice(mode=...) + 0.5 * cross_entropy()'", ""),
}

COMPOSITION = ("CombinedLoss", "MultiTaskLoss", "class_weights", "build_loss")

# options every loss shares (DESIGN section 2): left out of the defaults column
SHARED_OPTIONS = ("weight", "reduction")


@dataclass
class Entry:
    """One row of the catalogue."""

    name: str
    family: str
    summary: str
    formula: str
    defaults: str
    paper: str
    module: str


_GROUP = re.compile(r"\\(?:mathrm|text|operatorname|mathbf)\{([^{}]*)\}|\{([^{}]*)\}")
_LATEX = [
    ("\\mathcal ", ""),
    ("\\,", " "),
    ("\\;", " "),
    ("\\!", ""),
    ("\\|", "‖"),
    ("\\cdot", "·"),
    ("\\log", "log"),
    ("\\exp", "exp"),
    ("\\mu", "μ"),
    ("\\sigma", "σ"),
    ("\\alpha", "α"),
    ("\\beta", "β"),
    ("\\gamma", "γ"),
    ("\\delta", "δ"),
    ("\\epsilon", "ε"),
    ("\\lambda", "λ"),
]
_ROLE = re.compile(r":(?:math|func|class|meth|attr|mod):`~?([^`]*)`")


def _summary(obj: Any) -> str:
    """The docstring's first paragraph as plain text (Sphinx roles and ``code`` marks removed)."""
    doc = inspect.getdoc(obj) or ""
    text = " ".join(doc.strip().split("\n\n")[0].split())
    text = _ROLE.sub(r"\1", text).replace("``", "")
    for latex, plain in _LATEX:
        text = text.replace(latex, plain)
    for _ in range(3):  # nested groups, innermost first
        text = _GROUP.sub(lambda m: m.group(1) or m.group(2) or "", text)
    return " ".join(text.split())


def _defaults(obj: Any) -> str:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return ""
    shown = []
    for p in parameters:
        if p.default is inspect.Parameter.empty or p.name in SHARED_OPTIONS:
            continue
        shown.append(f"{p.name}={p.default!r}")
    return ", ".join(shown)


def _family(name: str, obj: Any) -> str:
    module = getattr(obj, "__module__", "") or ""
    tail = module.rsplit(".", 1)[-1]
    if tail in FAMILIES:
        return tail
    if name in NOTES:
        return NOTES[name][0]
    if tail in ("compose", "registry"):
        return "composition"
    return "other"


def _modules_by_function() -> dict[str, str]:
    """Module class names keyed by the function their docstring points to (":func:`name`")."""
    import visionloss

    found: dict[str, str] = {}
    for attr in getattr(visionloss, "__all__", ()):
        obj = getattr(visionloss, attr, None)
        if not inspect.isclass(obj):
            continue
        doc = inspect.getdoc(obj) or ""
        first = doc.split("\n\n")[0]
        start = first.find(":func:`")
        while start >= 0:
            end = first.find("`", start + 7)
            if end < 0:
                break
            name = first[start + 7 : end].lstrip("~").rsplit(".", 1)[-1]
            found.setdefault(name, attr)
            start = first.find(":func:`", end)
    return found


def _is_loss(name: str) -> bool:
    """Losses, not the helpers a family also exports (``box_convert``, ``xyxy_to_cxcywh``)."""
    return name in NOTES or name.endswith(("_loss", "_penalty", "_divergence", "_kl"))


def _entry(name: str, obj: Any, module: str) -> Entry:
    _, formula, paper = NOTES.get(name, ("", "-", ""))
    return Entry(
        name=name,
        family=_family(name, obj),
        summary=_summary(obj),
        formula=formula,
        defaults=_defaults(obj),
        paper=paper,
        module=module,
    )


def catalogue(family: str | None = None) -> list[Entry]:
    """Every loss of ``visionloss.functional`` and the composition tools, in catalogue order."""
    import visionloss
    import visionloss.functional as VF

    modules = _modules_by_function()
    entries = [
        _entry(name, getattr(VF, name), modules.get(name, ""))
        for name in getattr(VF, "__all__", ())
        if callable(getattr(VF, name, None)) and _is_loss(name)
    ]
    for name in COMPOSITION:
        obj = getattr(visionloss, name, None)
        if obj is not None:
            entries.append(_entry(name, obj, name if inspect.isclass(obj) else ""))
    order = {f: i for i, f in enumerate(FAMILIES)}
    rank = {name: i for i, name in enumerate(NOTES)}  # DESIGN's order, new names after
    entries.sort(key=lambda e: (order.get(e.family, len(order)), rank.get(e.name, len(rank))))
    if family is not None:
        entries = [e for e in entries if e.family == family]
    return entries


def absent_families(entries: list[Entry]) -> list[str]:
    """Families of DESIGN's catalogue with no function in this install."""
    present = {e.family for e in entries}
    return [f for f in FAMILIES if f not in present]


FIELDS = ("name", "family", "summary", "formula", "defaults", "paper", "module")


def render_csv(entries: list[Entry]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for e in entries:
        writer.writerow(asdict(e))
    return out.getvalue()


def render_plain(entries: list[Entry]) -> str:
    """One tab-separated line per loss (same fields as the CSV), no header: for grep and cut."""
    return "".join("\t".join(getattr(e, f) for f in FIELDS) + "\n" for e in entries)


def render_json(entries: list[Entry]) -> str:
    return json.dumps([asdict(e) for e in entries], indent=2, ensure_ascii=False) + "\n"


RENDERERS: dict[str, Callable[[list[Entry]], str]] = {
    "csv": render_csv,
    "plain": render_plain,
    "json": render_json,
}


def table(entries: list[Entry], family: str | None = None, console_width: int | None = None) -> Any:
    """A rich Table: name (and Module), family, formula (and summary), defaults, paper.

    The docstring summaries are left out below 110 columns (``--format csv`` has them).
    """
    from rich.markup import escape
    from rich.table import Table

    title = "visionloss catalogue" + (f": {family}" if family else "")
    grid = Table(
        title=title,
        caption="every loss also takes weight=None and reduction='mean' (see README: Conventions)",
        show_lines=True,
        expand=False,
    )
    grid.add_column("name", style="bold cyan", no_wrap=True)
    if family is None:
        grid.add_column("family", style="magenta", no_wrap=True)
    grid.add_column("formula", ratio=3)
    grid.add_column("defaults", style="green", ratio=2)
    grid.add_column("paper", style="yellow", ratio=2)
    wide = console_width is None or console_width >= 110
    for e in entries:
        name = escape(e.name) + (f"\n[dim]{escape(e.module)}[/dim]" if e.module else "")
        lines = [escape(e.formula)] if e.formula not in ("", "-") else []
        if e.summary and wide:
            lines.append(f"[dim]{escape(e.summary)}[/dim]")
        cells = [name, e.family] if family is None else [name]
        grid.add_row(*cells, "\n".join(lines), escape(e.defaults), escape(e.paper))
    return grid
