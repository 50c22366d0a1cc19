"""``visionloss list``: the catalogue, read from the loss specs.

Every row of a loss comes from its :class:`~visionloss._core.LossSpec` in
:data:`visionloss.losses.SPECS` (registry, function and Module names, family, summary, LaTeX
formula, required options, defaults, paper); nothing is parsed from docstrings. The composition
tools, which are not losses and have no spec, are the short explicit list :data:`COMPOSITION`.
CSV, JSON and plain output keep the LaTeX; the rich table shows it as text
(:func:`latex_to_text`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from ._util import FAMILIES

if TYPE_CHECKING:
    from .._core import LossSpec

__all__ = [
    "COMPOSITION",
    "FIELDS",
    "RENDERERS",
    "Entry",
    "catalogue",
    "entry",
    "latex_to_text",
    "render_csv",
    "render_json",
    "render_plain",
    "select",
    "table",
]

# options every loss shares (DESIGN section 2): left out of the defaults column
SHARED_OPTIONS = ("reduction",)


@dataclass(frozen=True)
class Entry:
    """One row of the catalogue.

    ``name`` is the registry name of a loss (what :func:`visionloss.build_loss` reads), or the
    public name of a composition tool; ``function`` and ``module`` are "" where there is none.
    """

    name: str
    function: str
    module: str
    family: str
    summary: str
    formula: str  # LaTeX
    required: str  # "mode": options without a default
    defaults: str  # "delta=1.0": options with one, reduction left out
    paper: str


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Entry))


def _tool(
    name: str,
    summary: str,
    *,
    function: str = "",
    module: str = "",
    formula: str = "",
    required: str = "",
    defaults: str = "",
    paper: str = "",
) -> Entry:
    return Entry(name, function, module, "composition", summary, formula, required, defaults, paper)


#: the composition tools: not losses (no spec), listed after them
COMPOSITION: tuple[Entry, ...] = (
    _tool(
        "CombinedLoss",
        "A fixed weighted sum of losses; keeps the last detached value of each part for logging.",
        module="CombinedLoss",
        formula=r"\sum_i w_i L_i",
    ),
    _tool(
        "MultiTaskLoss",
        "The total of several task losses: fixed, uncertainty, DWA or GradNorm weighting.",
        module="MultiTaskLoss",
        formula=r"\sum_i \tfrac12 e^{-s_i} L_i + \tfrac12 s_i \text{ (uncertainty)}",
        required="tasks",
        defaults="weighting='fixed', weights=None, shared_parameters=None",
        paper="A. Kendall, Y. Gal, R. Cipolla, Multi-Task Learning Using Uncertainty to Weigh "
        "Losses, CVPR 2018, arXiv:1705.07115",
    ),
    _tool(
        "class_weights",
        "Per-class weights from class counts (inverse, inverse_sqrt, effective_number), mean 1.",
        function="class_weights",
        formula=r"\frac{1 - \beta}{1 - \beta^{n_c}} \text{ (effective number)}",
        required="counts",
        defaults="scheme='inverse', beta=0.999",
        paper="Y. Cui et al., Class-Balanced Loss Based on Effective Number of Samples, CVPR 2019, "
        "arXiv:1901.05555",
    ),
    _tool(
        "build_loss",
        "A loss from an expression, a mapping, a list of mappings or an OmegaConf configuration; "
        "takes the registry name, the function name or the Module name of each loss.",
        function="build_loss",
        required="config",
    ),
)


def _options(values: Iterable[tuple[str, Any]]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in values)


def entry(spec: LossSpec) -> Entry:
    """The row of one loss, from its spec."""
    defaults = ((k, v) for k, v in spec.defaults.items() if k not in SHARED_OPTIONS)
    return Entry(
        name=spec.name,
        function=spec.function_name,
        module=spec.module_name or "",
        family=spec.family,
        summary=spec.summary,
        formula=spec.formula,
        required=", ".join(spec.required),
        defaults=_options(defaults),
        paper=spec.paper,
    )


def catalogue(family: str | None = None) -> list[Entry]:
    """Every loss of :data:`visionloss.losses.SPECS`, then the composition tools, in catalogue
    order; only ``family``'s rows when it is given."""
    from visionloss.losses import SPECS

    rank = {f: i for i, f in enumerate(FAMILIES)}
    rows = [entry(spec) for spec in SPECS] + list(COMPOSITION)
    rows.sort(key=lambda e: rank[e.family])  # stable: SPECS order inside a family
    return [e for e in rows if family is None or e.family == family]


def select(entries: Sequence[Entry], names: Sequence[str]) -> list[Entry]:
    """The rows of ``names``, in the order given; a loss may be named by its registry name,
    function name or Module name. ``ValueError`` (with the closest names) for an unknown one."""
    import visionloss

    by_name = {e.name: e for e in entries}
    chosen: list[Entry] = []
    for name in names:
        tool = name in {e.name for e in COMPOSITION}
        row = by_name.get(name if tool else visionloss.loss_info(name).name)
        if row is not None and row not in chosen:
            chosen.append(row)
    return chosen


def render_csv(entries: Sequence[Entry]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for e in entries:
        writer.writerow(asdict(e))
    return out.getvalue()


def render_plain(entries: Sequence[Entry]) -> str:
    """One tab-separated line per row (the CSV's fields), no header: for grep and cut."""
    return "".join("\t".join(getattr(e, f) for f in FIELDS) + "\n" for e in entries)


def render_json(entries: Sequence[Entry]) -> str:
    return json.dumps([asdict(e) for e in entries], indent=2, ensure_ascii=False) + "\n"


RENDERERS: dict[str, Callable[[Sequence[Entry]], str]] = {
    "csv": render_csv,
    "plain": render_plain,
    "json": render_json,
}


# --- LaTeX as text, for the terminal ---------------------------------------------------------------

_GREEK = "alpha beta gamma delta epsilon varepsilon zeta eta theta kappa lambda mu nu pi rho"
_GREEK += " sigma tau phi chi psi omega Delta Sigma Omega"
_OPERATORS = "le leq ge geq ne neq approx cdot times odot pm in infty partial nabla sum prod cap"
_OPERATORS += " cup setminus lvert rvert lVert rVert top quad qquad"
_SYMBOLS = {
    **dict(zip(_GREEK.split(), "αβγδεεζηθκλμνπρστφχψωΔΣΩ", strict=True)),
    **dict(zip(_OPERATORS.split(), "≤≤≥≥≠≠≈·×⊙±∈∞∂∇ΣΠ∩∪∖||‖‖⊤  ", strict=True)),
}
_WORDS = ("log", "exp", "cosh", "sinh", "tanh", "max", "min", "sup", "inf", "arg", "sign")
_TEXT_GROUPS = ("text", "mathrm", "operatorname", "mathbf", "mathit", "mathcal", "boldsymbol")
_DROPPED = ("left", "right", "big", "Big", "bigl", "bigr", "Bigl", "Bigr", "displaystyle")
_FRACTIONS = {("1", "2"): "½", ("1", "3"): "⅓", ("2", "3"): "⅔", ("1", "4"): "¼", ("3", "4"): "¾"}
_SUPERSCRIPT_CHARS = "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ⁿ"
_SUPERSCRIPTS = str.maketrans("0123456789+-n", _SUPERSCRIPT_CHARS)


def latex_to_text(formula: str) -> str:
    r"""A LaTeX formula as readable text for a terminal, for the catalogue table.

    Covers what the specs use, and no more: Greek letters and relations (``\alpha`` -> α,
    ``\le`` -> ≤), ``\frac{a}{b}`` -> a/b with parentheses around a compound part
    (``\tfrac12`` -> ½), ``\sqrt{x}`` -> √x, ``x^2`` -> x², ``x^{a/2}`` -> x^(a/2); ``\left``,
    ``\right`` and spacing commands are dropped and ``\text{...}`` keeps its text. An unknown
    command is shown without its backslash.

    >>> latex_to_text(r"\tfrac12 d^2 \text{ if } |d| \le \delta")
    '½ d² if |d| ≤ δ'
    """
    return " ".join(_Latex(formula).convert().split())


def _parenthesised(text: str) -> str:
    """``text`` as one operand: in parentheses unless it is one symbol, a number, a name, or
    already enclosed (``(d/c)²``, ``|x - y|``). ``2β`` gets them: 1/(2β), not 1/2β."""
    if len(text) <= 1 or text.isdigit() or (text.isascii() and text.isalpha()):
        return text
    base = text.rstrip(_SUPERSCRIPT_CHARS)
    if base[:1] == "(" and _closing(base, 0) == len(base) - 1:
        return text
    if text[0] == text[-1] == "|" and text.count("|") == 2:
        return text
    return f"({text})"


def _closing(text: str, start: int) -> int:
    """The index of the bracket that closes the one at ``start`` (-1 if none)."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return -1


class _Latex:
    """A one-pass reader of a LaTeX formula (see :func:`latex_to_text`)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.at = 0

    def convert(self) -> str:
        out: list[str] = []
        while self.at < len(self.source):
            out.append(self._next())
        return "".join(out)

    def _sub(self, source: str) -> str:
        return _Latex(source).convert()

    def _next(self) -> str:
        char = self.source[self.at]
        self.at += 1
        if char == "\\":
            return self._command()
        if char == "{":
            return self._sub(self._group())
        if char == "}":
            return ""
        if char == "^":
            power = self._sub(self._argument()).strip()
            if power and all(c in "0123456789+-n" for c in power):
                return power.translate(_SUPERSCRIPTS)
            return "^" + _parenthesised(power)
        if char == "_":
            return "_" + _parenthesised(self._sub(self._argument()).strip())
        return char

    def _command(self) -> str:
        start = self.at
        while self.at < len(self.source) and self.source[self.at].isalpha():
            self.at += 1
        name = self.source[start : self.at]
        if not name:  # a one-character command: \, \; \! \| \{ \}
            char = self.source[self.at : self.at + 1]
            self.at += 1
            return {",": " ", ";": " ", ":": " ", " ": " ", "!": "", "|": "‖"}.get(char, char)
        if name in ("frac", "tfrac", "dfrac"):
            top = self._sub(self._argument()).strip()
            bottom = self._sub(self._argument()).strip()
            if (top, bottom) in _FRACTIONS:
                return _FRACTIONS[top, bottom]
            return f"{_parenthesised(top)}/{_parenthesised(bottom)}"
        if name == "sqrt":
            return "√" + _parenthesised(self._sub(self._argument()).strip())
        if name in _TEXT_GROUPS:
            return self._sub(self._argument())
        if name in _DROPPED:
            return ""
        if name in _WORDS:  # log cosh(x), not logcosh(x)
            following = self.source[self.at : self.at + 1]
            return name + (" " if following.isalnum() or following == "\\" else "")
        return _SYMBOLS.get(name, name)

    def _argument(self) -> str:
        """The next argument's source: a {group}, a \\command or one character."""
        while self.at < len(self.source) and self.source[self.at] == " ":
            self.at += 1
        if self.at >= len(self.source):
            return ""
        char = self.source[self.at]
        self.at += 1
        if char == "{":
            return self._group()
        if char == "\\":
            start = self.at - 1
            while self.at < len(self.source) and self.source[self.at].isalpha():
                self.at += 1
            if self.at == start + 1:  # a one-character command
                self.at += 1
            return self.source[start : self.at]
        return char

    def _group(self) -> str:
        """The source up to the brace closing the one just read (which is not included)."""
        depth, start = 1, self.at
        while self.at < len(self.source):
            char = self.source[self.at]
            self.at += 1
            if char == "\\":
                self.at += 1  # an escaped brace does not count
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return self.source[start : self.at - 1]
        return self.source[start:]


# --- the rich table -------------------------------------------------------------------------------


def table(
    entries: Sequence[Entry], family: str | None = None, console_width: int | None = None
) -> Any:
    """A rich Table: names (registry, function, Module), family, formula as text (and the
    summary), options (required, then defaults), paper.

    The summaries are left out below 110 columns (``--format csv`` has them).
    """
    from rich.markup import escape
    from rich.table import Table

    title = "visionloss catalogue" + (f": {family}" if family else "")
    grid = Table(
        title=title,
        caption="every loss also takes reduction='mean' (and weight=None where it has one); "
        "build_loss and loss_info accept any of the three names",
        show_lines=True,
        expand=False,
    )
    grid.add_column("name\n[dim]function\nModule[/dim]", style="bold cyan", no_wrap=True)
    if family is None:
        grid.add_column("family", style="magenta", no_wrap=True)
    grid.add_column("formula", ratio=3)
    grid.add_column("options", style="green", ratio=2)
    grid.add_column("paper", style="yellow", ratio=2)
    wide = console_width is None or console_width >= 110
    for e in entries:
        aliases = [a for a in (e.function, e.module) if a and a != e.name]
        name = "\n".join([escape(e.name), *(f"[dim]{escape(a)}[/dim]" for a in aliases)])
        lines = [escape(latex_to_text(e.formula))] if e.formula else []
        if e.summary and wide:
            lines.append(f"[dim]{escape(e.summary)}[/dim]")
        required = ", ".join(f"{option}=…" for option in e.required.split(", ") if option)
        options = "\n".join(part for part in (required, e.defaults) if part)
        cells = [name, e.family] if family is None else [name]
        grid.add_row(*cells, "\n".join(lines), escape(options), escape(e.paper))
    return grid
