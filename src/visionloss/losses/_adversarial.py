"""The adversarial objectives of GAN training: :func:`generator_loss`, :func:`discriminator_loss`
and the :class:`AdversarialLoss` Module, in five kinds, over one discriminator output or the list
of outputs of a multi-scale discriminator.

Re-exported (and its specs listed first) by :mod:`visionloss.losses.generative`. Half and bfloat16
inputs are computed in float32; the result is float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, get_args, overload

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Reduction,
    check_choice,
    check_floating,
    compute_dtype,
    describe,
    reduce_loss,
)

__all__ = [
    "ADVERSARIAL_KINDS",
    "AdversarialKind",
    "AdversarialLoss",
    "AdversarialOptions",
    "Logits",
    "Parts",
    "ScaleWeights",
    "SPECS",
    "discriminator_loss",
    "generator_loss",
]

AdversarialKind = Literal["non_saturating", "minimax", "lsgan", "hinge", "wasserstein"]
ADVERSARIAL_KINDS: tuple[str, ...] = get_args(AdversarialKind)
#: one discriminator output, or one per scale of a multi-scale discriminator (a list or tuple)
Logits: TypeAlias = Tensor | Sequence[Tensor]
#: the generator's weight: one tensor, or one per scale
ScaleWeights: TypeAlias = Tensor | Sequence[Tensor | None] | None
#: the discriminator's unreduced terms: ``(a(r), b(f))``, or one such pair per scale
Parts: TypeAlias = tuple[Tensor, Tensor] | tuple[tuple[Tensor, Tensor], ...]


@dataclass(frozen=True, kw_only=True)
class AdversarialOptions(LossOptions):
    """The options of :func:`generator_loss` and :func:`discriminator_loss` (one Module)."""

    kind: AdversarialKind = "non_saturating"

    def validate(self) -> None:
        check_choice(self.kind, "kind", ADVERSARIAL_KINDS)



def _softplus(x: Tensor) -> Tensor:
    # log(1 + e^x) exactly at every x (F.softplus returns x itself above its threshold of 20) and
    # without overflow: -logsigmoid(-x) = max(x, 0) + log1p(e^{-|x|}).
    return -F.logsigmoid(-x)


# --- adversarial objectives ------------------------------------------------------------------------


def _generator_terms(fake: Tensor, kind: str) -> Tensor:
    if kind == "non_saturating":
        return _softplus(-fake)  # -log D(G(z))
    if kind == "minimax":
        return -_softplus(fake)  # log(1 - D(G(z))) = -softplus(f)
    if kind == "lsgan":
        return 0.5 * (fake - 1) ** 2
    return -fake  # hinge and wasserstein


def _discriminator_terms(real: Tensor, fake: Tensor, kind: str) -> tuple[Tensor, Tensor]:
    if kind in ("non_saturating", "minimax"):
        # -log D(x) = softplus(-r) and -log(1 - D(G(z))) = softplus(f)
        return _softplus(-real), _softplus(fake)
    if kind == "lsgan":
        return 0.5 * (real - 1) ** 2, 0.5 * fake**2
    if kind == "hinge":
        return F.relu(1 - real), F.relu(1 + fake)
    return -real, fake  # wasserstein


@overload
def generator_loss(
    fake_logits: Tensor,
    *,
    kind: AdversarialKind = ...,
    weight: Tensor | None = ...,
    reduction: Reduction = ...,
) -> Tensor: ...


@overload
def generator_loss(
    fake_logits: Sequence[Tensor],
    *,
    kind: AdversarialKind = ...,
    weight: ScaleWeights = ...,
    reduction: Literal["mean", "sum"] = ...,
) -> Tensor: ...


@overload
def generator_loss(
    fake_logits: Sequence[Tensor],
    *,
    kind: AdversarialKind = ...,
    weight: ScaleWeights = ...,
    reduction: Literal["none"],
) -> tuple[Tensor, ...]: ...


@overload
def generator_loss(
    fake_logits: Logits,
    *,
    kind: AdversarialKind = ...,
    weight: ScaleWeights = ...,
    reduction: Reduction = ...,
) -> Tensor | tuple[Tensor, ...]: ...


def generator_loss(
    fake_logits: Logits,
    *,
    kind: AdversarialKind = "non_saturating",
    weight: ScaleWeights = None,
    reduction: Reduction = "mean",
) -> Tensor | tuple[Tensor, ...]:
    r"""The generator's adversarial loss, from the discriminator's logits on generated samples.

    With :math:`f = D(G(z))` the discriminator's logit (before any sigmoid) on a fake sample and
    :math:`\sigma` the sigmoid, the generator minimises the mean over fakes of

    .. math::
        \ell(f) = \begin{cases}
            \log(1 - \sigma(f)) = -\operatorname{softplus}(f) & \text{"minimax"} \\
            -\log \sigma(f) = \operatorname{softplus}(-f) & \text{"non\_saturating"} \\
            \tfrac12 (f - 1)^2 & \text{"lsgan"} \\
            -f & \text{"hinge", "wasserstein"}
        \end{cases}

    Why "minimax" saturates: early in training the discriminator rejects fakes confidently,
    :math:`f \to -\infty`, and :math:`\frac{d}{df}\log(1 - \sigma(f)) = -\sigma(f) \to 0`: the
    generator's gradient vanishes exactly when it is worst. The non-saturating loss has the same
    fixed point but :math:`\frac{d}{df}\,\operatorname{softplus}(-f) = -(1 - \sigma(f)) \to -1`
    there, a strong gradient (Goodfellow et al., section 3). Every kind is computed from logits in
    a stable form, finite at :math:`|f| = 10^4` (and 65504 in float16).

    Multi-scale discriminators (pix2pixHD, MONAI's ``MultiScalePatchDiscriminator``) output one
    logit map per scale: pass them as a list or tuple :math:`(f_1, \dots, f_S)`. Each scale is
    reduced on its own (its maps differ in size) and ``"mean"`` averages the :math:`S` per-scale
    means, :math:`\frac1S \sum_s \operatorname{mean}\, \ell(f_s)` (so every scale counts
    alike, whatever its number of patches), as MONAI's ``PatchAdversarialLoss`` and pix2pixHD
    do; ``"sum"`` adds the per-scale sums; ``"none"`` gives the tuple of the per-scale terms.
    (:func:`feature_matching_loss` differs: it sums over every layer of every scale, so with
    :math:`S` discriminators it is :math:`S` times pix2pixHD's :math:`1/S`-weighted term.)

    MONAI's ``PatchAdversarialLoss(criterion=...)`` applies an activation first and uses other
    constants: its ``"bce"`` equals ``"non_saturating"``; its ``"least_squares"`` with
    ``no_activation_leastsq=True`` is twice ``"lsgan"`` (no :math:`\tfrac12`); its ``"hinge"``
    passes the logits through ``tanh`` and, for the generator, takes the hinge
    :math:`\operatorname{relu}(1 - \tanh f)` rather than :math:`-f` (Lim and Ye's generator
    loss, kept here).

    Args:
        fake_logits: :math:`f`, the discriminator's raw outputs on generated samples, any shape
            (typically ``(N,)`` or ``(N, 1)``; a patch discriminator's ``(N, 1, h, w)``), or a
            list or tuple of them, one per scale (shapes may differ).
        kind: ``"non_saturating"`` (default), ``"minimax"``, ``"lsgan"``, ``"hinge"`` or
            ``"wasserstein"``.
        weight: optional non-negative tensor broadcastable to ``fake_logits``; with a list of
            scales, one tensor broadcastable to every scale or a list with one weight (or
            ``None``) per scale.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the per-logit terms
            :math:`\ell(f)`, the shape of ``fake_logits``; a tuple of them for a list).

    References:
        I. Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, arXiv:1406.2661;
        X. Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017,
        arXiv:1611.04076; J. H. Lim and J. C. Ye, "Geometric GAN", 2017, arXiv:1705.02894;
        M. Arjovsky et al., "Wasserstein GAN", ICML 2017, arXiv:1701.07875.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> f = torch.tensor([-20.0, 0.0])
        >>> VF.generator_loss(f, reduction="none")  # softplus(-f)
        tensor([20.0000,  0.6931])
        >>> VF.generator_loss(f, kind="minimax", reduction="none")  # -softplus(f): flat at -20
        tensor([-2.0612e-09, -6.9315e-01])
        >>> scales = [torch.zeros(1, 1, 4, 4), torch.full((1, 1, 2, 2), 2.0)]
        >>> VF.generator_loss(scales, kind="lsgan")  # (0.5 + 0.5) / 2
        tensor(0.5000)
    """
    return _generator(fake_logits, AdversarialOptions(kind=kind, reduction=reduction), weight)


def _shown(value: object) -> str:
    """A value for an error message; a list by its items' shapes, not their values."""
    if isinstance(value, (list, tuple)):
        items = ", ".join(
            str(tuple(v.shape)) if isinstance(v, Tensor) else type(v).__name__ for v in value
        )
        return f"a {type(value).__name__} of {len(value)} [{items}]"
    return describe(value)


def _scales(logits: Logits, name: str) -> list[Tensor] | None:
    """``None`` for one tensor; the list of per-scale tensors for a list or tuple."""
    if isinstance(logits, Tensor):
        return None
    if not isinstance(logits, (list, tuple)):
        raise TypeError(
            f"{name}: expected a tensor or a list of tensors (one per scale), got "
            f"{_shown(logits)}"
        )
    if len(logits) == 0:
        raise ValueError(f"{name}: expected at least one discriminator output, got an empty list")
    for index, item in enumerate(logits):
        if not isinstance(item, Tensor):
            raise TypeError(
                f"{name}[{index}]: expected a tensor (one scale's logits; for a discriminator "
                f"that also returns its features, pass each scale's last output), got "
                f"{describe(item)}"
            )
    return list(logits)


def _scale_weights(weight: ScaleWeights, count: int) -> list[Tensor | None]:
    if weight is None or isinstance(weight, Tensor):
        return [weight] * count
    if not isinstance(weight, (list, tuple)) or len(weight) != count:
        raise ValueError(
            f"weight: expected None, one tensor, or a list of {count} weights (one per scale), "
            f"got {_shown(weight)}"
        )
    return list(weight)


def _across_scales(per_scale: list[Tensor], reduction: str) -> Tensor:
    # each scale already reduced alone: "mean" averages the scales, "sum" adds them
    return reduce_loss(torch.stack(per_scale), reduction)


def _generator_one(fake_logits: Tensor, opts: AdversarialOptions, weight: Tensor | None
                   ) -> Tensor:
    check_floating(fake_logits, "fake_logits")
    fake = fake_logits.to(compute_dtype(fake_logits))
    return reduce_loss(_generator_terms(fake, opts.kind), opts.reduction, weight=weight)


def _generator(fake_logits: Logits, opts: AdversarialOptions, weight: ScaleWeights
               ) -> Tensor | tuple[Tensor, ...]:
    scales = _scales(fake_logits, "fake_logits")
    if scales is None:
        if weight is not None and not isinstance(weight, Tensor):
            raise TypeError(f"weight: expected a tensor or None, got {_shown(weight)}")
        return _generator_one(fake_logits, opts, weight)  # type: ignore[arg-type]
    weights = _scale_weights(weight, len(scales))
    per_scale = [_generator_one(f, opts, w) for f, w in zip(scales, weights, strict=True)]
    if opts.reduction == "none":
        return tuple(per_scale)
    return _across_scales(per_scale, opts.reduction)


@overload
def discriminator_loss(
    real_logits: Tensor,
    fake_logits: Tensor,
    *,
    kind: AdversarialKind = ...,
    reduction: Literal["mean", "sum"] = ...,
) -> Tensor: ...


@overload
def discriminator_loss(
    real_logits: Tensor,
    fake_logits: Tensor,
    *,
    kind: AdversarialKind = ...,
    reduction: Literal["none"],
) -> tuple[Tensor, Tensor]: ...


@overload
def discriminator_loss(
    real_logits: Sequence[Tensor],
    fake_logits: Sequence[Tensor],
    *,
    kind: AdversarialKind = ...,
    reduction: Literal["mean", "sum"] = ...,
) -> Tensor: ...


@overload
def discriminator_loss(
    real_logits: Sequence[Tensor],
    fake_logits: Sequence[Tensor],
    *,
    kind: AdversarialKind = ...,
    reduction: Literal["none"],
) -> tuple[tuple[Tensor, Tensor], ...]: ...


@overload
def discriminator_loss(
    real_logits: Logits,
    fake_logits: Logits,
    *,
    kind: AdversarialKind = ...,
    reduction: Reduction = ...,
) -> Tensor | Parts: ...


def discriminator_loss(
    real_logits: Logits,
    fake_logits: Logits,
    *,
    kind: AdversarialKind = "non_saturating",
    reduction: Reduction = "mean",
) -> Tensor | Parts:
    r"""The discriminator's (critic's) adversarial loss, from its logits on real and fake samples.

    With :math:`r = D(x)` and :math:`f = D(G(z))` the logits on real and generated samples, the
    loss is a sum of two expectations, each a mean over its own batch (the two batches may differ
    in size):

    .. math::
        L_D = \operatorname{mean}_r\, a(r) + \operatorname{mean}_f\, b(f), \qquad
        (a, b) = \begin{cases}
            (\operatorname{softplus}(-r),\ \operatorname{softplus}(f)) & \text{"non\_saturating", "minimax"} \\
            (\tfrac12 (r - 1)^2,\ \tfrac12 f^2) & \text{"lsgan"} \\
            (\operatorname{relu}(1 - r),\ \operatorname{relu}(1 + f)) & \text{"hinge"} \\
            (-r,\ f) & \text{"wasserstein"}
        \end{cases}

    The first is the binary cross-entropy of "real" against "fake" (the two GAN kinds differ only
    in the generator's loss). The Wasserstein critic needs a Lipschitz constraint, e.g.
    :func:`gradient_penalty`.

    A multi-scale discriminator's outputs are lists :math:`(r_1, \dots, r_S)` and
    :math:`(f_1, \dots, f_S)` (the same number of scales): ``"mean"`` averages the per-scale
    losses, :math:`\frac1S \sum_s (\operatorname{mean}\, a(r_s) + \operatorname{mean}\, b(f_s))`,
    which is MONAI's ``PatchAdversarialLoss`` on the real list plus the same on the fake list
    (for the kinds it shares, see :func:`generator_loss`; MONAI's tutorials then halve the sum);
    ``"sum"`` adds the per-scale sums; ``"none"`` gives a tuple of per-scale pairs
    ``((a(r_1), b(f_1)), ...)``.

    Args:
        real_logits: :math:`r`, the discriminator's raw outputs on real samples, any shape, or
            a list or tuple of them, one per scale.
        fake_logits: :math:`f`, its raw outputs on generated samples (detach them from the
            generator when training the discriminator), any shape; a list of the same length
            when ``real_logits`` is a list.
        kind: ``"non_saturating"`` (default), ``"minimax"``, ``"lsgan"``, ``"hinge"`` or
            ``"wasserstein"``.
        reduction: ``"mean"`` (default): :math:`L_D` as above; ``"sum"``:
            :math:`\sum_r a(r) + \sum_f b(f)`; ``"none"``: the tuple ``(a(r), b(f))`` of the
            per-logit terms, shaped like ``real_logits`` and ``fake_logits``, so that ``"mean"``
            is ``a.mean() + b.mean()``. There is no ``weight``: weigh the terms of ``"none"``.
            The return type follows: ``Tensor`` for ``"mean"`` and ``"sum"``, the pair for
            ``"none"``. The Module's ``discriminator`` returns a ``Tensor`` (it refuses
            ``"none"``) and its ``discriminator_parts`` the pair (a tuple of pairs for lists).

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> r, f = torch.tensor([2.0, 0.0]), torch.tensor([-1.0])
        >>> VF.discriminator_loss(r, f, kind="hinge")  # mean(0, 1) + relu(0)
        tensor(0.5000)
        >>> VF.discriminator_loss(r, f, kind="wasserstein", reduction="none")
        (tensor([-2., -0.]), tensor([-1.]))
    """
    opts = AdversarialOptions(kind=kind, reduction=reduction)
    if opts.reduction == "none":
        return _discriminator_parts(real_logits, fake_logits, opts)
    return _discriminator(real_logits, fake_logits, opts)


def _scale_pairs(real_logits: Logits, fake_logits: Logits) -> list[tuple[Tensor, Tensor]] | None:
    """``None`` for two tensors; the per-scale ``(real, fake)`` pairs for two lists."""
    real, fake = _scales(real_logits, "real_logits"), _scales(fake_logits, "fake_logits")
    if real is None and fake is None:
        return None
    if real is None or fake is None or len(real) != len(fake):
        raise ValueError(
            "real_logits, fake_logits: expected two tensors or two lists with one output per "
            f"scale each, got {_shown(real_logits)} and {_shown(fake_logits)}"
        )
    return list(zip(real, fake, strict=True))


def _discriminator_parts(
    real_logits: Logits, fake_logits: Logits, opts: AdversarialOptions
) -> Parts:
    """The per-logit terms ``(a(r), b(f))`` (per scale for lists), unreduced whatever
    ``opts.reduction`` is."""
    pairs = _scale_pairs(real_logits, fake_logits)
    if pairs is not None:
        return tuple(_discriminator_terms_of(r, f, opts) for r, f in pairs)
    return _discriminator_terms_of(real_logits, fake_logits, opts)  # type: ignore[arg-type]


def _discriminator_terms_of(real_logits: Tensor, fake_logits: Tensor, opts: AdversarialOptions
                            ) -> tuple[Tensor, Tensor]:
    check_floating(real_logits, "real_logits")
    check_floating(fake_logits, "fake_logits")
    dtype = compute_dtype(real_logits, fake_logits)
    return _discriminator_terms(real_logits.to(dtype), fake_logits.to(dtype), opts.kind)


def _discriminator(real_logits: Logits, fake_logits: Logits, opts: AdversarialOptions) -> Tensor:
    """The reduced loss: ``"mean"`` or ``"sum"`` (``"none"`` has no single tensor)."""
    if opts.reduction == "none":
        raise ValueError(
            "reduction: expected 'mean' or 'sum' for the discriminator's loss (a sum of two "
            "reductions over batches that may differ in size), got 'none'; "
            "discriminator_parts(real_logits, fake_logits) gives the per-logit terms"
        )
    pairs = _scale_pairs(real_logits, fake_logits)
    if pairs is None:
        return _discriminator_one(real_logits, fake_logits, opts)  # type: ignore[arg-type]
    return _across_scales([_discriminator_one(r, f, opts) for r, f in pairs], opts.reduction)


def _discriminator_one(real_logits: Tensor, fake_logits: Tensor, opts: AdversarialOptions
                       ) -> Tensor:
    real_terms, fake_terms = _discriminator_terms_of(real_logits, fake_logits, opts)
    # the two expectations are over different batches: each is reduced on its own
    return reduce_loss(real_terms, opts.reduction) + reduce_loss(fake_terms, opts.reduction)



class AdversarialLoss(LossModule):
    positional_options = ("kind",)

    def generator(
        self, fake_logits: Logits, weight: ScaleWeights = None
    ) -> Tensor | tuple[Tensor, ...]:
        """The generator's loss: :func:`generator_loss` of ``fake_logits`` (a tensor or a list of
        per-scale outputs; ``weight`` optional)."""
        return _generator(fake_logits, self.opts, weight)

    def discriminator(self, real_logits: Logits, fake_logits: Logits) -> Tensor:
        """The discriminator's loss, :func:`discriminator_loss` reduced by ``"mean"``/``"sum"``."""
        return _discriminator(real_logits, fake_logits, self.opts)

    def discriminator_parts(self, real_logits: Logits, fake_logits: Logits) -> Parts:
        """The discriminator's per-logit terms ``(a(r), b(f))`` (per scale for lists),
        unreduced (weigh them freely)."""
        return _discriminator_parts(real_logits, fake_logits, self.opts)

    def forward(self, *logits: Logits) -> Tensor | tuple[Tensor, ...]:
        """``(fake_logits)``: the generator's loss; ``(real_logits, fake_logits)``: the
        discriminator's (each a tensor or a list of per-scale outputs)."""
        if len(logits) == 1:
            return self.generator(logits[0])
        if len(logits) == 2:
            return self.discriminator(*logits)
        raise TypeError(
            "logits: expected (fake_logits) for the generator or (real_logits, fake_logits) for "
            f"the discriminator, got {len(logits)} tensors"
        )


_ADVERSARIAL_PAPERS = (
    "I. Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014, arXiv:1406.2661; "
    "X. Mao et al., Least Squares Generative Adversarial Networks, ICCV 2017, arXiv:1611.04076; "
    "J. H. Lim, J. C. Ye, Geometric GAN, 2017, arXiv:1705.02894; "
    "M. Arjovsky et al., Wasserstein GAN, ICML 2017, arXiv:1701.07875"
)
SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "generator", generator_loss, AdversarialLoss, AdversarialOptions, "generative",
        summary="The generator's adversarial loss from the discriminator's logits on fakes: "
        "non-saturating, minimax, LSGAN, hinge or Wasserstein.",
        formula=r"\operatorname{softplus}(-f) \text{ (non-saturating)}, "
        r"-\operatorname{softplus}(f) \text{ (minimax)}, \tfrac12 (f - 1)^2 \text{ (lsgan)}, "
        r"-f \text{ (hinge, wasserstein)}",
        paper=_ADVERSARIAL_PAPERS,
    ),
    LossSpec(
        "discriminator", discriminator_loss, AdversarialLoss, AdversarialOptions, "generative",
        summary="The discriminator's (critic's) adversarial loss: a mean over real logits plus a "
        "mean over fake logits.",
        formula=r"\operatorname{mean}_r a(r) + \operatorname{mean}_f b(f), \; (a, b) = "
        r"(\operatorname{softplus}(-r), \operatorname{softplus}(f)), "
        r"(\tfrac12 (r-1)^2, \tfrac12 f^2), (\operatorname{relu}(1-r), \operatorname{relu}(1+f)), "
        r"(-r, f)",
        paper=_ADVERSARIAL_PAPERS,
    ),
)
