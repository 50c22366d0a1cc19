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
    reduce_loss,
)

__all__ = [
    "ADVERSARIAL_KINDS",
    "AdversarialKind",
    "AdversarialLoss",
    "AdversarialOptions",
    "Logits",
    "SPECS",
    "discriminator_loss",
    "generator_loss",
]

AdversarialKind = Literal["non_saturating", "minimax", "lsgan", "hinge", "wasserstein"]
ADVERSARIAL_KINDS: tuple[str, ...] = get_args(AdversarialKind)
#: one discriminator output, or one per scale of a multi-scale discriminator (a list or tuple)
Logits: TypeAlias = Tensor | Sequence[Tensor]


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


def generator_loss(
    fake_logits: Tensor,
    *,
    kind: AdversarialKind = "non_saturating",
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
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

    Args:
        fake_logits: :math:`f`, the discriminator's raw outputs on generated samples, any shape
            (typically ``(N,)`` or ``(N, 1)``; a patch discriminator's ``(N, 1, h, w)``).
        kind: ``"non_saturating"`` (default), ``"minimax"``, ``"lsgan"``, ``"hinge"`` or
            ``"wasserstein"``.
        weight: optional non-negative tensor broadcastable to ``fake_logits``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the per-logit terms
            :math:`\ell(f)`, the shape of ``fake_logits``).

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
    """
    return _generator(fake_logits, AdversarialOptions(kind=kind, reduction=reduction), weight)


def _generator(fake_logits: Tensor, opts: AdversarialOptions, weight: Tensor | None) -> Tensor:
    check_floating(fake_logits, "fake_logits")
    fake = fake_logits.to(compute_dtype(fake_logits))
    return reduce_loss(_generator_terms(fake, opts.kind), opts.reduction, weight=weight)


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
    real_logits: Tensor,
    fake_logits: Tensor,
    *,
    kind: AdversarialKind = ...,
    reduction: Reduction = ...,
) -> Tensor | tuple[Tensor, Tensor]: ...


def discriminator_loss(
    real_logits: Tensor,
    fake_logits: Tensor,
    *,
    kind: AdversarialKind = "non_saturating",
    reduction: Reduction = "mean",
) -> Tensor | tuple[Tensor, Tensor]:
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

    Args:
        real_logits: :math:`r`, the discriminator's raw outputs on real samples, any shape.
        fake_logits: :math:`f`, its raw outputs on generated samples (detach them from the
            generator when training the discriminator), any shape.
        kind: ``"non_saturating"`` (default), ``"minimax"``, ``"lsgan"``, ``"hinge"`` or
            ``"wasserstein"``.
        reduction: ``"mean"`` (default): :math:`L_D` as above; ``"sum"``:
            :math:`\sum_r a(r) + \sum_f b(f)`; ``"none"``: the tuple ``(a(r), b(f))`` of the
            per-logit terms, shaped like ``real_logits`` and ``fake_logits``, so that ``"mean"``
            is ``a.mean() + b.mean()``. There is no ``weight``: weigh the terms of ``"none"``.
            The return type follows: ``Tensor`` for ``"mean"`` and ``"sum"``, the pair for
            ``"none"``. The Module's ``discriminator`` returns a ``Tensor`` (it refuses
            ``"none"``) and its ``discriminator_parts`` the pair.

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


def _discriminator_parts(
    real_logits: Tensor, fake_logits: Tensor, opts: AdversarialOptions
) -> tuple[Tensor, Tensor]:
    """The per-logit terms ``(a(r), b(f))``, unreduced whatever ``opts.reduction`` is."""
    check_floating(real_logits, "real_logits")
    check_floating(fake_logits, "fake_logits")
    dtype = compute_dtype(real_logits, fake_logits)
    return _discriminator_terms(real_logits.to(dtype), fake_logits.to(dtype), opts.kind)


def _discriminator(real_logits: Tensor, fake_logits: Tensor, opts: AdversarialOptions) -> Tensor:
    """The reduced loss: ``"mean"`` or ``"sum"`` (``"none"`` has no single tensor)."""
    if opts.reduction == "none":
        raise ValueError(
            "reduction: expected 'mean' or 'sum' for the discriminator's loss (a sum of two "
            "reductions over batches that may differ in size), got 'none'; "
            "discriminator_parts(real_logits, fake_logits) gives the per-logit terms"
        )
    real_terms, fake_terms = _discriminator_parts(real_logits, fake_logits, opts)
    # the two expectations are over different batches: each is reduced on its own
    return reduce_loss(real_terms, opts.reduction) + reduce_loss(fake_terms, opts.reduction)



class AdversarialLoss(LossModule):
    positional_options = ("kind",)

    def generator(self, fake_logits: Tensor, weight: Tensor | None = None) -> Tensor:
        """The generator's loss: :func:`generator_loss` of ``fake_logits`` (``weight`` optional)."""
        return _generator(fake_logits, self.opts, weight)

    def discriminator(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """The discriminator's loss, :func:`discriminator_loss` reduced by ``"mean"``/``"sum"``."""
        return _discriminator(real_logits, fake_logits, self.opts)

    def discriminator_parts(self, real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
        """The discriminator's per-logit terms ``(a(r), b(f))``, unreduced (weigh them freely)."""
        return _discriminator_parts(real_logits, fake_logits, self.opts)

    def forward(self, *logits: Tensor) -> Tensor:
        """``(fake_logits)``: the generator's loss; ``(real_logits, fake_logits)``: the discriminator's."""
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
