"""Targets of dense classification and overlap losses, in the three modes, without a one-hot.

* ``"binary"``: input of any shape (typically ``(N, 1, *)``), one sigmoid per element; target of
  the same shape, probabilities or 0/1 integers.
* ``"multilabel"``: input ``(N, C, *)``, one sigmoid per channel; target of the same shape.
* ``"multiclass"``: input ``(N, C, *)``, softmax over dim 1; target ``(N, *)`` integer class ids or
  ``(N, C, *)`` probabilities.

Integer class ids are never expanded into a float one-hot tensor of the input's size: losses
gather the predicted score of the target class (:func:`gather_classes`) and add up per-class
statistics with ``scatter_add`` (:func:`sum_by_class`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from .checks import (
    check_choice,
    check_class_ids,
    check_floating,
    check_probabilities,
    check_tensor,
)

__all__ = [
    "MODES",
    "DenseTarget",
    "Mode",
    "check_mode",
    "gather_classes",
    "prepare_dense_target",
    "sum_by_class",
]

Mode = Literal["binary", "multilabel", "multiclass"]
MODES: tuple[str, ...] = ("binary", "multilabel", "multiclass")


def check_mode(mode: str) -> str:
    """Raise ``ValueError`` unless ``mode`` is one of :data:`MODES`."""
    return str(check_choice(mode, "mode", MODES))


@dataclass(frozen=True)
class DenseTarget:
    """A checked target of a dense loss.

    Attributes:
        mode: the mode it was checked for.
        index: ``(N, *)`` int64 class ids, with ignored elements replaced by 0 so that they can be
            gathered safely (multiclass with integer targets), else ``None``.
        probs: a float target of the input's shape (binary, multilabel, multiclass probabilities),
            else ``None``. Ignored elements are replaced by 0.
        valid: a boolean mask of the elements that count (``target != ignore_index``), shaped like
            ``index`` (multiclass) or like the input (binary, multilabel); ``None`` when every
            element counts.
    """

    mode: str
    index: Tensor | None
    probs: Tensor | None
    valid: Tensor | None

    @property
    def is_index(self) -> bool:
        return self.index is not None


def prepare_dense_target(
    input: Tensor,
    target: Tensor,
    mode: str,
    *,
    ignore_index: int | None = -100,
    dtype: torch.dtype | None = None,
) -> DenseTarget:
    """Check ``target`` against ``input`` for ``mode`` and return it in one canonical form.

    Raises ``ValueError``/``TypeError`` for a wrong mode, shape or dtype; with data checks on, also
    for class ids out of range and probabilities outside ``[0, 1]``.

    Args:
        input: the logits or probabilities.
        target: see the module docstring.
        mode: ``"binary"``, ``"multilabel"`` or ``"multiclass"``.
        ignore_index: integer target value to ignore (``None``: nothing is ignored). Applies to
            integer targets in every mode.
        dtype: dtype of ``probs`` (default: the input's dtype).
    """
    check_mode(mode)
    check_floating(input, "input")
    check_tensor(target, "target")
    dtype = dtype or input.dtype
    if target.is_complex():
        raise TypeError(f"target: expected a real tensor, got dtype {target.dtype}")
    integer = not target.is_floating_point()
    if mode != "binary" and input.dim() < 2:
        raise ValueError(
            f"input: expected shape (N, C, *) for mode={mode!r}, got {tuple(input.shape)}"
        )

    if mode == "multiclass" and input.shape[1] == 1:
        # softmax over one class is 1 everywhere: the loss would be a constant with zero gradient
        raise ValueError(
            f"input: expected at least 2 classes in dim 1 for mode='multiclass' (a softmax over "
            f"one class is constant), got shape {tuple(input.shape)}; one-channel logits are "
            f"binary: use mode='binary' (binary_cross_entropy for cross_entropy)"
        )
    if mode == "multiclass" and integer:
        num_classes = input.shape[1]
        expected = input.shape[:1] + input.shape[2:]
        if target.shape != expected:
            raise ValueError(
                f"target: expected class ids of shape {tuple(expected)} "
                f"(input {tuple(input.shape)} without the class dim) or probabilities of shape {tuple(input.shape)}, "
                f"got {tuple(target.shape)}"
            )
        if target.dtype == torch.bool:
            raise TypeError("target: expected int64 class ids for mode='multiclass', got bool")
        check_class_ids(target, num_classes, ignore_index)
        target = target.long()
        if ignore_index is None:
            return DenseTarget(mode, target, None, None)
        ids_valid = target != ignore_index
        index = torch.where(
            ids_valid, target, torch.zeros((), dtype=target.dtype, device=target.device)
        )
        return DenseTarget(mode, index, None, ids_valid)

    if target.shape != input.shape:
        raise ValueError(
            f"target: expected the same shape as input {tuple(input.shape)} for mode={mode!r}, "
            f"got {tuple(target.shape)}"
        )
    if integer:
        valid = None
        if ignore_index is not None and target.dtype != torch.bool:
            valid = target != ignore_index
            target = torch.where(
                valid, target, torch.zeros((), dtype=target.dtype, device=target.device)
            )
        if target.dtype != torch.bool:
            check_class_ids(target, 2, None)
        return DenseTarget(mode, None, target.to(dtype), valid)
    check_probabilities(target, "target")
    return DenseTarget(mode, None, target.to(dtype), None)


def gather_classes(values: Tensor, index: Tensor) -> Tensor:
    """``values[n, index[n, ...], ...]``: the entry of the target class at every position.

    Args:
        values: ``(N, C, *)``.
        index: ``(N, *)`` int64 class ids in ``[0, C)``.

    Returns:
        ``(N, *)``.
    """
    return values.gather(1, index.unsqueeze(1)).squeeze(1)


def sum_by_class(values: Tensor, index: Tensor, num_classes: int) -> Tensor:
    """Per-sample, per-class sums of ``values`` over the positions whose class id is that class.

    ``out[n, c] = sum_{i : index[n, i] = c} values[n, i]``, computed with ``scatter_add`` so that no
    one-hot tensor is formed.

    Args:
        values: ``(N, *)`` floating values (multiply by a validity mask beforehand to drop
            ignored positions).
        index: ``(N, *)`` int64 class ids in ``[0, num_classes)``.

    Returns:
        ``(N, num_classes)`` in the dtype of ``values``.
    """
    n = values.shape[0]
    per_sample = math.prod(values.shape[1:])  # explicit: reshape(0, -1) is ambiguous for N = 0
    out = torch.zeros(n, num_classes, dtype=values.dtype, device=values.device)
    return out.scatter_add(1, index.reshape(n, per_sample), values.reshape(n, per_sample))
