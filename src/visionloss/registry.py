"""The registry of losses by name, and :func:`build_loss`, which builds a loss from an expression.

Every loss function of :mod:`visionloss.functional` is registered under its name without the
``_loss`` suffix (``"mse"``, ``"dice"``, ``"giou"``, ``"batch_triplet"``), plus the catalogue
functions whose names have no suffix (:data:`SUFFIXLESS`: ``"cross_entropy"``,
``"kl_divergence"``...). The catalogue part is read from ``visionloss.functional.__all__`` at every
look-up, never frozen at import time, so every function that the package exports is found and
helpers that are not losses (a box-format conversion, say) are not. Users add their own losses
with :func:`register`.

:func:`build_loss` reads an expression such as
``"dice(mode='multiclass') + 0.5 * cross_entropy(label_smoothing=0.1)"`` with the :mod:`ast`
module and builds it from a small whitelist; nothing is ever evaluated.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import keyword
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from ._core import describe

__all__ = [
    "MAX_EXPRESSION_LENGTH",
    "MAX_STRING_LENGTH",
    "SUFFIXLESS",
    "FunctionLoss",
    "available_losses",
    "build_loss",
    "get_loss",
    "register",
    "unregister",
]

# Catalogue functions that are losses although their names do not end in "_loss" (DESIGN.md,
# section 3). They are registered under their own name. Any other name of `functional.__all__`
# without the suffix is a helper (e.g. a box-format conversion) and is not registered.
SUFFIXLESS: frozenset[str] = frozenset(
    {
        "binary_cross_entropy",
        "cross_entropy",
        "kl_divergence",
        "gaussian_kl",
        "gradient_penalty",
        "r1_penalty",
    }
)

# Limits of build_loss: a loss expression is a line of configuration, not a program.
MAX_EXPRESSION_LENGTH: int = 1000
MAX_STRING_LENGTH: int = 100

_SUFFIX = "_loss"
_user: dict[str, Callable[..., Any]] = {}


# --- the registry ---------------------------------------------------------------------------------


def _catalogue() -> dict[str, Callable[..., Any]]:
    """The catalogue's functions by registry name, read from ``functional.__all__`` now."""
    from . import functional

    found: dict[str, Callable[..., Any]] = {}
    for attr in getattr(functional, "__all__", ()):
        if attr.endswith(_SUFFIX) and len(attr) > len(_SUFFIX):
            name = attr[: -len(_SUFFIX)]
        elif attr in SUFFIXLESS:
            name = attr
        else:
            continue  # a helper, not a loss
        function = getattr(functional, attr, None)
        if callable(function):
            found[name] = function
    return found


def _entries() -> dict[str, Callable[..., Any]]:
    # user registrations take precedence (they were checked against the catalogue when made,
    # unless override=True was asked for)
    return {**_catalogue(), **_user}


def available_losses() -> list[str]:
    """The names :func:`build_loss` and :func:`get_loss` accept, sorted.

    Example:
        >>> import visionloss
        >>> [name for name in visionloss.available_losses() if name in ("mse", "huber")]
        ['huber', 'mse']
    """
    return sorted(_entries())


def get_loss(name: str) -> Callable[..., Any]:
    """The loss registered as ``name``: a function, or an ``nn.Module`` class for user entries.

    Raises:
        ValueError: for an unknown name, with the closest registered names.

    Example:
        >>> import visionloss
        >>> visionloss.get_loss("huber").__name__
        'huber_loss'
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, got {describe(name)}")
    entries = _entries()
    if name not in entries:
        raise ValueError(f"name: expected a registered loss, got {name!r}{_suggest(name, entries)}")
    return entries[name]


def _suggest(name: str, entries: dict[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(entries), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"{hint} (available_losses() lists them all)"


def _default_name(obj: Any) -> str:
    raw = getattr(obj, "__name__", None)
    if not isinstance(raw, str):
        raise ValueError(
            f"register: expected a name for {describe(obj)}, which has no __name__; "
            "use @register('name')"
        )
    if isinstance(obj, type):
        # CamelCase to snake_case, keeping acronyms together: MSELoss -> mse_loss
        raw = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", raw)
        raw = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", raw).lower()
    if raw.endswith(_SUFFIX) and len(raw) > len(_SUFFIX):
        raw = raw[: -len(_SUFFIX)]
    return raw


def _check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, got {describe(name)}")
    # a name must read as a name in a build_loss expression; a leading underscore is refused
    # there (dunder names), so it is refused here too
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise ValueError(
            "name: expected a Python identifier that does not start with '_' and is not a "
            f"keyword, got {name!r}"
        )
    return name


def _register(obj: Any, name: str | None, override: bool) -> Any:
    if isinstance(obj, type):
        if not issubclass(obj, nn.Module):
            raise TypeError(f"register: expected a function or an nn.Module class, got class {obj}")
    elif not callable(obj):
        raise TypeError(f"register: expected a function or an nn.Module class, got {describe(obj)}")
    name = _check_name(_default_name(obj) if name is None else name)
    if not override:
        if name in _user:
            raise ValueError(
                f"name: {name!r} is already registered (by register, as {_user[name]!r}); pass "
                "override=True to replace it"
            )
        catalogue = _catalogue()
        if name in catalogue:
            raise ValueError(
                f"name: {name!r} is already registered (visionloss.functional."
                f"{catalogue[name].__name__}); pass override=True to replace it"
            )
    _user[name] = obj
    return obj


def register(name: Any = None, *, override: bool = False) -> Any:
    """Register a loss of your own under a name, for :func:`build_loss` and :func:`get_loss`.

    A decorator, used as ``@register``, ``@register()`` or ``@register("name")``. It returns the
    object unchanged. What can be registered:

    * a function ``fn(input, target, *, option=..., ...)``: ``build_loss("name(option=1)")``
      calls it with the options given as keywords (the options are its keyword-only parameters
      and its parameters with a default);
    * an ``nn.Module`` subclass: ``build_loss("name(option=1)")`` instantiates it with the
      options.

    The default name is the function's name (or the class name in snake_case) without a trailing
    ``_loss``: ``edge_loss`` is registered as ``"edge"``, ``EdgeAwareLoss`` as ``"edge_aware"``.

    Args:
        name: the name, a Python identifier that does not start with ``_``; ``None`` for the
            default name.
        override: replace an existing entry (a catalogue loss or an earlier registration) instead
            of raising ``ValueError``. Registrations take precedence over the catalogue.

    Example:
        >>> import torch, visionloss
        >>> @visionloss.register
        ... def edge_loss(input, target, *, scale=1.0):
        ...     return scale * (input.diff() - target.diff()).abs().mean()
        >>> "edge" in visionloss.available_losses()
        True
        >>> visionloss.build_loss("edge(scale=2.0)")(torch.tensor([0.0, 1.0]), torch.zeros(2))
        tensor(2.)
        >>> visionloss.compose.unregister("edge")
    """
    if not isinstance(override, bool):
        raise TypeError(f"override: expected a bool, got {describe(override)}")
    if name is not None and not isinstance(name, str):
        # used bare, as @register: `name` is the object being registered
        return _register(name, None, override)
    if name is not None:
        _check_name(name)

    def decorator(obj: Any) -> Any:
        return _register(obj, name, override)

    return decorator


def unregister(name: str) -> None:
    """Remove a loss registered with :func:`register` (catalogue losses cannot be removed)."""
    if name not in _user:
        raise ValueError(f"name: expected a loss registered with register(), got {name!r}")
    del _user[name]


# --- options: checked against the signature, values against the Module's checks ------------------


def _option_rules(obj: Any) -> tuple[list[str] | None, list[str]]:
    """``(accepted, required)`` option names of a function or class; ``accepted`` is ``None``
    when anything is accepted (``**kwargs``, or no signature to read)."""
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None, []
    is_class = isinstance(obj, type)
    accepted: list[str] = []
    required: list[str] = []
    var_keyword = False
    for p in parameters:
        if p.kind is p.VAR_KEYWORD:
            var_keyword = True
        elif p.kind is p.KEYWORD_ONLY or (
            p.kind is p.POSITIONAL_OR_KEYWORD and (is_class or p.default is not p.empty)
        ):
            # a function's positional parameters without a default are its data (input,
            # target...), not options
            accepted.append(p.name)
            if p.default is p.empty:
                required.append(p.name)
    return (None if var_keyword else accepted), required


def _check_options(loss: str, obj: Any, options: dict[str, Any]) -> None:
    accepted, required = _option_rules(obj)
    if accepted is not None:
        for option in options:
            if option not in accepted:
                listed = ", ".join(accepted) if accepted else "none"
                raise ValueError(
                    f"expression: unknown option {option!r} of the loss {loss!r} (its options: "
                    f"{listed})"
                )
    for option in required:
        if option not in options:
            raise ValueError(
                f"expression: the loss {loss!r} needs the option {option!r}, e.g. "
                f"{loss}({option}=...)"
            )


def _module_for(function: Callable[..., Any]) -> type[nn.Module] | None:
    """The Module of a catalogue function: the class of ``visionloss.__all__`` whose docstring's
    first line points to it ("Module form of :func:`huber_loss`"), when exactly one does."""
    import visionloss

    fn_name = getattr(function, "__name__", None)
    if not isinstance(fn_name, str):
        return None
    pattern = re.compile(r":func:`~?(?:[\w.]*\.)?" + re.escape(fn_name) + "`")
    found = []
    for attr in getattr(visionloss, "__all__", ()):
        obj = getattr(visionloss, attr, None)
        if isinstance(obj, type) and issubclass(obj, nn.Module) and obj.__doc__:
            first_line = obj.__doc__.strip().splitlines()[0]
            if pattern.search(first_line):
                found.append(obj)
    return found[0] if len(found) == 1 else None


def _validate_values(loss: str, function: Callable[..., Any], options: dict[str, Any]) -> None:
    """Run the option checks of the loss now, by building its Module with the options (a Module
    validates its options in ``__init__`` with the function's own checks)."""
    module = _module_for(function)
    if module is None:
        return  # checked by the function itself at the first call
    accepted, required = _option_rules(module)
    if accepted is not None and any(option not in accepted for option in options):
        return  # the Module's options differ from the function's; leave it to the call
    if any(option not in options for option in required):
        return
    try:
        module(**options)
    except (TypeError, ValueError) as error:
        raise ValueError(f"expression: {loss}: {error}") from error


class FunctionLoss(nn.Module):
    """A loss function with stored options, as a Module: ``forward(*inputs, **kwargs)`` returns
    ``function(*inputs, **options, **kwargs)``. :func:`build_loss` builds these."""

    def __init__(self, function: Callable[..., Tensor], /, **options: Any) -> None:
        super().__init__()
        if not callable(function):
            raise TypeError(f"function: expected a callable, got {describe(function)}")
        self.function = function
        self.options = dict(options)

    def forward(self, *inputs: Any, **kwargs: Any) -> Tensor:
        return self.function(*inputs, **self.options, **kwargs)

    def extra_repr(self) -> str:
        if isinstance(self.function, nn.Module):
            head = ""  # shown as a submodule
        else:
            head = getattr(self.function, "__name__", repr(self.function))
        shown = [f"{k}={v!r}" for k, v in self.options.items()]
        return ", ".join(([head] if head else []) + shown)


# --- build_loss: a whitelist over the ast of the expression -------------------------------------


@dataclass
class _Term:
    name: str
    options: dict[str, Any]
    weight: float


_REFUSED = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripting",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.Starred: "unpacking",
    ast.NamedExpr: "an assignment expression",
    ast.Compare: "a comparison",
    ast.BoolOp: "a boolean operator",
    ast.IfExp: "a conditional expression",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.List: "a list outside an option",
    ast.Tuple: "a tuple outside an option",
    ast.Slice: "a slice",
}

_OPERATORS = {
    ast.Sub: "-",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
    ast.Invert: "~",
    ast.Not: "not",
}

_ALLOWED = "loss names, calls with literal keyword options, numbers, '+' and '*'"


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.entries = _entries()

    def source(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.expression, node) or type(node).__name__
        return text if len(text) <= 60 else text[:57] + "..."

    def refuse(self, node: ast.AST, what: str) -> ValueError:
        column = getattr(node, "col_offset", 0)
        return ValueError(
            f"expression: refused {what}: {self.source(node)!r} at column {column} (allowed: "
            f"{_ALLOWED})"
        )

    def refuse_node(self, node: ast.AST) -> ValueError:
        what = _REFUSED.get(type(node))
        if what is None:
            what = f"the syntax {type(node).__name__}"
        return self.refuse(node, what)

    def number(self, node: ast.AST) -> float | None:
        """The value of a number literal (signs allowed), else ``None``."""
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            return float(value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            inner = self.number(node.operand)
            if inner is None:
                return None
            return -inner if isinstance(node.op, ast.USub) else inner
        return None

    def visit(self, node: ast.AST) -> float | list[_Term]:
        """A number, or the weighted terms of a sum of losses."""
        value = self.number(node)
        if value is not None:
            return value
        if isinstance(node, ast.Constant):
            return_what = "a string" if isinstance(node.value, str) else "a constant"
            raise self.refuse(node, f"{return_what} where a loss or a number was expected")
        if isinstance(node, ast.Name):
            return [_Term(self.loss_name(node, node.id), {}, 1.0)]
        if isinstance(node, ast.Call):
            return [self.call(node)]
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Add):
                left, right = self.visit(node.left), self.visit(node.right)
                if isinstance(left, float) or isinstance(right, float):
                    raise self.refuse(node, "adding a number (a loss term needs a loss)")
                return left + right
            if isinstance(node.op, ast.Mult):
                left, right = self.visit(node.left), self.visit(node.right)
                if isinstance(left, float) and isinstance(right, float):
                    return left * right
                if isinstance(left, list) and isinstance(right, list):
                    raise self.refuse(node, "a product of two losses")
                factor, terms = (left, right) if isinstance(left, float) else (right, left)
                return [_Term(t.name, t.options, t.weight * float(factor)) for t in terms]
            symbol = _OPERATORS.get(type(node.op), type(node.op).__name__)
            raise self.refuse(node, f"the operator {symbol!r}")
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                raise self.refuse(node, "a negated loss (weights must be >= 0)")
            symbol = _OPERATORS.get(type(node.op), type(node.op).__name__)
            raise self.refuse(node, f"the operator {symbol!r}")
        raise self.refuse_node(node)

    def loss_name(self, node: ast.AST, name: str) -> str:
        if name.startswith("_"):
            raise self.refuse(node, "a name starting with '_'")
        if name not in self.entries:
            raise ValueError(
                f"expression: expected a registered loss name, got {name!r} at column "
                f"{getattr(node, 'col_offset', 0)}{_suggest(name, self.entries)}"
            )
        return name

    def call(self, node: ast.Call) -> _Term:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                raise self.refuse(node.func, "attribute access")
            raise self.refuse(node, "a call of something other than a loss name")
        name = self.loss_name(node.func, node.func.id)
        if node.args:
            raise self.refuse(
                node.args[0], f"a positional argument of {name!r} (write {name}(option=value))"
            )
        options: dict[str, Any] = {}
        for item in node.keywords:
            if item.arg is None:
                raise self.refuse(item.value, "**kwargs")
            if item.arg.startswith("_"):
                raise self.refuse(item.value, f"the option name {item.arg!r}")
            options[item.arg] = self.literal(item.value, f"option {item.arg!r} of {name!r}")
        return _Term(name, options, 1.0)

    def literal(self, node: ast.AST, where: str) -> Any:
        """An option value: a number, a short string, a bool, None, a list/tuple of numbers."""
        value = self.number(node)
        if value is not None:
            # keep ints as ints (e.g. an ignore_index, a window size)
            if isinstance(node, ast.Constant):
                return node.value
            inner = node.operand  # type: ignore[attr-defined]
            if isinstance(inner, ast.Constant) and isinstance(inner.value, int):
                return int(value)
            return value
        if isinstance(node, ast.Constant):
            if node.value is None or isinstance(node.value, bool):
                return node.value
            if isinstance(node.value, str):
                if len(node.value) > MAX_STRING_LENGTH:
                    raise self.refuse(
                        node,
                        f"a string of {len(node.value)} characters in {where} (at most "
                        f"{MAX_STRING_LENGTH})",
                    )
                return node.value
            raise self.refuse(node, f"a {type(node.value).__name__} constant in {where}")
        if isinstance(node, ast.List | ast.Tuple):
            items = []
            for element in node.elts:
                number = self.number(element)
                if number is None:
                    raise self.refuse(
                        element, f"a list or tuple element that is not a number in {where}"
                    )
                items.append(self.literal(element, where))
            return items if isinstance(node, ast.List) else tuple(items)
        what = _REFUSED.get(type(node))
        if isinstance(node, ast.Call):
            what = "a call"
        elif isinstance(node, ast.Name):
            what = "a name"
        elif what is None:
            what = f"the syntax {type(node).__name__}"
        raise self.refuse(
            node,
            f"{what} as the value of {where} (expected a number, string, bool, None, or a "
            "list/tuple of numbers)",
        )


def _parse(expression: str) -> list[_Term]:
    if not isinstance(expression, str):
        raise TypeError(f"expression: expected a str, got {describe(expression)}")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ValueError(
            f"expression: expected at most {MAX_EXPRESSION_LENGTH} characters, got "
            f"{len(expression)}"
        )
    text = expression.strip()
    if not text:
        raise ValueError(
            "expression: expected a loss expression such as 'mse', got an empty string"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        detail = getattr(error, "msg", None) or str(error) or type(error).__name__
        raise ValueError(f"expression: expected valid Python syntax, got {detail}") from None
    parser = _Parser(text)
    result = parser.visit(tree.body)
    if isinstance(result, float):
        raise ValueError(f"expression: expected at least one loss, got only a number in {text!r}")
    for term in result:
        if not math.isfinite(term.weight) or term.weight < 0:
            raise ValueError(
                f"expression: expected finite weights >= 0, got {term.weight!r} for {term.name!r}"
            )
    return result


def _build_term(term: _Term) -> nn.Module:
    obj = _entries()[term.name]
    _check_options(term.name, obj, term.options)
    if isinstance(obj, type):
        try:
            return obj(**term.options)
        except (TypeError, ValueError) as error:
            raise ValueError(f"expression: {term.name}: {error}") from error
    _validate_values(term.name, obj, term.options)
    return FunctionLoss(obj, **term.options)


def build_loss(expression: str) -> nn.Module:
    """Build a loss from an expression: a weighted sum of registered losses with options.

    The grammar: a registered name (``"mse"``); a call with keyword options whose values are
    literals (``"huber(delta=2.0)"``: numbers, negative numbers, strings up to
    :data:`MAX_STRING_LENGTH` characters, ``True``/``False``/``None``, lists or tuples of numbers);
    ``+`` between losses; ``*`` between a number and a loss or a parenthesised sum
    (``"2 * (mse + mae)"``, ``"mae * 0.5"``). The expression is parsed with :mod:`ast` and walked
    over this whitelist; it is never evaluated. Everything else (attribute access, subscripts,
    calls of anything but a loss name, positional arguments, ``**kwargs``, names starting with
    ``_``, lambdas, comprehensions, f-strings, other operators, negative weights, more than
    :data:`MAX_EXPRESSION_LENGTH` characters) raises ``ValueError`` naming what was refused.

    Options are checked when the loss is built: an unknown or missing option raises
    ``ValueError`` naming it and the loss, and the values of a catalogue loss go through the same
    checks as its Module (``"huber(delta=-1)"`` raises here, not at the first call).

    Args:
        expression: the expression; names are those of :func:`available_losses`.

    Returns:
        A :class:`~visionloss.compose.CombinedLoss` with one part per term (a
        :class:`FunctionLoss` for a function, an instance for a registered Module class), named
        after the loss (``"mse"``, then ``"mse_2"``... when a loss appears again) and weighted by
        the product of its numeric factors. Its ``forward(*inputs, **kwargs)`` passes the same
        arguments to every part and returns the weighted sum; ``.parts`` holds the last value of
        each part.

    Raises:
        TypeError: ``expression`` is not a string.
        ValueError: anything refused, as above.

    Example:
        >>> import torch, visionloss
        >>> loss = visionloss.build_loss("mse + 0.5 * huber(delta=2.0)")
        >>> loss(torch.tensor([0.0, 3.0]), torch.zeros(2))  # 4.5 + 0.5 * 2.0
        tensor(5.5000)
        >>> sorted(loss.parts)
        ['huber', 'mse']
    """
    from .compose import CombinedLoss

    terms = _parse(expression)
    spec: dict[str, tuple[nn.Module, float]] = {}
    seen: dict[str, int] = {}
    for term in terms:
        seen[term.name] = seen.get(term.name, 0) + 1
        key = term.name if seen[term.name] == 1 else f"{term.name}_{seen[term.name]}"
        while key in spec:  # e.g. a user loss named "mse_2" next to two "mse"
            key += "_"
        spec[key] = (_build_term(term), term.weight)
    return CombinedLoss(spec)
