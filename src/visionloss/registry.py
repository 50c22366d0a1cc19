"""The name table of the catalogue, read from the families' specs, and user registrations.

Every catalogue loss is known under three names: its registry name (the function's name without
``_loss``: ``"dice"``, ``"cross_entropy"``), its function name (``"dice_loss"``) and its Module
name (``"DiceLoss"``). :func:`loss_info` returns its :class:`~visionloss._core.LossSpec`;
:func:`available_losses` lists the registry names. Users add losses of their own with
:func:`register`. Nothing here parses docstrings: the specs are the one source.

Imports run one way: ``compose`` (``build_loss``) -> ``registry`` -> ``losses``.
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from torch import nn

from ._core import LossSpec, describe
from .losses import SPECS

__all__ = [
    "available_losses",
    "get_loss",
    "loss_info",
    "lookup",
    "register",
    "unregister",
]

_SUFFIX = "_loss"
_user: dict[str, Callable[..., Any]] = {}
T = TypeVar("T")


@cache
def _aliases() -> dict[str, LossSpec]:
    """Every name form of every catalogue loss -> its spec (registry name first)."""
    table: dict[str, LossSpec] = {}
    for spec in SPECS:
        table[spec.name] = spec
    for spec in SPECS:
        table.setdefault(spec.function_name, spec)
        if spec.module_name is not None:
            table.setdefault(spec.module_name, spec)  # a shared Module: its first spec
    return table


def _suggest(name: str) -> str:
    forms = [*_aliases(), *_user]
    close = difflib.get_close_matches(name, forms, n=3, cutoff=0.6)
    if not close:
        lowered = {form.lower(): form for form in forms}
        close = [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=3)]
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"{hint} (available_losses() lists them all)"


def lookup(name: str) -> tuple[str, LossSpec | Callable[..., Any]]:
    """``(registry name, spec or user entry)`` for any name form; ``ValueError`` with the
    closest names for an unknown one. User registrations take precedence."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, got {describe(name)}")
    if name in _user:
        return name, _user[name]
    spec = _aliases().get(name)
    if spec is None:
        raise ValueError(f"name: expected a registered loss, got {name!r}{_suggest(name)}")
    return spec.name, spec


def available_losses() -> list[str]:
    """The registry names, sorted; :func:`build_loss` also accepts function and Module names.

    Example:
        >>> import visionloss
        >>> [name for name in visionloss.available_losses() if name in ("mse", "huber")]
        ['huber', 'mse']
    """
    return sorted({spec.name for spec in SPECS} | set(_user))


def loss_info(name: str) -> LossSpec:
    """The spec of a catalogue loss: function, Module, options, family, formula, paper, card.

    Accepts the registry name, the function name or the Module name.

    Example:
        >>> import visionloss
        >>> info = visionloss.loss_info("DiceLoss")
        >>> info.name, info.function.__name__, info.family, info.required
        ('dice', 'dice_loss', 'segmentation', ('mode',))
    """
    _, entry = lookup(name)
    if not isinstance(entry, LossSpec):
        raise ValueError(
            f"name: expected a catalogue loss, got {name!r}, a loss added with register() "
            "(it has no spec)"
        )
    return entry


def get_loss(name: str) -> Callable[..., Any]:
    """The function of a catalogue loss (any name form), or a user registration as registered.

    Example:
        >>> import visionloss
        >>> visionloss.get_loss("HuberLoss").__name__
        'huber_loss'
    """
    _, entry = lookup(name)
    return entry.function if isinstance(entry, LossSpec) else entry


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


def check_name(name: Any) -> str:
    """A registrable name: an identifier, not a keyword, not starting with ``_``."""
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


def _register(obj: T, name: str | None, override: bool) -> T:
    if isinstance(obj, type):
        if not issubclass(obj, nn.Module):
            raise TypeError(f"register: expected a function or an nn.Module class, got class {obj}")
    elif not callable(obj):
        raise TypeError(f"register: expected a function or an nn.Module class, got {describe(obj)}")
    name = check_name(_default_name(obj) if name is None else name)
    if not override:
        if name in _user:
            raise ValueError(
                f"name: {name!r} is already registered (by register, as {_user[name]!r}); pass "
                "override=True to replace it"
            )
        spec = _aliases().get(name)
        if spec is not None:
            raise ValueError(
                f"name: {name!r} is already registered (visionloss.functional."
                f"{spec.function_name}); pass override=True to replace it"
            )
    _user[name] = obj  # type: ignore[assignment]  # T is a callable, checked above
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
        check_name(name)

    def decorator(obj: T) -> T:
        return _register(obj, name, override)

    return decorator


def unregister(name: str) -> None:
    """Remove a loss registered with :func:`register` (catalogue losses cannot be removed)."""
    if name not in _user:
        raise ValueError(f"name: expected a loss registered with register(), got {name!r}")
    del _user[name]
