"""Composition: weighted sums of losses, multi-task weighting, class-weight schemes, the registry.

* :class:`CombinedLoss`: a fixed weighted sum of losses called with the same inputs, with the
  last value of each part kept for logging.
* :class:`MultiTaskLoss` (from :mod:`visionloss.multitask`): the total of several task losses
  with fixed, uncertainty (Kendall 2018), dynamic weight average (Liu 2019) or GradNorm (Chen
  2018) weights.
* :func:`class_weights`: per-class weights from class counts (inverse, inverse square root,
  effective number of samples of Cui 2019).
* :func:`build_loss`: a loss from an expression, a mapping, a list of mappings or an
  OmegaConf/Hydra configuration, by any name form of the registry (:mod:`visionloss.registry`,
  whose ``register``/``get_loss``/``available_losses`` are re-exported here).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ._core import LossSpec, check_choice, check_loss_weight, check_number, compute_dtype, describe
from ._expression import MAX_EXPRESSION_LENGTH, MAX_STRING_LENGTH, Term, parse_expression
from .multitask import WEIGHTINGS, MultiTaskLoss
from .registry import available_losses, get_loss, lookup, loss_info, register, unregister

__all__ = [
    "CLASS_WEIGHT_SCHEMES",
    "MAX_EXPRESSION_LENGTH",
    "MAX_STRING_LENGTH",
    "WEIGHTINGS",
    "CombinedLoss",
    "FunctionLoss",
    "MultiTaskLoss",
    "available_losses",
    "build_loss",
    "class_weights",
    "get_loss",
    "loss_info",
    "register",
    "unregister",
]

CLASS_WEIGHT_SCHEMES: tuple[str, ...] = ("inverse", "inverse_sqrt", "effective_number")


# --- CombinedLoss ---------------------------------------------------------------------------------


class CombinedLoss(nn.Module):
    r"""A weighted sum of losses called with the same inputs.

    .. math::
        L = \sum_k w_k \, L_k(\text{inputs})

    Each part is a callable: a loss Module (registered as a submodule, so its parameters and
    buffers follow ``.to()``, ``.parameters()`` and the ``state_dict``) or a function. ``forward``
    passes its positional and keyword arguments unchanged to every part (e.g.
    ``loss(logits, target)``, or ``loss(x, y, weight=w)`` when every part takes a ``weight``).
    A part with weight 0 is still computed (its value is logged).

    After each call, :attr:`parts` maps each part's name to its last value, detached and
    unweighted (a 0-dim tensor when the part reduces to a scalar): ready for logging, no host
    synchronisation until you read it.

    Args:
        losses: a mapping ``{name: (loss, weight)}``; ``name`` a non-empty string without ``.``,
            ``loss`` a callable, ``weight`` a finite real number >= 0. The order of the mapping is
            the order of the sum.

    Attributes:
        weights: ``{name: weight}`` as floats. Change a weight with :meth:`set_weight` (checked).
        parts: ``{name: last value}``, empty before the first call.

    Example:
        >>> import torch, visionloss
        >>> import visionloss.functional as VF
        >>> loss = visionloss.CombinedLoss(
        ...     {"l2": (visionloss.MSELoss(), 1.0), "l1": (VF.mae_loss, 0.5)}
        ... )
        >>> loss(torch.tensor([0.0, 3.0]), torch.zeros(2))  # 4.5 + 0.5 * 1.5
        tensor(5.2500)
        >>> loss.parts
        {'l2': tensor(4.5000), 'l1': tensor(1.5000)}
    """

    def __init__(self, losses: Mapping[str, tuple[Callable[..., Tensor], float]]) -> None:
        super().__init__()
        if not isinstance(losses, Mapping):
            raise TypeError(
                f"losses: expected a mapping {{name: (loss, weight)}}, got {describe(losses)}"
            )
        if not losses:
            raise ValueError(
                "losses: expected at least one (loss, weight) pair, got an empty mapping"
            )
        self.losses = nn.ModuleDict()
        self._functions: dict[str, Callable[..., Tensor]] = {}
        self._names: list[str] = []
        self.weights: dict[str, float] = {}
        for name, spec in losses.items():
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(
                    f"losses: expected names that are non-empty strings without '.', got "
                    f"{describe(name)}"
                )
            where = f"losses[{name!r}]"
            if (
                isinstance(spec, str | bytes)
                or not isinstance(spec, Sequence)
                or len(spec) != 2
                or not callable(spec[0])
            ):
                raise TypeError(
                    f"{where}: expected a (loss, weight) pair with a callable loss and a number "
                    f"weight, got {describe(spec)}"
                )
            loss, weight = spec
            self.weights[name] = check_loss_weight(weight, f"{where} weight")
            if isinstance(loss, nn.Module):
                try:
                    self.losses[name] = loss
                except KeyError as error:  # a name ModuleDict reserves ("keys", "training"...)
                    raise ValueError(
                        f"losses: expected a name that is not an attribute of nn.ModuleDict, got "
                        f"{name!r}"
                    ) from error
            else:
                self._functions[name] = loss
            self._names.append(name)
        self.parts: dict[str, Tensor] = {}

    def set_weight(self, name: str, weight: float) -> None:
        """Change the weight of a part (e.g. on a schedule); checked like the constructor's."""
        if name not in self.weights:
            raise ValueError(f"name: expected one of {self._names}, got {describe(name)}")
        self.weights[name] = check_loss_weight(weight, "weight")

    def forward(self, *inputs: Any, **kwargs: Any) -> Tensor:
        total: Tensor | None = None
        for name in self._names:
            part = self._functions[name] if name in self._functions else self.losses[name]
            value = part(*inputs, **kwargs)
            self.parts[name] = value.detach()
            weighted = value * self.weights[name]
            total = weighted if total is None else total + weighted
        return total  # type: ignore[return-value]  # at least one part, checked in __init__

    def extra_repr(self) -> str:
        shown = []
        for name in self._names:
            kind = (
                "" if name not in self._functions else f" {_callable_name(self._functions[name])}"
            )
            shown.append(f"{name}:{kind} weight={self.weights[name]!r}")
        return ", ".join(shown)


def _callable_name(function: Callable[..., Any]) -> str:
    return getattr(function, "__name__", type(function).__name__)


# --- class_weights --------------------------------------------------------------------------------


def class_weights(
    counts: Tensor | Sequence[float], *, scheme: str = "inverse", beta: float = 0.999
) -> Tensor:
    r"""Per-class weights from class counts, normalised to mean 1 over the classes present.

    .. math::
        \text{inverse: } v_c = \frac{1}{n_c}, \quad
        \text{inverse\_sqrt: } v_c = \frac{1}{\sqrt{n_c}}, \quad
        \text{effective\_number: } v_c = \frac{1 - \beta}{1 - \beta^{n_c}}, \qquad
        w_c = \frac{v_c}{\frac{1}{|P|}\sum_{k \in P} v_k}

    where :math:`P` is the set of classes with :math:`n_c > 0`. ``"effective_number"`` is Cui
    et al.'s class-balanced weight, the inverse of the effective number of samples
    :math:`(1 - \beta^{n})/(1 - \beta)`; it goes from uniform (:math:`\beta = 0`) towards
    ``"inverse"`` as :math:`\beta \to 1`. It is computed as
    :math:`(1-\beta) / (-\mathrm{expm1}(n \log \beta))`, accurate for :math:`\beta` close to 1.

    A class with count 0 (absent from the data) gets weight 0 rather than infinity, and the
    normalisation runs over the present classes only, so the present classes' weights are the
    same as without the absent ones and their mean is 1 (with every class present the weights
    sum to the number of classes, Cui et al.'s normalisation). Counts may be fractional
    (frequencies).

    Args:
        counts: ``(C,)`` non-negative finite counts, a tensor or a sequence of numbers.
        scheme: ``"inverse"`` (default), ``"inverse_sqrt"`` or ``"effective_number"``.
        beta: :math:`\beta \in [0, 1)` of ``"effective_number"``. Default 0.999.

    Returns:
        A ``(C,)`` float tensor (float64 for float64 counts, else the default float dtype) on the
        device of ``counts``, ready for ``class_weight=``.

    Raises:
        ValueError: counts not 1-D, empty, negative, NaN or inf, or all zero.

    References:
        Y. Cui, M. Jia, T.-Y. Lin, Y. Song, S. Belongie, "Class-Balanced Loss Based on Effective
        Number of Samples", CVPR 2019, arXiv:1901.05555.

    Example:
        >>> import visionloss
        >>> visionloss.class_weights([10, 30, 0, 60])
        tensor([2.0000, 0.6667, 0.0000, 0.3333])
        >>> visionloss.class_weights([1, 4], scheme="inverse_sqrt")
        tensor([1.3333, 0.6667])
    """
    check_choice(scheme, "scheme", CLASS_WEIGHT_SCHEMES)
    check_number(beta, "beta", low=0.0, high=1.0, high_inclusive=False)
    if isinstance(counts, Tensor):
        c = counts.detach()
    else:
        if isinstance(counts, str | bytes):
            raise TypeError(f"counts: expected a tensor or a sequence of numbers, got {counts!r}")
        try:
            c = torch.as_tensor(counts)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"counts: expected a tensor or a sequence of numbers, got {describe(counts)}"
            ) from error
    if c.dtype == torch.bool or c.is_complex():
        raise TypeError(f"counts: expected real counts, got dtype {c.dtype}")
    if c.dim() != 1 or c.numel() == 0:
        raise ValueError(f"counts: expected a non-empty 1-D sequence, got shape {tuple(c.shape)}")
    dtype = compute_dtype(c) if c.is_floating_point() else torch.get_default_dtype()
    c = c.to(dtype)
    # a one-off computation, not a loss: its checks always run
    if not bool(torch.isfinite(c).all()) or bool((c < 0).any()):
        raise ValueError(
            f"counts: expected finite counts >= 0, got {c.tolist() if c.numel() <= 8 else c}"
        )
    present = c > 0
    if not bool(present.any()):
        raise ValueError("counts: expected at least one class with a positive count, got all zeros")
    safe = torch.where(present, c, torch.ones_like(c))  # absent classes are masked below
    if scheme == "inverse":
        raw = 1.0 / safe
    elif scheme == "inverse_sqrt":
        raw = torch.rsqrt(safe)
    elif beta == 0.0:
        raw = torch.ones_like(safe)  # 1 - 0^n = 1 for every n > 0
    else:
        # 1 - beta^n = -expm1(n log beta): no cancellation for beta near 1 and small n
        raw = (1.0 - beta) / -torch.expm1(safe * math.log(beta))
    raw = torch.where(present, raw, torch.zeros_like(raw))
    return raw * (present.sum().to(dtype) / raw.sum())


# --- build_loss: a loss from a configuration ------------------------------------------------------


class FunctionLoss(nn.Module):
    """A loss function with stored options, as a Module: ``forward(*inputs, **kwargs)`` returns
    ``function(*inputs, **options, **kwargs)``. :func:`build_loss` builds these for functions
    registered with :func:`register`."""

    def __init__(self, function: Callable[..., Tensor], /, **options: Any) -> None:
        super().__init__()
        if not callable(function):
            raise TypeError(f"function: expected a callable, got {describe(function)}")
        self.function = function
        self.options = dict(options)

    def forward(self, *inputs: Any, **kwargs: Any) -> Tensor:
        return self.function(*inputs, **self.options, **kwargs)

    def extra_repr(self) -> str:
        head = "" if isinstance(self.function, nn.Module) else _callable_name(self.function)
        shown = [f"{k}={v!r}" for k, v in self.options.items()]
        return ", ".join(([head] if head else []) + shown)


def _signature_options(obj: Any) -> tuple[list[str] | None, list[str]]:
    """``(accepted, required)`` option names of a user function or class; ``accepted`` is
    ``None`` when anything is accepted (``**kwargs``, or no signature to read)."""
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None, []
    is_class = isinstance(obj, type)
    accepted: list[str] = []
    required: list[str] = []
    for p in parameters:
        if p.kind is p.VAR_KEYWORD:
            return None, required
        if p.kind is p.KEYWORD_ONLY or (
            p.kind is p.POSITIONAL_OR_KEYWORD and (is_class or p.default is not p.empty)
        ):
            # a function's positional parameters without a default are its data, not options
            accepted.append(p.name)
            if p.default is p.empty:
                required.append(p.name)
    return accepted, required


def _check_option_names(
    name: str,
    accepted: Sequence[str] | None,
    required: Sequence[str],
    options: Mapping[str, Any],
    where: str,
) -> None:
    if accepted is not None:
        for option in options:
            if option not in accepted:
                listed = ", ".join(accepted) if accepted else "none"
                raise ValueError(
                    f"{where}: unknown option {option!r} of the loss {name!r} (its options: "
                    f"{listed})"
                )
    for option in required:
        if option not in options:
            raise ValueError(
                f"{where}: the loss {name!r} needs the option {option!r}, e.g. {name}({option}=...)"
            )


def _build_one(name: str, options: dict[str, Any], where: str) -> nn.Module:
    """The Module of one loss by any name form, its options checked now."""
    canonical, entry = lookup(name)
    if isinstance(entry, LossSpec):
        _check_option_names(canonical, entry.options.names(), entry.required, options, where)
        try:
            if entry.module is not None and entry.module.spec is entry:
                return entry.module(**options)
            entry.options(**options)  # the checks; the function is then called with the options
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {canonical}: {error}") from error
        return FunctionLoss(entry.function, **options)
    accepted, required = _signature_options(entry)
    _check_option_names(canonical, accepted, required, options, where)
    if isinstance(entry, type):
        try:
            module: nn.Module = entry(**options)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {canonical}: {error}") from error
        return module
    return FunctionLoss(entry, **options)


def _plain(config: Any) -> Any:
    """An OmegaConf container as plain dicts and lists (resolving interpolations)."""
    if type(config).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(config, resolve=True)
    return config


def _term_of(entry: Any, where: str) -> Term:
    entry = _plain(entry)
    if not isinstance(entry, Mapping):
        raise TypeError(
            f"{where}: expected a mapping {{'name': ..., **options}}, got {describe(entry)}"
        )
    if "name" not in entry:
        raise ValueError(
            f"{where}: expected a 'name' key (e.g. {{'name': 'dice', 'mode': 'binary'}}), got keys {sorted(entry)}"
        )
    options = {str(k): v for k, v in entry.items() if k not in ("name", "weight")}
    weight = entry.get("weight", 1.0)
    try:
        weight = check_loss_weight(weight, f"{where}['weight']")
    except TypeError as error:
        raise TypeError(str(error)) from None
    return Term(entry["name"], options, weight)


def _combined(terms: Sequence[Term], where: str) -> CombinedLoss:
    parts: dict[str, tuple[nn.Module, float]] = {}
    seen: dict[str, int] = {}
    for term in terms:
        canonical, _ = lookup(term.name)
        seen[canonical] = seen.get(canonical, 0) + 1
        key = canonical if seen[canonical] == 1 else f"{canonical}_{seen[canonical]}"
        while key in parts:  # e.g. a user loss named "mse_2" next to two "mse"
            key += "_"
        parts[key] = (_build_one(term.name, dict(term.options), where), term.weight)
    return CombinedLoss(parts)


def build_loss(config: str | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> nn.Module:
    """Build a loss from a configuration: an expression, a mapping, or a list of mappings.

    Names: any form of a registered loss, ``"mse"``, ``"mse_loss"`` or ``"MSELoss"``; a typo
    raises ``ValueError`` with the closest names of all three forms. Options are checked when the
    loss is built (an unknown, missing or invalid option raises ``ValueError`` naming it and the
    loss), and tensor options accept lists of numbers (``class_weight=[1.0, 2.0, 1.0]``).

    * an expression (a ``str``): a weighted sum of losses, e.g.
      ``"dice(mode='multiclass') + 0.5 * cross_entropy(label_smoothing=0.1)"``. The grammar: a
      name; a call with keyword options whose values are literals (numbers, strings up to
      :data:`MAX_STRING_LENGTH` characters, ``True``/``False``/``None``, lists or tuples of
      numbers); ``+`` between losses; ``*`` between a number and a loss or a parenthesised sum.
      It is parsed with :mod:`ast` over this whitelist and never evaluated; everything else
      (attributes, subscripts, other calls, ``**kwargs``, names starting with ``_``, other
      operators, negative weights, more than :data:`MAX_EXPRESSION_LENGTH` characters) raises
      ``ValueError`` naming what was refused. Returns a :class:`CombinedLoss`.
    * a mapping ``{"name": "dice", "mode": "multiclass", ...}``: that loss's Module (with a
      ``"weight"`` key: a :class:`CombinedLoss` of that one part).
    * a list of mappings, each with an optional ``"weight"`` (default 1): a :class:`CombinedLoss`.
    * an OmegaConf ``DictConfig``/``ListConfig`` (a Hydra config): read as the plain container.

    In a :class:`CombinedLoss` the parts are named after the losses' registry names (``"mse"``,
    then ``"mse_2"``... when a loss appears again) and called with the same arguments; ``.parts``
    keeps the last value of each.

    Raises:
        TypeError: ``config`` is none of the above.
        ValueError: an unknown name, a refused expression, a wrong option.

    Example:
        >>> import torch, visionloss
        >>> loss = visionloss.build_loss("mse + 0.5 * HuberLoss(delta=2.0)")
        >>> loss(torch.tensor([0.0, 3.0]), torch.zeros(2))  # 4.5 + 0.5 * 2.0
        tensor(5.5000)
        >>> sorted(loss.parts)
        ['huber', 'mse']
        >>> visionloss.build_loss({"name": "huber_loss", "delta": 2.0})
        HuberLoss(delta=2.0, reduction='mean')
    """
    config = _plain(config)
    if isinstance(config, str):
        return _combined(parse_expression(config), "expression")
    if isinstance(config, Mapping):
        term = _term_of(config, "config")
        module = _build_one(term.name, dict(term.options), "config")
        if "weight" not in config:
            return module
        canonical, _ = lookup(term.name)
        return CombinedLoss({canonical: (module, term.weight)})
    if isinstance(config, Sequence) and not isinstance(config, bytes):
        if not config:
            raise ValueError("config: expected at least one loss, got an empty list")
        return _combined([_term_of(e, f"config[{i}]") for i, e in enumerate(config)], "config")
    raise TypeError(
        "config: expected an expression (str), a mapping {'name': ..., **options} or a list of "
        f"them, got {describe(config)}"
    )
