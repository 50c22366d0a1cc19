"""Argument and data checks, with the one wording of every error message.

Two kinds of check live here:

* argument checks (types, shapes, option values) look only at Python values and tensor metadata.
  They always run and cost nothing on the device.
* data checks (class ids in range, probabilities in ``[0, 1]``, non-negative weights) have to read
  the tensor's values, which synchronises the host with the device. They run by default, are
  switched off globally with :func:`set_checks` or the environment variable
  ``VISIONLOSS_CHECKS=0``, and are skipped where the values cannot be read: while ``torch.compile``
  traces (so that they never break ``fullgraph=True``), on meta tensors (shape inference) and under
  functorch transforms (``torch.func.vmap``, ``grad``, ``jvp``). Switching them off never changes
  a result.

Every message names the argument, what was expected and what was given.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from numbers import Real
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "check_loss_weight",
    "check_broadcastable",
    "check_choice",
    "check_class_ids",
    "check_class_weight",
    "check_flag",
    "check_floating",
    "check_ignore_index",
    "check_nonnegative_tensor",
    "check_number",
    "check_probabilities",
    "check_same_shape",
    "check_tensor",
    "checks_enabled",
    "describe",
    "set_checks",
]

_checks_on: bool = os.environ.get("VISIONLOSS_CHECKS", "1").strip().lower() not in {
    "0",
    "false",
    "no",
    "off",
}


def set_checks(enabled: bool) -> None:
    """Switch the data checks (class ids, probabilities, weights) on or off for the process.

    Argument checks (types, shapes, option values) always run; they cost nothing on the device.
    The environment variable ``VISIONLOSS_CHECKS=0`` sets the initial state to off.
    """
    global _checks_on
    if not isinstance(enabled, bool):
        raise TypeError(f"set_checks: expected enabled to be a bool, got {describe(enabled)}")
    _checks_on = enabled


def checks_enabled(*tensors: Tensor | None) -> bool:
    """True when data checks should run now on ``tensors``.

    That is: switched on, not inside a ``torch.compile`` trace, no functorch transform
    (``vmap``, ``grad``, ``jvp``) active, and none of ``tensors`` on the meta device (no values to
    read) or wrapped by a transform.
    """
    if not _checks_on or torch.compiler.is_compiling():
        return False
    if torch._C._are_functorch_transforms_active():
        return False
    return not any(
        t is not None and (t.is_meta or torch._C._functorch.is_functorch_wrapped_tensor(t))
        for t in tensors
    )


def describe(value: Any) -> str:
    """A short description of a value for an error message."""
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    return f"{type(value).__name__} {value!r}"[:120]


def check_tensor(value: Any, name: str) -> Tensor:
    """Raise ``TypeError`` unless ``value`` is a tensor."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {describe(value)}")
    return value


def check_floating(value: Any, name: str) -> Tensor:
    """Raise ``TypeError`` unless ``value`` is a floating-point tensor."""
    tensor = check_tensor(value, name)
    if not tensor.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {tensor.dtype}")
    return tensor


def check_flag(value: Any, name: str) -> bool:
    """Raise ``TypeError`` unless ``value`` is a bool (``1`` and ``"yes"`` are refused)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {describe(value)}")
    return value


def check_ignore_index(ignore_index: Any) -> int | None:
    """Raise ``TypeError`` unless ``ignore_index`` is an int or ``None``."""
    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, int)
    ):
        raise TypeError(f"ignore_index: expected an int or None, got {describe(ignore_index)}")
    return ignore_index


def check_class_weight(class_weight: Any, num_classes: int | None = None) -> None:
    """Check a ``class_weight`` option: ``None`` or a ``(C,)`` floating tensor, non-negative.

    The length is checked when ``num_classes`` is given (once the input is seen); the values are
    a data check, made only when ``num_classes`` is not given (the up-front check of a function
    or a Module), so that a call reads them once.
    """
    if class_weight is None:
        return
    check_floating(class_weight, "class_weight")
    if class_weight.dim() != 1 or (num_classes is not None and len(class_weight) != num_classes):
        expected = "C" if num_classes is None else str(num_classes)
        raise ValueError(
            f"class_weight: expected shape ({expected},), one weight per class, "
            f"got {tuple(class_weight.shape)}"
        )
    if num_classes is None:
        check_nonnegative_tensor(class_weight, "class_weight")


def check_same_shape(a: Tensor, b: Tensor, name_a: str = "input", name_b: str = "target") -> None:
    """Raise ``ValueError`` unless two tensors have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_b}: expected the same shape as {name_a} {tuple(a.shape)}, got {tuple(b.shape)}"
        )


def check_broadcastable(value: Tensor, shape: Sequence[int], name: str, to: str) -> None:
    """Raise ``ValueError`` unless ``value`` broadcasts to ``shape`` without growing it."""
    try:
        result = torch.broadcast_shapes(value.shape, torch.Size(shape))
    except RuntimeError:
        result = None
    if result != torch.Size(shape):
        raise ValueError(
            f"{name}: expected a shape broadcastable to {to} {tuple(shape)}, "
            f"got {tuple(value.shape)}"
        )


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if not isinstance(value, str | int | float | type(None)) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}: expected one of {options}, got {describe(value)}")
    return value


def check_number(
    value: Any,
    name: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_tensor: bool = False,
) -> Any:
    """Raise unless ``value`` is a real number in the given interval.

    ``TypeError`` for a value that is not a number, ``ValueError`` for one out of range. With
    ``allow_tensor`` a floating tensor is accepted as is (its values are data, not checked here).
    """
    if allow_tensor and isinstance(value, Tensor):
        return check_floating(value, name)
    if isinstance(value, bool) or not isinstance(value, Real):
        kind = "a real number or a floating tensor" if allow_tensor else "a real number"
        raise TypeError(f"{name}: expected {kind}, got {describe(value)}")
    value = float(value)
    # comparisons only (NaN fails `value == value`): under torch.compile(dynamic=True) a float
    # option is a SymFloat, on which they become guards, where math.isnan would break the graph
    above = value >= low if low_inclusive else value > low
    below = value <= high if high_inclusive else value < high
    if not (above and below and value == value):
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        raise ValueError(f"{name}: expected a value in {left}{low}, {high}{right}, got {value!r}")
    return value


def check_loss_weight(value: Any, name: str) -> float:
    """A loss's weight in a sum of losses: a real number (not a bool), finite, >= 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name}: expected a real number >= 0, got {describe(value)}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {number!r}")
    return number


# --- data checks: they read values, so they run only when checks_enabled() -----------------------


def check_class_ids(
    target: Tensor, num_classes: int, ignore_index: int | None, name: str = "target"
) -> None:
    """Raise ``ValueError`` if an integer target holds an id outside ``[0, num_classes)``.

    Elements equal to ``ignore_index`` are allowed. A data check: skipped when checks are off.
    """
    if not checks_enabled(target) or target.numel() == 0:
        return
    # one pass and one sync for the common case (no id out of range, ignored ones included);
    # the ignored positions are masked out only when that first pass finds something outside
    low, high = torch.aminmax(target)
    if int(low) >= 0 and int(high) < num_classes:
        return
    ids = target if ignore_index is None else torch.where(target == ignore_index, 0, target)
    low, high = torch.aminmax(ids)
    if int(low) < 0 or int(high) >= num_classes:
        offending = ids[(ids < 0) | (ids >= num_classes)]
        allowed = f" (or ignore_index={ignore_index})" if ignore_index is not None else ""
        raise ValueError(
            f"{name}: expected class ids in [0, {num_classes - 1}]{allowed}, got values in "
            f"[{int(offending.min())}, {int(offending.max())}]"
        )


def check_probabilities(value: Tensor, name: str) -> None:
    """Raise ``ValueError`` if a tensor holds a finite value outside ``[0, 1]``.

    NaN and inf are not reported here: they propagate to the loss (never hidden). A data check.
    """
    if not checks_enabled(value) or value.numel() == 0:
        return
    value = value.detach()
    low, high = torch.aminmax(value)  # one pass for the common case
    if float(low) >= 0 and float(high) <= 1:  # False with a NaN: looked at again below
        return
    # NaN and inf are replaced by a valid value so that they are not reported (they propagate)
    low, high = torch.aminmax(torch.where(torch.isfinite(value), value, 0.5))
    if float(low) < 0 or float(high) > 1:
        offending = value[torch.isfinite(value) & ((value < 0) | (value > 1))]
        raise ValueError(
            f"{name}: expected probabilities in [0, 1], got values in "
            f"[{float(offending.min()):.4g}, {float(offending.max()):.4g}]"
        )


def check_nonnegative_tensor(value: Tensor, name: str, *, strict: bool = False) -> None:
    """Raise ``ValueError`` if a tensor (a weight, a scale) holds a negative value. A data check.

    With ``strict`` zero is refused too (a scale that is divided by).
    """
    if not checks_enabled(value) or value.numel() == 0:
        return
    bad = value <= 0 if strict else value < 0
    if bool(bad.any()):
        expected = "positive" if strict else "non-negative"
        raise ValueError(
            f"{name}: expected {expected} values, got a minimum of {float(value.min()):.4g}"
        )
