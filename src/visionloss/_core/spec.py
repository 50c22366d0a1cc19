"""The loss spec: everything the library knows about one loss, declared once.

Each family module ends with a table ``SPECS`` of :class:`LossSpec` rows. The registry,
:func:`~visionloss.loss_info`, ``visionloss list``/``explain`` and the documentation read these
rows; nothing is recovered from docstrings. Declaring a spec also documents its Module: the
Module's class docstring becomes the function's (summary, formula, options, shapes, paper,
example), so ``help(DiceLoss)`` starts with the formula.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .options import LossOptions

if TYPE_CHECKING:
    from .module import LossModule

__all__ = ["FAMILIES", "LossSpec"]

#: the families, in catalogue order
FAMILIES: tuple[str, ...] = (
    "regression",
    "classification",
    "segmentation",
    "boxes",
    "embedding",
    "generative",
)


@dataclasses.dataclass(frozen=True, repr=False)
class LossSpec:
    """One loss of the catalogue.

    Attributes:
        name: the registry name, the function's name without ``_loss`` (``"dice"``,
            ``"cross_entropy"``).
        function: the public function of :mod:`visionloss.functional`.
        module: its ``nn.Module`` class (``None`` only for a function without one).
        options: the loss's :class:`~visionloss._core.options.LossOptions` subclass.
        family: one of :data:`FAMILIES`.
        summary: one line, what the loss is.
        formula: the loss in LaTeX.
        paper: the reference it comes from ("" for textbook losses).
        card: the guide's card (definition, application, advantages, disadvantages, alternatives,
            evidence), ``None`` until written.
    """

    name: str
    function: Callable[..., Any]
    module: type[LossModule] | None
    options: type[LossOptions]
    family: str
    summary: str
    formula: str
    paper: str = ""
    card: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family: expected one of {FAMILIES}, got {self.family!r}")
        if not dataclasses.is_dataclass(self.options) or not issubclass(
            self.options, LossOptions
        ):
            raise TypeError(f"options: expected a LossOptions dataclass, got {self.options!r}")
        if self.module is not None and self.module.__dict__.get("spec") is None:
            # the first spec that names a Module documents it (a Module shared by two specs,
            # such as AdversarialLoss, keeps the first)
            self.module.spec = self
            self.module.__doc__ = _module_doc(self)
            self.module.__signature__ = _module_signature(  # type: ignore[attr-defined]
                self.options, self.module.positional_options
            )

    def __repr__(self) -> str:
        module = f", module={self.module_name}" if self.module is not None else ""
        required = f", required={self.required}" if self.required else ""
        return (
            f"LossSpec(name={self.name!r}, function={self.function_name}{module}, "
            f"family={self.family!r}{required})"
        )

    @property
    def function_name(self) -> str:
        return str(self.function.__name__)

    @property
    def module_name(self) -> str | None:
        return None if self.module is None else self.module.__name__

    @property
    def required(self) -> tuple[str, ...]:
        """The options a user must give (``mode`` for the overlap losses, say), those that only
        the Module needs included (:attr:`LossModule.required_options`)."""
        needed = self.options.required()
        if self.module is not None and self.module.spec is self:
            needed += tuple(n for n in self.module.required_options if n not in needed)
        return needed

    @property
    def defaults(self) -> dict[str, Any]:
        """``{name: default}`` of the options a user may leave out (not those in
        :attr:`required`)."""
        needed = self.required
        return {k: v for k, v in self.options.defaults().items() if k not in needed}


def _module_doc(spec: LossSpec) -> str:
    function_doc = inspect.cleandoc(spec.function.__doc__ or "")
    module = spec.module_name
    options = ", ".join(
        f"{name}={default!r}" for name, default in spec.defaults.items() if name != "reduction"
    )
    required = ", ".join(f"{name}=..." for name in spec.required)
    shown = ", ".join(part for part in (required, options) if part)
    return (
        f"{function_doc}\n\n"
        f"Module form: ``{module}({shown})`` stores the options (checked when it is built; "
        f"tensor options are buffers) and its ``forward`` takes the data arguments of "
        f":func:`visionloss.functional.{spec.function_name}`.\n"
    )


def _module_signature(
    options: type[LossOptions], positional: tuple[str, ...] = ()
) -> inspect.Signature:
    parameters = []
    # positional options first, then the others, reduction last as in the functions' signatures
    ordered = sorted(
        dataclasses.fields(options),
        key=lambda f: (f.name not in positional, positional.index(f.name) if f.name in positional
                       else 0, f.name == "reduction"),
    )
    for field in ordered:
        default = (
            inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
        )
        parameters.append(
            inspect.Parameter(
                field.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD
                if field.name in positional
                else inspect.Parameter.KEYWORD_ONLY,
                default=default,
                annotation=field.type,
            )
        )
    return inspect.Signature(parameters)
