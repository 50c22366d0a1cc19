"""The loss expressions of :func:`~visionloss.build_loss`, read with :mod:`ast`, never evaluated.

``"dice(mode='multiclass') + 0.5 * cross_entropy(label_smoothing=0.1)"`` becomes a list of terms
``(registry name, options, weight)``, walked over a small whitelist: names of registered losses
(any name form), calls with literal keyword options, numbers, ``+`` and ``*``.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

from ._core import describe
from .registry import lookup

__all__ = ["MAX_EXPRESSION_LENGTH", "MAX_STRING_LENGTH", "Term", "parse_expression"]

# Limits of build_loss: a loss expression is a line of configuration, not a program.
MAX_EXPRESSION_LENGTH: int = 1000
MAX_STRING_LENGTH: int = 100


@dataclass
class Term:
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

    def visit(self, node: ast.AST) -> float | list[Term]:
        """A number, or the weighted terms of a sum of losses."""
        value = self.number(node)
        if value is not None:
            return value
        if isinstance(node, ast.Constant):
            return_what = "a string" if isinstance(node.value, str) else "a constant"
            raise self.refuse(node, f"{return_what} where a loss or a number was expected")
        if isinstance(node, ast.Name):
            return [Term(self.loss_name(node, node.id), {}, 1.0)]
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
                if isinstance(left, float) and isinstance(right, list):
                    factor, terms = left, right
                elif isinstance(right, float) and isinstance(left, list):
                    factor, terms = right, left
                else:  # unreachable: the cases above cover every pair
                    raise self.refuse(node, "a product")
                return [Term(t.name, t.options, t.weight * factor) for t in terms]
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
        try:
            canonical, _ = lookup(name)
        except ValueError as error:
            # keep the registry's "did you mean ...?" hint
            hint = str(error).split(repr(name), 1)[-1]
            raise ValueError(
                f"expression: expected a registered loss name, got {name!r} at column "
                f"{getattr(node, 'col_offset', 0)}{hint}"
            ) from None
        return canonical

    def call(self, node: ast.Call) -> Term:
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
        return Term(name, options, 1.0)

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


def parse_expression(expression: str) -> list[Term]:
    """The weighted terms of a loss expression; ``ValueError`` naming what is refused."""
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
