"""The base of every loss Module: it stores validated options and calls the loss function.

A Module subclass validates its options in ``__init__`` (with the same checks the function uses),
passes them to :class:`LossModule`, and implements ``forward`` as one call to its function with
``**self.options()``. Tensor options become buffers (they follow ``.to(device)`` and the
``state_dict``), ``nn.Parameter`` options become parameters (learnable, e.g. the robust loss's
``alpha``), and ``extra_repr`` shows every option.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from .reduction import check_reduction

__all__ = ["LossModule"]


class LossModule(nn.Module):
    """Stores the options of a loss; subclasses define ``forward`` as one call to the function."""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        if "reduction" in options:
            check_reduction(options["reduction"])
        self._option_names: tuple[str, ...] = tuple(options)
        for name, value in options.items():
            if isinstance(value, nn.Parameter):
                self.register_parameter(name, value)
            elif isinstance(value, Tensor):
                self.register_buffer(name, value)
            else:
                setattr(self, name, value)

    def options(self) -> dict[str, Any]:
        """The options as keyword arguments of the loss function."""
        return {name: getattr(self, name) for name in self._option_names}

    def extra_repr(self) -> str:
        parts = []
        for name, value in self.options().items():
            if isinstance(value, Tensor):
                shown = f"tensor{tuple(value.shape)}" if value.numel() > 4 else str(value.tolist())
            else:
                shown = repr(value)
            parts.append(f"{name}={shown}")
        return ", ".join(parts)
