"""The base of every loss Module: it holds the loss's options object and calls the loss.

A Module is declared by its spec (:class:`~visionloss._core.spec.LossSpec`): the spec gives it its
options type, its docstring and its signature. ``XxxLoss(**options)`` builds and validates the
options object once; tensor options become buffers (they follow ``.to(device)`` and the
``state_dict``), ``nn.Parameter`` options become parameters (learnable, e.g. the robust loss's
``alpha``), and ``extra_repr`` shows every option. ``forward`` is one call to the loss's private
core with :attr:`LossModule.opts`, or to the public function with :meth:`LossModule.options`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from torch import Tensor, nn

from .options import LossOptions

if TYPE_CHECKING:
    from .spec import LossSpec

__all__ = ["LossModule"]


class LossModule(nn.Module):
    """Stores a loss's validated options; subclasses define ``forward`` as one call."""

    #: set when the loss's spec is declared
    spec: ClassVar[LossSpec]
    #: options that may also be given by position, in this order (``AdversarialLoss("hinge")``)
    positional_options: ClassVar[tuple[str, ...]] = ()
    #: options with a default of ``None`` that this Module needs all the same (ArcFace's
    #: ``num_classes`` and ``embedding_dim``, which size its centres; the function takes the
    #: centres instead): listed in the spec's ``required``, checked when the Module is built
    required_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__()
        if len(args) > len(self.positional_options):
            raise TypeError(
                f"{type(self).__name__}: expected at most {len(self.positional_options)} "
                f"positional option(s) {self.positional_options}, got {len(args)}; pass the "
                "options by keyword"
            )
        for name, value in zip(self.positional_options, args, strict=False):
            if name in options:
                raise TypeError(f"{type(self).__name__}: got two values for the option {name!r}")
            options[name] = value
        spec = type(self).__dict__.get("spec")
        if spec is None:
            raise TypeError(
                f"{type(self).__name__}: no LossSpec declares this Module; add its row to the "
                "family's SPECS"
            )
        for name in self.required_options:
            if options.get(name) is None:
                raise TypeError(
                    f"{type(self).__name__}: needs the option {name!r} (it sizes the Module's "
                    "own parameters)"
                )
        opts: LossOptions = spec.options(**options)
        for name, value in opts.as_dict().items():
            if isinstance(value, nn.Parameter):
                self.register_parameter(name, value)
            elif isinstance(value, Tensor):
                self.register_buffer(name, value)
        self._opts = opts

    @property
    def opts(self) -> Any:
        """The options object, its tensor options being the Module's buffers and parameters."""
        return self._opts

    def _refresh(self) -> None:
        # after .to()/.half()/a new buffer: the options object points at the current tensors
        opts = self.__dict__.get("_opts")
        if opts is None:
            return
        tensors = {
            name: getattr(self, name)
            for name in opts.names()
            if name in self._buffers or name in self._parameters
        }
        if tensors:
            self.__dict__["_opts"] = opts.with_tensors(tensors)

    def _apply(self, fn: Any, recurse: bool = True) -> LossModule:
        super()._apply(fn, recurse)
        self._refresh()
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in self.__dict__.get("_buffers", ()) or name in self.__dict__.get(
            "_parameters", ()
        ):
            self._refresh()

    def options(self) -> dict[str, Any]:
        """The options as keyword arguments of the loss function."""
        return dict(self.opts.as_dict())

    def __getattr__(self, name: str) -> Any:
        # options read as attributes (loss.delta, loss.mode), after buffers and parameters
        try:
            return super().__getattr__(name)
        except AttributeError:
            opts = self.__dict__.get("_opts")
            if opts is not None and name in opts.names():
                return getattr(opts, name)
            raise

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        result: Tensor = super().__call__(*args, **kwargs)
        return result

    def extra_repr(self) -> str:
        parts = []
        options = self.options()
        # reduction last, as in the signatures
        for name, value in sorted(options.items(), key=lambda item: item[0] == "reduction"):
            if isinstance(value, Tensor):
                shown = f"tensor{tuple(value.shape)}" if value.numel() > 4 else str(value.tolist())
            else:
                shown = repr(value)
            parts.append(f"{name}={shown}")
        return ", ".join(parts)
