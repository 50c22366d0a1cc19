"""The options of a loss: one frozen, self-validating object per loss.

A loss's options are declared once, as a frozen dataclass derived from :class:`LossOptions`. The
public function builds it from its keyword arguments, the Module builds it in ``__init__``,
:func:`~visionloss.build_loss` builds it when it reads a configuration, and the private cores
receive it whole: the checks run in one place (:meth:`LossOptions.validate`), nothing relays
keywords by hand, and a wrong option fails when it is written, not at the first call.

Tensor options (``class_weight``, ``alpha``, ``pos_weight``, scale weights) also accept a list or
a tuple of numbers, turned into a float32 tensor here (:func:`tensor_option`), so that a YAML or
Hydra configuration can hold them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from numbers import Real
from typing import Any, ClassVar

import torch
from torch import Tensor

from .checks import describe
from .reduction import Reduction, check_reduction

__all__ = ["LossOptions", "tensor_option"]


def tensor_option(value: Any, name: str) -> Any:
    """A list or tuple of real numbers as a float32 tensor; anything else is returned unchanged.

    Raises ``TypeError`` for a list that holds something other than real numbers (a nested list,
    a string), so a configuration typo names the option.
    """
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = list(value)
        if not all(isinstance(v, Real) and not isinstance(v, bool) for v in items):
            raise TypeError(
                f"{name}: expected a tensor or a list of numbers, got {describe(value)}"
            )
        return torch.tensor([float(v) for v in items], dtype=torch.float32)
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class LossOptions:
    """Base of every loss's options: ``reduction`` plus the loss's own fields.

    Subclasses are ``@dataclass(frozen=True, kw_only=True)``, declare each option with its default
    (an option without a default is required, e.g. ``mode``), list their tensor options in
    :attr:`tensor_fields` and check their values in :meth:`validate`. Constructing one validates it;
    an invalid value raises ``ValueError``/``TypeError`` naming the option.
    """

    reduction: Reduction = "mean"

    #: names of the options that hold tensors (lists of numbers are converted to tensors)
    tensor_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        check_reduction(self.reduction)
        for name in self.tensor_fields:
            self._set(name, tensor_option(getattr(self, name), name))
        self.validate()

    def validate(self) -> None:
        """Check the loss's own options; subclasses override (and may normalise with _set)."""

    def _set(self, name: str, value: Any) -> None:
        # the one place an options object is changed: normalising a value while it is built
        object.__setattr__(self, name, value)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in declaration order (``reduction`` first)."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def required(cls) -> tuple[str, ...]:
        """The options without a default (the user must give them)."""
        return tuple(
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """``{name: default}`` for the options that have one."""
        return {
            f.name: f.default
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING
        }

    def as_dict(self) -> dict[str, Any]:
        """``{name: value}`` for every option (tensors are not copied)."""
        return {name: getattr(self, name) for name in self.names()}

    def with_tensors(self, tensors: dict[str, Tensor | None]) -> LossOptions:
        """A copy with some tensor options replaced, not validated again (a Module's buffers
        after ``.to(device)``: same values, another device or dtype)."""
        copy = object.__new__(type(self))
        for name, value in self.as_dict().items():
            object.__setattr__(copy, name, tensors.get(name, value))
        return copy
