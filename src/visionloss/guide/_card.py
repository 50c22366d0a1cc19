"""The card of one loss and the evidence its claims name.

A claim's evidence is a tuple of strings, each of one kind, told by its form:

* ``tests/<file>.py::<test>``: a test of the suite that would fail if the claim were false;
* ``plot:<figure>``: a figure of ``visionloss plot`` (its name in ``visionloss.cli.plots.FIGURES``);
* ``demo:<task>/<loss>``: a row of the demo's multi-seed table (``docs/guide/demo-results.md``);
* ``paper:<citation>``: the literature the claim comes from.

Every advantage and disadvantage names at least one piece of evidence the project runs (a test,
a figure or a demo row); a citation alone is not enough.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["EVIDENCE_TESTS", "Card", "Claim", "demo", "evidence_kind", "paper", "plot", "test"]

#: the test file that holds the cards' evidence tests
EVIDENCE_TESTS = "tests/test_guide_evidence.py"


def test(name: str, file: str = EVIDENCE_TESTS) -> str:
    """The node id of a test (``tests/test_guide_evidence.py::name`` by default)."""
    return f"{file}::{name}"


def plot(figure: str) -> str:
    return f"plot:{figure}"


def demo(task: str, loss: str) -> str:
    return f"demo:{task}/{loss}"


def paper(citation: str) -> str:
    return f"paper:{citation}"


def evidence_kind(evidence: str) -> str:
    """``"test"``, ``"plot"``, ``"demo"`` or ``"paper"``."""
    if "::" in evidence and evidence.startswith("tests/"):
        return "test"
    kind = evidence.split(":", 1)[0]
    if kind in ("plot", "demo", "paper"):
        return kind
    raise ValueError(f"evidence: expected a test node id, plot:, demo: or paper:, got {evidence!r}")


@dataclass(frozen=True)
class Claim:
    """An advantage or a disadvantage, with the evidence that checks it."""

    text: str
    evidence: tuple[str, ...] = ()

    def runs(self) -> tuple[str, ...]:
        """The evidence the project runs (tests, figures, demo rows), not citations."""
        return tuple(e for e in self.evidence if evidence_kind(e) != "paper")


@dataclass(frozen=True)
class Card:
    """The guide's card of one loss, under the headings of the article this library grew from.

    The formula and the paper come from the loss's spec (one source); the card holds the prose.
    ``alternatives`` pairs a catalogue loss name with when to prefer it.
    """

    definition: str
    application: str
    advantages: tuple[Claim, ...]
    disadvantages: tuple[Claim, ...]
    alternatives: tuple[tuple[str, str], ...]
    references: tuple[str, ...] = field(default=())  # literature beyond the spec's paper
