"""Pixel and feature terms of the generative family: total variation, Jensen-Shannon, feature matching.

Imported and re-exported by :mod:`visionloss.losses.generative`: :func:`total_variation_loss`, the
smoothness prior of denoising, inpainting and style transfer, :func:`js_divergence`, the
symmetric and bounded counterpart of :func:`~visionloss.losses.generative.kl_divergence`, and
:func:`feature_matching_loss`, the GAN generator's distance between the discriminator's
intermediate features on real and generated images. Half and
bfloat16 inputs are computed in float32 and give a float32 result; every function ends in the shared
:func:`~visionloss._core.reduce_loss`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Reduction,
    check_choice,
    check_flag,
    check_floating,
    check_probabilities,
    check_same_shape,
    compute_dtype,
    reduce_loss,
)
from ._divergence import KLDivergenceOptions, distribution_pair

__all__ = [
    "FeatureDistance",
    "FeatureMatchingLoss",
    "FeatureMatchingOptions",
    "Features",
    "JSDivergence",
    "JSDivergenceOptions",
    "SPECS",
    "TotalVariationLoss",
    "TotalVariationOptions",
    "feature_matching_loss",
    "js_divergence",
    "total_variation_loss",
]

_LOG_2 = math.log(2.0)

FeatureDistance = Literal["l1", "l2"]
_FEATURE_DISTANCES: tuple[str, ...] = get_args(FeatureDistance)
#: one feature map, a list of them (the layers of one discriminator), or a list of such lists
#: (the layers of each discriminator of a multi-scale ensemble)
Features: TypeAlias = Tensor | Sequence[Tensor] | Sequence[Sequence[Tensor]]


# --- options: declared once, checked when built ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TotalVariationOptions(LossOptions):
    isotropic: bool = False

    def validate(self) -> None:
        check_flag(self.isotropic, "isotropic")


@dataclass(frozen=True, kw_only=True)
class JSDivergenceOptions(KLDivergenceOptions):
    """The options of :func:`js_divergence`: those of the KL divergence (``dim``, ``from_logits``)."""


@dataclass(frozen=True, kw_only=True)
class FeatureMatchingOptions(LossOptions):
    distance: FeatureDistance = "l1"
    detach_real: bool = True

    def validate(self) -> None:
        check_choice(self.distance, "distance", _FEATURE_DISTANCES)
        check_flag(self.detach_real, "detach_real")


# --- total variation ------------------------------------------------------------------------------


def total_variation_loss(
    input: Tensor,
    *,
    isotropic: bool = False,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Total variation of images ``(N, C, H, W)`` or volumes ``(N, C, D, H, W)``, one value per sample.

    With forward differences :math:`\partial_a x` along each spatial axis :math:`a`,

    .. math::
        \mathrm{TV}_{\text{aniso}}(x) = \sum_{c} \sum_{a} \sum_{p} |\partial_a x_{c,p}|, \qquad
        \mathrm{TV}_{\text{iso}}(x) = \sum_{c} \sum_{p} \sqrt{\textstyle\sum_a (\partial_a x_{c,p})^2}

    summed over the channels and every pixel (voxel) :math:`p`. The anisotropic L1 form is the
    default (kornia's ``total_variation`` summed over the channels); ``isotropic=True`` is
    Rudin-Osher-Fatemi's rotation-invariant form, with the forward differences of the last row
    (column, slice) taken as 0 (Neumann boundary, as in Chambolle's discretisation), so every pixel
    has its gradient vector. At a zero difference (a flat region) the gradient is 0, the smallest
    subgradient, for both forms: no ``eps`` shifts the value.

    The value is a sum, not a mean: it grows with the resolution; divide by the number of pixels
    (or scale the weight) for a resolution-independent term.

    Args:
        input: images ``(N, C, H, W)`` or volumes ``(N, C, D, H, W)``, floating.
        isotropic: the isotropic (L2 over the axes) form instead of the anisotropic L1 default.
        weight: optional non-negative ``(N,)`` sample weights.
        reduction: ``"mean"`` (default, over the batch), ``"sum"`` or ``"none"`` (``(N,)``).

    References:
        L. I. Rudin, S. Osher and E. Fatemi, "Nonlinear total variation based noise removal
        algorithms", Physica D 60, 1992; A. Chambolle, "An Algorithm for Total Variation
        Minimization and Applications", J. Math. Imaging Vis. 20, 2004; A. Mahendran and A.
        Vedaldi, "Understanding Deep Image Representations by Inverting Them", CVPR 2015,
        arXiv:1412.0035.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> x = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])  # two horizontal steps of 1
        >>> VF.total_variation_loss(x)
        tensor(2.)
        >>> VF.total_variation_loss(x, isotropic=True)
        tensor(2.)
    """
    opts = TotalVariationOptions(isotropic=isotropic, reduction=reduction)
    return _total_variation(input, opts, weight)


def _forward_differences(x: Tensor) -> list[Tensor]:
    # one tensor per spatial axis, each the input's shape: the last difference along its axis is 0
    diffs = []
    for axis in range(2, x.dim()):
        d = torch.diff(x, dim=axis)
        pad = [0, 0] * (x.dim() - 1 - axis) + [0, 1 if x.shape[axis] > 0 else 0]
        diffs.append(F.pad(d, pad))
    return diffs


def _total_variation(input: Tensor, opts: TotalVariationOptions, weight: Tensor | None) -> Tensor:
    check_floating(input, "input")
    if input.dim() not in (4, 5):
        raise ValueError(
            "input: expected images (N, C, H, W) or volumes (N, C, D, H, W), got shape "
            f"{tuple(input.shape)}"
        )
    x = input.to(compute_dtype(input))
    diffs = _forward_differences(x)
    if opts.isotropic:
        squared = diffs[0] * diffs[0]
        for d in diffs[1:]:
            squared = squared + d * d
        positive = squared > 0
        one = torch.ones((), dtype=x.dtype, device=x.device)
        # sqrt with a zero (not infinite) gradient where every difference is 0
        norm = torch.where(positive, torch.where(positive, squared, one).sqrt(), 0 * squared)
        per_sample = norm.flatten(1).sum(dim=1)
    else:
        per_sample = diffs[0].abs().flatten(1).sum(dim=1)
        for d in diffs[1:]:
            per_sample = per_sample + d.abs().flatten(1).sum(dim=1)
    return reduce_loss(per_sample, opts.reduction, weight=weight)


# --- Jensen-Shannon divergence --------------------------------------------------------------------


def js_divergence(
    p_logits: Tensor,
    q_logits: Tensor,
    *,
    dim: int = 1,
    from_logits: bool = True,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Jensen-Shannon divergence between categorical distributions, in nats.

    .. math::
        \mathrm{JS}(P, Q) = \tfrac12 \mathrm{KL}(P \,\|\, M) + \tfrac12 \mathrm{KL}(Q \,\|\, M),
        \qquad M = \tfrac12 (P + Q)

    over ``dim``: symmetric in its arguments, 0 when :math:`P = Q` and at most :math:`\log 2`
    (disjoint supports), finite wherever one distribution has a zero the other does not. From
    logits (default) the mixture is formed in log space,
    :math:`\log m = \operatorname{logaddexp}(\log p, \log q) - \log 2`, so no probability
    underflows. With ``from_logits=False`` the inputs are probabilities (not renormalised) and
    :math:`0 \log 0 = 0`; a category that is 0 in both contributes 0 and a zero gradient.

    Args:
        p_logits: logits (or probabilities) of :math:`P`, any shape with the categories on ``dim``.
        q_logits: logits (or probabilities) of :math:`Q`, the same shape.
        dim: the category dimension. Default 1 (``(N, C, *)``).
        from_logits: whether the inputs are logits (default) or probabilities.
        weight: optional non-negative tensor broadcastable to the per-distribution shape.
        reduction: ``"mean"`` (default) divides the sum by the number of distributions (the
            input's size without ``dim``), as :func:`kl_divergence`; ``"sum"``; ``"none"`` gives
            one value per distribution, the input's shape without ``dim``.

    Returns:
        The divergence; for probability heatmaps ``(B, N, H, W)``, ``js_divergence(p.flatten(2),
        q.flatten(2), dim=-1, from_logits=False)`` equals kornia's ``js_div_loss_2d(p, q)``.

    References:
        J. Lin, "Divergence measures based on the Shannon entropy", IEEE Trans. Inf. Theory 37,
        1991; I. Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, arXiv:1406.2661
        (the JS divergence minimised by the original GAN).

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> p = torch.tensor([[1.0, 0.0]])
        >>> q = torch.tensor([[0.0, 1.0]])
        >>> VF.js_divergence(p, q, from_logits=False)  # disjoint supports: log 2
        tensor(0.6931)
    """
    opts = JSDivergenceOptions(dim=dim, from_logits=from_logits, reduction=reduction)
    return _js_divergence(p_logits, q_logits, opts, weight)


def _js_divergence(
    p_logits: Tensor, q_logits: Tensor, opts: JSDivergenceOptions, weight: Tensor | None
) -> Tensor:
    p, q, dim = distribution_pair(p_logits, q_logits, opts.dim)
    if opts.from_logits:
        log_p = F.log_softmax(p, dim=dim)
        log_q = F.log_softmax(q, dim=dim)
        log_m = torch.logaddexp(log_p, log_q) - _LOG_2
        # exp underflows to 0 where a log is very negative; the differences stay finite
        terms = 0.5 * (log_p.exp() * (log_p - log_m) + log_q.exp() * (log_q - log_m))
    else:
        check_probabilities(p, "p_logits")
        check_probabilities(q, "q_logits")
        one = torch.ones((), dtype=p.dtype, device=p.device)
        m = 0.5 * (p + q)
        log_m = torch.log(torch.where(m > 0, m, one))
        # 0 log 0 = 0: the logs see 1 where a probability is 0, so no NaN in value or gradient
        log_p = torch.log(torch.where(p > 0, p, one))
        log_q = torch.log(torch.where(q > 0, q, one))
        terms = 0.5 * (p * (log_p - log_m) + q * (log_q - log_m))
    return reduce_loss(terms.sum(dim=dim), opts.reduction, weight=weight)


# --- feature matching -----------------------------------------------------------------------------


def feature_matching_loss(
    real_features: Features,
    fake_features: Features,
    *,
    distance: FeatureDistance = "l1",
    detach_real: bool = True,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""GAN feature matching: the distance between a discriminator's features on real and fakes.

    .. math::
        \ell_i = \sum_{k} \frac{1}{|F_k|} \sum_{j} d\left(F_k(x)_{ij},\, F_k(G(z))_{ij}\right)

    per sample :math:`i`, over the feature maps :math:`F_k` (every layer of every discriminator
    given), with :math:`d` the absolute (``"l1"``, default, pix2pixHD, MelGAN, HiFi-GAN) or
    squared (``"l2"``) difference averaged over each map's elements :math:`|F_k|` (channels and
    positions): each layer counts once whatever its size, and layers are summed (scale the
    result to weigh it against the adversarial term; pix2pixHD uses 10). The real features are
    targets: with ``detach_real`` (default) no gradient flows into them, so the call does not
    train the discriminator.

    Args:
        real_features: the discriminator's intermediate outputs on real images: one tensor
            ``(N, *)``, a list of them (one per layer), or a list of such lists (one per
            discriminator of a multi-scale ensemble; nesting is flattened).
        fake_features: the same on generated images, the same structure and shapes.
        distance: ``"l1"`` (default) or ``"l2"``.
        detach_real: whether to stop the gradient into ``real_features``. Default True.
        weight: optional non-negative ``(N,)`` sample weights.
        reduction: ``"mean"`` (default, over the batch), ``"sum"`` or ``"none"`` (``(N,)``).

    References:
        T. Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016,
        arXiv:1606.03498; T.-C. Wang et al., "High-Resolution Image Synthesis and Semantic
        Manipulation with Conditional GANs" (pix2pixHD), CVPR 2018, arXiv:1711.11585.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> real = [torch.zeros(1, 2, 2, 2), torch.zeros(1, 4)]
        >>> fake = [torch.ones(1, 2, 2, 2), torch.full((1, 4), 0.5)]
        >>> VF.feature_matching_loss(real, fake)  # 1 + 0.5
        tensor(1.5000)
    """
    opts = FeatureMatchingOptions(distance=distance, detach_real=detach_real, reduction=reduction)
    return _feature_matching(real_features, fake_features, opts, weight)


def _flatten_features(features: Features, name: str) -> list[Tensor]:
    if isinstance(features, Tensor):
        return [features]
    if not isinstance(features, (list, tuple)):
        raise TypeError(f"{name}: expected a tensor or a list of tensors, got {type(features)}")
    flat: list[Tensor] = []
    for item in features:
        if isinstance(item, (list, tuple)):
            flat.extend(_flatten_features(item, name))
        else:
            flat.append(check_floating(item, name))
    return flat


def _feature_matching(
    real_features: Features,
    fake_features: Features,
    opts: FeatureMatchingOptions,
    weight: Tensor | None,
) -> Tensor:
    real = _flatten_features(real_features, "real_features")
    fake = _flatten_features(fake_features, "fake_features")
    if len(real) != len(fake) or not real:
        raise ValueError(
            "fake_features: expected as many feature maps as real_features (at least one), got "
            f"{len(fake)} and {len(real)}"
        )
    batch = fake[0].shape[0] if fake[0].dim() > 0 else -1
    total: Tensor | None = None
    for k, (r, f) in enumerate(zip(real, fake, strict=True)):
        check_floating(r, "real_features")
        check_floating(f, "fake_features")
        check_same_shape(r, f, f"real_features[{k}]", f"fake_features[{k}]")
        if f.dim() < 1 or f.shape[0] != batch:
            raise ValueError(
                f"fake_features[{k}]: expected a batch of {batch} (N, *) maps, got shape "
                f"{tuple(f.shape)}"
            )
        dtype = compute_dtype(r, f)
        r = (r.detach() if opts.detach_real else r).to(dtype)
        diff = f.to(dtype) - r
        d = diff.abs() if opts.distance == "l1" else diff * diff
        per_sample = d.flatten(1).mean(dim=1) if d.dim() > 1 else d
        total = per_sample if total is None else total + per_sample.to(total.dtype)
    assert total is not None
    return reduce_loss(total, opts.reduction, weight=weight)


# --- Modules: documented by their spec, forward is one call to the core -------------------------


class TotalVariationLoss(LossModule):
    def forward(self, input: Tensor, weight: Tensor | None = None) -> Tensor:
        """input: ``(N, C, H, W)`` or ``(N, C, D, H, W)``; weight: ``(N,)``."""
        return _total_variation(input, self.opts, weight)


class JSDivergence(LossModule):
    def forward(self, p_logits: Tensor, q_logits: Tensor, weight: Tensor | None = None) -> Tensor:
        """p_logits, q_logits: the two distributions' logits (categories on ``dim``); weight."""
        return _js_divergence(p_logits, q_logits, self.opts, weight)


class FeatureMatchingLoss(LossModule):
    def forward(
        self, real_features: Features, fake_features: Features, weight: Tensor | None = None
    ) -> Tensor:
        """real_features, fake_features: a tensor, a list or a list of lists; weight: ``(N,)``."""
        return _feature_matching(real_features, fake_features, self.opts, weight)


# --- the catalogue rows (concatenated into the generative family's table) ------------------------

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "total_variation", total_variation_loss, TotalVariationLoss, TotalVariationOptions,
        "generative",
        summary="Total variation of images or volumes (anisotropic L1 by default, isotropic "
        "optional), summed over channels and pixels: one value per sample.",
        formula=r"\sum_{c,p} \sum_a |\partial_a x_{c,p}| \;\text{or}\; \sum_{c,p} "
        r"\sqrt{\textstyle\sum_a (\partial_a x_{c,p})^2}",
        paper="L. I. Rudin, S. Osher, E. Fatemi, Nonlinear total variation based noise removal "
        "algorithms, Physica D 1992; A. Mahendran, A. Vedaldi, Understanding Deep Image "
        "Representations by Inverting Them, CVPR 2015, arXiv:1412.0035",
    ),
    LossSpec(
        "js_divergence", js_divergence, JSDivergence, JSDivergenceOptions, "generative",
        summary="Jensen-Shannon divergence between categorical distributions (logits or "
        "probabilities): symmetric, bounded by log 2; the mean is over distributions.",
        formula=r"\tfrac12 \mathrm{KL}(P \,\|\, M) + \tfrac12 \mathrm{KL}(Q \,\|\, M), "
        r"\; M = \tfrac12 (P + Q)",
        paper="J. Lin, Divergence measures based on the Shannon entropy, IEEE Trans. Inf. Theory "
        "1991",
    ),
    LossSpec(
        "feature_matching", feature_matching_loss, FeatureMatchingLoss, FeatureMatchingOptions,
        "generative",
        summary="GAN feature matching: L1 (or L2) between the discriminator's features on real "
        "and generated images, each layer averaged, layers (and scales) summed.",
        formula=r"\sum_k \operatorname{mean}_j \left|F_k(x)_j - F_k(G(z))_j\right|",
        paper="T. Salimans et al., Improved Techniques for Training GANs, NeurIPS 2016, "
        "arXiv:1606.03498; T.-C. Wang et al., pix2pixHD, CVPR 2018, arXiv:1711.11585",
    ),
)
