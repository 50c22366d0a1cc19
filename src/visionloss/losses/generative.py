"""Generative-model losses: adversarial objectives, gradient penalties, likelihoods, SSIM, KL, VAE.

* GAN objectives from the discriminator's logits (one output or a multi-scale list):
  :func:`generator_loss`, :func:`discriminator_loss` (and :class:`AdversarialLoss`) in five
  kinds (they live in :mod:`visionloss.losses._adversarial`), and the critic regularisers
  :func:`gradient_penalty` (WGAN-GP) and :func:`r1_penalty`.
* Reconstruction: :func:`gaussian_nll_loss`, :func:`ssim_loss` and :func:`ms_ssim_loss` (those two
  live in :mod:`visionloss.losses._ssim`).
* Divergences: :func:`kl_divergence` between categorical distributions, :func:`gaussian_kl`
  between diagonal Gaussians, and the evidence lower bound :func:`vae_loss` (they live in
  :mod:`visionloss.losses._divergence`), and the Jensen-Shannon :func:`js_divergence`.
* Pixel priors and feature terms: :func:`total_variation_loss`, the GAN generator's
  :func:`feature_matching_loss` (they and :func:`js_divergence` live in
  :mod:`visionloss.losses._pixel`).
* The perceptual loss over a user-supplied feature extractor, :func:`perceptual_loss` (and
  :class:`PerceptualLoss`; in :mod:`visionloss.losses._perceptual`).

This module re-exports every public name of its five sub-modules, and its :data:`SPECS` is the
family's whole table: its own rows, then theirs. Half and bfloat16 inputs are computed in float32
and give a float32 result; every function ends in the shared :func:`~visionloss._core.reduce_loss`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Reduction,
    check_broadcastable,
    check_flag,
    check_floating,
    check_number,
    check_probabilities,
    check_same_shape,
    compute_dtype,
    describe,
    prepare_pair,
    reduce_loss,
)
from ..kernels import pointwise
from . import _adversarial, _divergence, _perceptual, _pixel, _ssim
from ._adversarial import (
    ADVERSARIAL_KINDS,
    AdversarialKind,
    AdversarialLoss,
    AdversarialOptions,
    Logits,
    discriminator_loss,
    generator_loss,
)
from ._divergence import (
    GaussianKLLoss,
    KLDivergence,
    KLDivergenceOptions,
    Reconstruction,
    VAELoss,
    VAEOptions,
    _per_sample,
    gaussian_kl,
    kl_divergence,
    vae_loss,
)
from ._perceptual import PerceptualLoss, PerceptualOptions, perceptual_loss
from ._pixel import (
    FeatureDistance,
    FeatureMatchingLoss,
    FeatureMatchingOptions,
    Features,
    JSDivergence,
    JSDivergenceOptions,
    TotalVariationLoss,
    TotalVariationOptions,
    feature_matching_loss,
    js_divergence,
    total_variation_loss,
)
from ._ssim import MSSSIMLoss, MSSSIMOptions, SSIMLoss, SSIMOptions, ms_ssim_loss, ssim_loss

__all__ = [
    "ADVERSARIAL_KINDS",
    "AdversarialKind",
    "AdversarialLoss",
    "AdversarialOptions",
    "FeatureDistance",
    "FeatureMatchingLoss",
    "FeatureMatchingOptions",
    "Features",
    "GaussianKLLoss",
    "GaussianNLLLoss",
    "GaussianNLLOptions",
    "GradientPenalty",
    "GradientPenaltyOptions",
    "JSDivergence",
    "JSDivergenceOptions",
    "KLDivergence",
    "KLDivergenceOptions",
    "Logits",
    "MSSSIMLoss",
    "MSSSIMOptions",
    "PerceptualLoss",
    "PerceptualOptions",
    "R1Penalty",
    "R1PenaltyOptions",
    "Reconstruction",
    "SPECS",
    "SSIMLoss",
    "SSIMOptions",
    "TotalVariationLoss",
    "TotalVariationOptions",
    "VAELoss",
    "VAEOptions",
    "discriminator_loss",
    "feature_matching_loss",
    "gaussian_kl",
    "gaussian_nll_loss",
    "generator_loss",
    "gradient_penalty",
    "js_divergence",
    "kl_divergence",
    "ms_ssim_loss",
    "perceptual_loss",
    "r1_penalty",
    "ssim_loss",
    "total_variation_loss",
    "vae_loss",
]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


# --- options: declared once, checked when built ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GradientPenaltyOptions(LossOptions):
    #: the penalty coefficient lambda (not a per-sample weight)
    weight: float = 10.0

    def validate(self) -> None:
        check_number(self.weight, "weight", low=0.0)


@dataclass(frozen=True, kw_only=True)
class R1PenaltyOptions(LossOptions):
    gamma: float = 10.0

    def validate(self) -> None:
        check_number(self.gamma, "gamma", low=0.0)


@dataclass(frozen=True, kw_only=True)
class GaussianNLLOptions(LossOptions):
    full: bool = True

    def validate(self) -> None:
        check_flag(self.full, "full")


# --- critic regularisers ----------------------------------------------------------------------------


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    weight: float = 10.0,
    interpolation: Tensor | None = None,
    generator: torch.Generator | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""WGAN-GP gradient penalty: the critic's gradient norm pushed to 1 between real and fake.

    .. math::
        \hat x_i = \epsilon_i x_i + (1 - \epsilon_i) \tilde x_i, \quad
        \epsilon_i \sim U[0, 1], \qquad
        \ell_i = \lambda \left(\lVert \nabla_{\hat x} D(\hat x_i) \rVert_2 - 1\right)^2

    with :math:`x_i` real, :math:`\tilde x_i` generated, one :math:`\epsilon_i` per sample and the
    norm over all of a sample's features. The gradient is taken with ``create_graph=True``, so the
    penalty backpropagates into the critic's parameters (a double backward); ``real`` and ``fake``
    are detached, so it trains the critic only. Each sample's gradient is read from the gradient
    of ``critic(x_hat).sum()``, which is right when the critic treats samples independently (no
    batch normalisation in the critic, as the paper advises). Computed in float32 for half inputs.
    Not meant for ``torch.compile`` (the critic itself can be compiled); raises ``RuntimeError``
    under ``torch.inference_mode()``, ``torch.func`` transforms and ``torch.export``, where
    autograd cannot run.

    Args:
        critic: the critic :math:`D`, a callable (an ``nn.Module``) mapping ``(N, *)`` inputs to
            ``(N,)`` or ``(N, ...)`` scores.
        real: :math:`x`, real samples ``(N, *)``.
        fake: :math:`\tilde x`, generated samples of the same shape.
        weight: :math:`\lambda \ge 0`, the penalty coefficient. Default 10 (the paper's).
        interpolation: optional :math:`\epsilon`, a ``(N,)`` tensor of values in ``[0, 1]``;
            drawn uniformly when omitted.
        generator: optional ``torch.Generator`` (on the device of ``real``) for drawing
            :math:`\epsilon` reproducibly; only without ``interpolation``.
        reduction: ``"mean"`` (default, the paper's expectation), ``"sum"`` or ``"none"``
            (``(N,)``, one penalty per sample).

    References:
        I. Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017,
        arXiv:1704.00028.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> critic = torch.nn.Linear(4, 1, bias=False)
        >>> _ = torch.nn.init.constant_(critic.weight, 1.0)  # gradient norm sqrt(4) = 2 everywhere
        >>> VF.gradient_penalty(critic, torch.randn(3, 4), torch.randn(3, 4))  # 10 * (2 - 1)^2
        tensor(10., grad_fn=<DivBackward0>)
    """
    opts = GradientPenaltyOptions(weight=weight, reduction=reduction)
    return _gradient_penalty(critic, real, fake, opts, interpolation, generator)


def _check_autograd_available(name: str) -> None:
    """The penalties differentiate the critic with ``torch.autograd.grad(create_graph=True)``:
    a clear error where autograd cannot run, instead of one from deep inside it."""
    if torch.is_inference_mode_enabled():
        situation = "torch.inference_mode()"
    elif torch._C._are_functorch_transforms_active():
        situation = "a torch.func transform (grad, vmap, jvp, ...)"
    elif torch.compiler.is_exporting():
        situation = "torch.export"
    else:
        return
    raise RuntimeError(
        f"{name} needs autograd (it calls torch.autograd.grad with create_graph=True on the "
        f"critic): it cannot run under {situation}; compute the penalty outside it, in eager "
        "mode"
    )


def _gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    opts: GradientPenaltyOptions,
    interpolation: Tensor | None,
    generator: torch.Generator | None,
) -> Tensor:
    _check_autograd_available("gradient_penalty")
    if not callable(critic):
        raise TypeError(f"critic: expected a callable (the critic network), got {describe(critic)}")
    check_floating(real, "real")
    check_floating(fake, "fake")
    check_same_shape(real, fake, "real", "fake")
    if real.dim() < 1:
        raise ValueError(f"real: expected a batch of shape (N, *), got shape {tuple(real.shape)}")
    n = real.shape[0]
    if interpolation is None:
        eps = torch.rand(n, generator=generator, dtype=real.dtype, device=real.device)
    else:
        if generator is not None:
            raise ValueError(
                "generator: expected None when interpolation is given, got a generator"
            )
        check_floating(interpolation, "interpolation")
        if interpolation.shape != (n,):
            raise ValueError(
                f"interpolation: expected shape ({n},) (one value per sample), "
                f"got {tuple(interpolation.shape)}"
            )
        check_probabilities(interpolation, "interpolation")
        eps = interpolation.detach().to(real.dtype)
    eps = eps.reshape((n,) + (1,) * (real.dim() - 1))
    with torch.enable_grad():
        x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
        scores = critic(x_hat)
        check_floating(scores, "critic(x_hat)")
        (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    grad = _per_sample(grad.to(compute_dtype(grad)))
    # vector_norm's gradient at a zero gradient is 0, not NaN
    loss = opts.weight * (torch.linalg.vector_norm(grad, dim=1) - 1) ** 2
    return reduce_loss(loss, opts.reduction)


def r1_penalty(
    real_logits: Tensor,
    real_inputs: Tensor,
    *,
    gamma: float = 10.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""R1 regularisation: the squared norm of the discriminator's gradient on real data.

    .. math::
        \ell_i = \frac{\gamma}{2} \left\lVert \nabla_{x} D(x_i) \right\rVert_2^2

    over each real sample's features, averaged over the batch. Computed with
    ``torch.autograd.grad(real_logits.sum(), real_inputs, create_graph=True)``, so the penalty
    backpropagates into the discriminator's parameters; per-sample norms are right when the
    discriminator treats samples independently. StyleGAN applies it every 16 steps ("lazy
    regularisation") with ``gamma`` scaled by 16. Computed in float32 for half inputs. Raises
    ``RuntimeError`` under ``torch.inference_mode()``, ``torch.func`` transforms and
    ``torch.export``, where autograd cannot run.

    Args:
        real_logits: :math:`D(x)`, the discriminator's outputs on ``real_inputs``, any shape
            (``(N,)`` or ``(N, 1)`` typically).
        real_inputs: :math:`x`, ``(N, *)``, the real batch, with ``requires_grad=True`` set
            before the discriminator was called on it.
        gamma: :math:`\gamma \ge 0`. Default 10.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``(N,)``).

    References:
        L. Mescheder, A. Geiger and S. Nowozin, "Which Training Methods for GANs do actually
        Converge?", ICML 2018, arXiv:1801.04406.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> x = torch.randn(2, 3, requires_grad=True)
        >>> w = torch.tensor([1.0, 2.0, 2.0], requires_grad=True)
        >>> VF.r1_penalty(x @ w, x, gamma=1.0)  # 1/2 * |w|^2 = 4.5
        tensor(4.5000, grad_fn=<DivBackward0>)
    """
    return _r1_penalty(real_logits, real_inputs, R1PenaltyOptions(gamma=gamma, reduction=reduction))


def _r1_penalty(real_logits: Tensor, real_inputs: Tensor, opts: R1PenaltyOptions) -> Tensor:
    _check_autograd_available("r1_penalty")
    check_floating(real_logits, "real_logits")
    check_floating(real_inputs, "real_inputs")
    if real_inputs.dim() < 1:
        raise ValueError(
            f"real_inputs: expected a batch of shape (N, *), got shape {tuple(real_inputs.shape)}"
        )
    if not real_inputs.requires_grad:
        raise ValueError(
            "real_inputs: expected a tensor that requires grad (call real_inputs.requires_grad_() "
            "before the discriminator), got one that does not"
        )
    if not real_logits.requires_grad:
        raise ValueError(
            "real_logits: expected the discriminator's output on real_inputs (requiring grad), "
            "got a tensor that does not require grad"
        )
    (grad,) = torch.autograd.grad(
        real_logits.sum(), real_inputs, create_graph=True, allow_unused=True
    )
    if grad is None:
        raise ValueError(
            "real_logits: expected the discriminator's output on real_inputs, "
            "got a tensor that does not depend on real_inputs"
        )
    grad = _per_sample(grad.to(compute_dtype(grad)))
    loss = 0.5 * opts.gamma * (grad * grad).sum(dim=1)
    return reduce_loss(loss, opts.reduction)


# --- likelihood ----------------------------------------------------------------------


def gaussian_nll_loss(
    mean: Tensor,
    target: Tensor,
    logvar: Tensor,
    *,
    full: bool = True,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Negative log-likelihood of a Gaussian with a predicted mean and log-variance.

    .. math::
        \ell_i = \tfrac12 \left( v_i + (y_i - \mu_i)^2 e^{-v_i} + \log 2\pi \right),
        \qquad v_i = \log \sigma_i^2

    This is :math:`-\log \mathcal N(y_i; \mu_i, \sigma_i^2)`. With a fixed variance the first
    and last terms are constants and the loss is :math:`\frac{1}{2\sigma^2}(y - \mu)^2` plus a
    constant: MSE is the NLL of a fixed-variance Gaussian (``logvar = 0``: ``mse / 2`` plus
    :math:`\tfrac12\log 2\pi`). Predicting :math:`v` lets a network say where it is unsure
    (heteroscedastic regression, Kendall and Gal 2017). The log-variance is taken, not the
    variance: it is unconstrained, and :math:`e^{-v}` needs no clamp to stay positive. It is not
    bounded either: a very negative :math:`v` with a non-zero residual gives a very large loss
    (up to ``inf``), as the likelihood does; bound the network's output (e.g. ``clamp``) if that
    is a risk. A zero residual gives a finite loss at any :math:`v` (no :math:`0 \cdot \infty`):
    inside the exponential :math:`v` is clamped at -88 (float32; -709 in float64), where
    :math:`e^{-v}` would overflow.

    Args:
        mean: :math:`\mu`, the predicted mean, any shape.
        target: :math:`y`, the same shape as ``mean``.
        logvar: :math:`v`, the predicted log-variance, broadcastable to ``mean`` (e.g. one per
            channel, or a learnt scalar for a homoscedastic model).
        full: include the constant :math:`\tfrac12\log 2\pi` (default ``True``, the exact NLL);
            ``False`` drops it, as ``torch.nn.functional.gaussian_nll_loss`` does by default.
        weight: optional non-negative tensor broadcastable to ``mean``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the shape of ``mean``).

    Returns:
        The loss; equals ``torch.nn.functional.gaussian_nll_loss(mean, target, logvar.exp(),
        full=full)`` wherever the variance is above torch's clamp ``eps``.

    References:
        D. A. Nix and A. S. Weigend, "Estimating the mean and variance of the target probability
        distribution", ICNN 1994; A. Kendall and Y. Gal, "What Uncertainties Do We Need in
        Bayesian Deep Learning for Computer Vision?", NeurIPS 2017, arXiv:1703.04977.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> mu, y = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 2.0])
        >>> VF.gaussian_nll_loss(mu, y, torch.zeros(2), full=False, reduction="none")  # mse / 2
        tensor([0.5000, 2.0000])
    """
    opts = GaussianNLLOptions(full=full, reduction=reduction)
    return _gaussian_nll(mean, target, logvar, opts, weight)


def _gaussian_nll(
    mean: Tensor,
    target: Tensor,
    logvar: Tensor,
    opts: GaussianNLLOptions,
    weight: Tensor | None,
) -> Tensor:
    mean, target = prepare_pair(mean, target)
    check_floating(logvar, "logvar")
    check_broadcastable(logvar, mean.shape, "logvar", "mean")
    logvar = logvar.to(compute_dtype(mean, logvar))
    mean, target = mean.to(logvar.dtype), target.to(logvar.dtype)
    # (y - mu)^2 e^{-v} with v clamped inside the exp: kernels.pointwise.gaussian_nll_reference
    loss = pointwise.gaussian_nll(mean, target, logvar, full=opts.full)
    return reduce_loss(loss, opts.reduction, weight=weight)


# --- Modules: documented by their spec, forward is one call to the core -------------------------


class GradientPenalty(LossModule):
    def forward(
        self,
        critic: Callable[[Tensor], Tensor],
        real: Tensor,
        fake: Tensor,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """critic: the critic network; real, fake: ``(N, *)`` batches; generator: optional RNG."""
        return _gradient_penalty(critic, real, fake, self.opts, None, generator)


class R1Penalty(LossModule):
    def forward(self, real_logits: Tensor, real_inputs: Tensor) -> Tensor:
        """real_logits: the discriminator's outputs on ``real_inputs`` (``(N, *)``, requiring grad)."""
        return _r1_penalty(real_logits, real_inputs, self.opts)


class GaussianNLLLoss(LossModule):
    def forward(
        self, mean: Tensor, target: Tensor, logvar: Tensor, weight: Tensor | None = None
    ) -> Tensor:
        """mean, target: any shape; logvar: broadcastable to ``mean``; weight: optional."""
        return _gaussian_nll(mean, target, logvar, self.opts, weight)


# --- the family's catalogue -----------------------------------------------------------------------

_SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "gradient_penalty", gradient_penalty, GradientPenalty, GradientPenaltyOptions, "generative",
        summary="WGAN-GP: the critic's gradient norm pushed to 1 on random real/fake interpolates.",
        formula=r"\lambda \left(\lVert \nabla_{\hat x} D(\hat x) \rVert_2 - 1\right)^2, \;"
        r"\hat x = \epsilon x + (1 - \epsilon) \tilde x",
        paper="I. Gulrajani et al., Improved Training of Wasserstein GANs, NeurIPS 2017, "
        "arXiv:1704.00028",
    ),
    LossSpec(
        "r1_penalty", r1_penalty, R1Penalty, R1PenaltyOptions, "generative",
        summary="R1: the squared norm of the discriminator's gradient on real data.",
        formula=r"\frac{\gamma}{2} \lVert \nabla_x D(x) \rVert_2^2",
        paper="L. Mescheder, A. Geiger, S. Nowozin, Which Training Methods for GANs do actually "
        "Converge?, ICML 2018, arXiv:1801.04406",
    ),
    LossSpec(
        "gaussian_nll", gaussian_nll_loss, GaussianNLLLoss, GaussianNLLOptions, "generative",
        summary="Negative log-likelihood of a Gaussian with predicted mean and log-variance "
        "(heteroscedastic regression).",
        formula=r"\tfrac12 \left(v + (y - \mu)^2 e^{-v} + \log 2\pi\right)",
        paper="D. A. Nix, A. S. Weigend, Estimating the mean and variance of the target "
        "probability distribution, ICNN 1994; A. Kendall, Y. Gal, What Uncertainties Do We Need "
        "in Bayesian Deep Learning for Computer Vision?, NeurIPS 2017, arXiv:1703.04977",
    ),
)

#: the family's table: the adversarial objectives (sub-module), the penalties and likelihood
#: declared here, then the rows of the SSIM, divergence, pixel and perceptual sub-modules
SPECS: tuple[LossSpec, ...] = (
    _adversarial.SPECS + _SPECS + _ssim.SPECS + _divergence.SPECS + _pixel.SPECS
    + _perceptual.SPECS
)
