"""The guide: a card per catalogue loss, with evidence the project runs, and :func:`advise`.

Each family has a module of cards (``CARDS = {"huber": Card(...), ...}``); :data:`CARDS` is all of
them. The card's formula and paper are the spec's (one source), the card holds the prose: under the
headings of the article this library grew from (Definition, Formula, Application, Advantages,
Disadvantages) plus Alternatives and Evidence. Every advantage and disadvantage names evidence: a
test of the suite, a figure of ``visionloss plot`` or a row of the demo's multi-seed table, and the
paper when the claim comes from one.

:func:`attach` fills each spec's ``card`` field (``None`` where it is declared) with the card as a
read-only mapping; ``import visionloss`` calls it, so ``visionloss.loss_info("dice").card`` is the
card. Imports run one way: cli -> guide -> losses.

>>> import visionloss
>>> card = visionloss.guide.card_for("HuberLoss")
>>> card.advantages[0].text.startswith("An outlier's gradient is bounded by delta")
True
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Mapping
from typing import Any

from .._core import LossSpec
from . import boxes, classification, embedding, generative, regression, segmentation
from ._card import Card, Claim, evidence_kind

__all__ = [
    "CARDS",
    "Card",
    "Claim",
    "attach",
    "card_dict",
    "card_for",
    "cards_markdown",
    "evidence_kind",
    "render",
]

CARDS: dict[str, Card] = {
    **regression.CARDS,
    **classification.CARDS,
    **segmentation.CARDS,
    **boxes.CARDS,
    **embedding.CARDS,
    **generative.CARDS,
}

#: where the demo's multi-seed table lives (the ``demo:`` evidence rows)
DEMO_TABLE = "docs/guide/demo-results.md"
#: the headings, in order
HEADINGS = (
    "Definition",
    "Formula",
    "Application",
    "Advantages",
    "Disadvantages",
    "Alternatives",
    "Evidence",
)


def _spec(name: str) -> LossSpec:
    from ..registry import loss_info

    return loss_info(name)


def card_for(name: str) -> Card:
    """The card of a catalogue loss, by any name form (``dice``, ``dice_loss``, ``DiceLoss``)."""
    spec = _spec(name)
    try:
        return CARDS[spec.name]
    except KeyError:
        raise ValueError(f"name: {name!r} has no card in the guide yet") from None


def card_dict(name: str) -> dict[str, Any]:
    """The full card as plain data (JSON-ready): spec fields plus the card, evidence by kind."""
    spec = _spec(name)
    card = card_for(spec.name)

    def claims(items: tuple[Claim, ...]) -> list[dict[str, Any]]:
        return [
            {
                "text": c.text,
                "evidence": [{"kind": evidence_kind(e), "ref": _ref(e)} for e in c.evidence],
            }
            for c in items
        ]

    evidence = sorted({e for c in (*card.advantages, *card.disadvantages) for e in c.evidence})
    return {
        "name": spec.name,
        "function": spec.function_name,
        "module": spec.module_name,
        "family": spec.family,
        "summary": spec.summary,
        "definition": card.definition,
        "formula": spec.formula,
        "application": card.application,
        "advantages": claims(card.advantages),
        "disadvantages": claims(card.disadvantages),
        "alternatives": [{"loss": n, "when": w} for n, w in card.alternatives],
        "evidence": [{"kind": evidence_kind(e), "ref": _ref(e)} for e in evidence],
        "paper": spec.paper,
        "references": list(card.references),
    }


def _ref(evidence: str) -> str:
    kind = evidence_kind(evidence)
    return evidence if kind == "test" else evidence.split(":", 1)[1]


def _evidence_line(evidence: str) -> str:
    kind = evidence_kind(evidence)
    ref = _ref(evidence)
    if kind == "test":
        return f"test: {ref}"
    if kind == "plot":
        return f"figure: visionloss plot --only {ref} ({ref}.png)"
    if kind == "demo":
        return f"demo row: {ref} ({DEMO_TABLE})"
    return f"paper: {ref}"


def render(name: str, format: str = "text", formula: Callable[[str], str] | None = None) -> str:
    """The card as ``"text"`` (plain headings), ``"markdown"`` or ``"json"``; ``formula`` turns
    the LaTeX formula into text for the ``"text"`` format (the command line passes its own)."""
    data = card_dict(name)
    if format == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if format not in ("text", "markdown"):
        raise ValueError(f"format: expected 'text', 'markdown' or 'json', got {format!r}")
    md = format == "markdown"
    number = {"test": 0}
    index: dict[str, int] = {}
    for claim in (*data["advantages"], *data["disadvantages"]):
        for e in claim["evidence"]:
            key = f"{e['kind']}:{e['ref']}"
            if key not in index:
                number["test"] += 1
                index[key] = number["test"]

    def heading(text: str) -> str:
        return f"\n### {text}\n" if md else f"\n{text}\n{'-' * len(text)}"

    def claim_lines(items: list[dict[str, Any]]) -> list[str]:
        out = []
        for c in items:
            refs = ", ".join(f"[{index[e['kind'] + ':' + e['ref']]}]" for e in c["evidence"])
            out.append(f"- {c['text']} {refs}")
        return out

    title = f"{data['name']} ({data['function']}, {data['module']}; {data['family']})"
    if md:
        # the heading is the registry name alone, so that its anchor is cards.md#<name>
        names = f"`{data['function']}`, `{data['module']}`; {data['family']}"
        lines = [f"## {data['name']}", "", f"*{names}.* {data['summary']}"]
    else:
        lines = [title, "=" * len(title), data["summary"]]
    lines += [heading("Definition"), data["definition"]]
    latex = data["formula"]
    shown = f"$$\n{latex}\n$$" if md else (formula(latex) if formula else latex)
    lines += [heading("Formula"), shown]
    lines += [heading("Application"), data["application"]]
    lines += [heading("Advantages"), *claim_lines(data["advantages"])]
    lines += [heading("Disadvantages"), *claim_lines(data["disadvantages"])]
    lines += [heading("Alternatives")]
    lines += [
        f"- {'`' + a['loss'] + '`' if md else a['loss']}: {a['when']}" for a in data["alternatives"]
    ]
    lines += [heading("Evidence")]
    for key, i in sorted(index.items(), key=lambda kv: kv[1]):
        evidence = key.split(":", 1)[1] if key.startswith("test:") else key
        line = _evidence_line(evidence)
        lines.append(f"{i}. {'`' + line + '`' if md and line.startswith('test:') else line}")
    if data["paper"]:
        lines += [heading("Paper"), data["paper"]]
    return "\n".join(lines) + "\n"


def cards_markdown() -> str:
    """Every card in Markdown, in catalogue order, each behind an anchor named after the loss
    (``docs/guide/cards.md`` is this text; a test keeps it in step with the cards)."""
    from ..losses import SPECS

    parts = [
        "# The cards\n\n"
        "Generated from the guide's cards (`visionloss.guide.cards_markdown()`); do not edit by "
        "hand. `visionloss explain NAME` prints the same card. Evidence: `tests/...` names a test "
        "of the suite, *figure* a figure of `visionloss plot`, *demo row* a row of "
        "[the demo's multi-seed table](demo-results.md).\n"
    ]
    for spec in SPECS:
        parts.append("\n" + render(spec.name, "markdown"))
    return "".join(parts)


def attach(specs: tuple[LossSpec, ...] | None = None) -> None:
    """Fill each spec's ``card`` field with its card (a read-only mapping of :func:`card_dict`'s
    prose fields). Specs are frozen for users; the guide fills the one field their declaration
    leaves ``None``, once, at import."""
    from ..losses import SPECS

    for spec in SPECS if specs is None else specs:
        card = CARDS.get(spec.name)
        if card is None or spec.card is not None:
            continue
        mapping: Mapping[str, Any] = types.MappingProxyType(
            {
                "definition": card.definition,
                "application": card.application,
                "advantages": card.advantages,
                "disadvantages": card.disadvantages,
                "alternatives": card.alternatives,
                "references": card.references,
            }
        )
        object.__setattr__(spec, "card", mapping)
