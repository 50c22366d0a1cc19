"""Divergences of the generative family: categorical KL, Gaussian KL, and the VAE loss.

Imported and re-exported by :mod:`visionloss.losses.generative`: :func:`kl_divergence` between
categorical distributions, :func:`gaussian_kl` between diagonal Gaussians, and the (beta-)VAE's
negative evidence lower bound :func:`vae_loss`. Half and bfloat16 inputs are computed in float32
and give a float32 result; every function ends in the shared :func:`~visionloss._core.reduce_loss`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Reduction,
    check_broadcastable,
    check_choice,
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

__all__ = [
    "GaussianKLLoss",
    "KLDivergence",
    "KLDivergenceOptions",
    "Reconstruction",
    "SPECS",
    "VAELoss",
    "VAEOptions",
    "gaussian_kl",
    "kl_divergence",
    "vae_loss",
]

Reconstruction = Literal["bce", "mse"]
_RECONSTRUCTIONS: tuple[str, ...] = get_args(Reconstruction)


# --- options: declared once, checked when built ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class KLDivergenceOptions(LossOptions):
    dim: int = 1
    from_logits: bool = True

    def validate(self) -> None:
        # the range of dim depends on the input: checked at the call
        if isinstance(self.dim, bool) or not isinstance(self.dim, int):
            raise TypeError(f"dim: expected an int, got {describe(self.dim)}")
        check_flag(self.from_logits, "from_logits")


@dataclass(frozen=True, kw_only=True)
class VAEOptions(LossOptions):
    beta: float = 1.0
    reconstruction: Reconstruction = "bce"

    def validate(self) -> None:
        check_number(self.beta, "beta", low=0.0)
        check_choice(self.reconstruction, "reconstruction", _RECONSTRUCTIONS)


def _per_sample(grad: Tensor) -> Tensor:
    # (N, *) -> (N, features); flatten(1) keeps an empty batch working (reshape(0, -1) cannot)
    return grad.flatten(1) if grad.dim() > 1 else grad.unsqueeze(1)


def _normalise_dim(dim: int, ndim: int, shape: tuple[int, ...]) -> int:
    if not -ndim <= dim < ndim:
        raise ValueError(
            f"dim: expected a value in [{-ndim}, {ndim - 1}] for inputs of shape {shape}, got {dim}"
        )
    return dim % ndim


def distribution_pair(p_logits: Tensor, q_logits: Tensor, dim: int) -> tuple[Tensor, Tensor, int]:
    """The checked pair of a divergence between two distributions along ``dim``: both floating,
    the same shape, at least one dimension; returned in the compute dtype with ``dim`` made
    non-negative. Shared by :func:`kl_divergence` and ``js_divergence``."""
    check_floating(p_logits, "p_logits")
    check_floating(q_logits, "q_logits")
    check_same_shape(p_logits, q_logits, "p_logits", "q_logits")
    if p_logits.dim() == 0:
        raise ValueError("p_logits: expected at least one dimension (the categories), got a scalar")
    dim = _normalise_dim(dim, p_logits.dim(), tuple(p_logits.shape))
    dtype = compute_dtype(p_logits, q_logits)
    return p_logits.to(dtype), q_logits.to(dtype), dim


def kl_divergence(
    p_logits: Tensor,
    q_logits: Tensor,
    *,
    dim: int = 1,
    from_logits: bool = True,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(P \,\|\, Q)` between categorical distributions.

    .. math::
        \mathrm{KL}(P \,\|\, Q) = \sum_k p_k \left(\log p_k - \log q_k\right)

    over ``dim``, with :math:`\log p = \operatorname{log\_softmax}(p\_logits)` (and the same for
    :math:`q`) when ``from_logits``, which is finite for any finite logits. With
    ``from_logits=False`` the inputs are probabilities (not renormalised) and :math:`0 \log 0 = 0`:
    a zero :math:`p_k` contributes 0 and gets a zero gradient; a zero :math:`q_k` under a positive
    :math:`p_k` gives ``inf``, as the divergence is. Note the order: in distillation :math:`P` is
    the teacher (the target) and :math:`Q` the student; gradients flow into both arguments.

    Args:
        p_logits: logits (or probabilities) of :math:`P`, any shape with the categories on ``dim``.
        q_logits: logits (or probabilities) of :math:`Q`, the same shape.
        dim: the category dimension. Default 1 (``(N, C, *)``).
        from_logits: whether the inputs are logits (default) or probabilities.
        weight: optional non-negative tensor broadcastable to the per-distribution shape (the
            input's shape without ``dim``).
        reduction: ``"mean"`` (default) divides the sum by the number of distributions (the
            input's size without ``dim``), never by the number of elements: for ``(N, C)`` inputs
            it is torch's ``reduction="batchmean"``; ``"sum"``; ``"none"`` gives one value per
            distribution, the input's shape without ``dim``.

    Returns:
        The divergence; for ``(N, C)`` inputs equals ``torch.nn.functional.kl_div(log_q, log_p,
        log_target=True, reduction="batchmean")``.

    References:
        S. Kullback and R. A. Leibler, "On Information and Sufficiency", 1951; G. Hinton, O.
        Vinyals and J. Dean, "Distilling the Knowledge in a Neural Network", 2015, arXiv:1503.02531.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> p = torch.tensor([[0.5, 0.5]])
        >>> q = torch.tensor([[0.25, 0.75]])
        >>> VF.kl_divergence(p, q, from_logits=False)  # 0.5 log 2 + 0.5 log(2/3)
        tensor(0.1438)
    """
    opts = KLDivergenceOptions(dim=dim, from_logits=from_logits, reduction=reduction)
    return _kl_divergence(p_logits, q_logits, opts, weight)


def _kl_divergence(
    p_logits: Tensor, q_logits: Tensor, opts: KLDivergenceOptions, weight: Tensor | None
) -> Tensor:
    p, q, dim = distribution_pair(p_logits, q_logits, opts.dim)
    if opts.from_logits:
        log_p = F.log_softmax(p, dim=dim)
        log_q = F.log_softmax(q, dim=dim)
        # exp(log_p) underflows to 0 where log_p is very negative; log_p - log_q stays finite
        terms = log_p.exp() * (log_p - log_q)
    else:
        check_probabilities(p, "p_logits")
        check_probabilities(q, "q_logits")
        positive = p > 0
        one = torch.ones((), dtype=p.dtype, device=p.device)
        # 0 log 0 = 0: the logs see 1 where p = 0, so neither value nor gradient is NaN there
        terms = p * (
            torch.log(torch.where(positive, p, one)) - torch.log(torch.where(positive, q, one))
        )
    return reduce_loss(terms.sum(dim=dim), opts.reduction, weight=weight)


def _gaussian_kl_terms(
    mu: Tensor, logvar: Tensor, mu2: Tensor | None, logvar2: Tensor | None
) -> Tensor:
    if mu2 is None and logvar2 is None:
        # KL(N(mu, e^v) || N(0, 1)) = 1/2 (mu^2 + e^v - 1 - v); expm1 keeps e^v - 1 accurate at v ~ 0
        return 0.5 * (mu * mu + torch.expm1(logvar) - logvar)
    mu2 = torch.zeros((), dtype=mu.dtype, device=mu.device) if mu2 is None else mu2
    logvar2 = torch.zeros((), dtype=mu.dtype, device=mu.device) if logvar2 is None else logvar2
    # 1/2 (v2 - v + (e^v + (mu - mu2)^2) / e^v2 - 1), with the ratio of variances as one exp
    dv = logvar - logvar2
    return 0.5 * ((mu - mu2) ** 2 * torch.exp(-logvar2) + torch.expm1(dv) - dv)


def gaussian_kl(
    mu: Tensor,
    logvar: Tensor,
    mu2: Tensor | None = None,
    logvar2: Tensor | None = None,
    *,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""KL divergence between diagonal Gaussians, :math:`\mathrm{KL}(\mathcal N(\mu, e^{v}) \,\|\,
    \mathcal N(\mu_2, e^{v_2}))`, summed over the last dimension.

    .. math::
        \mathrm{KL} = \frac12 \sum_{j} \left( v_{2,j} - v_j
            + \frac{e^{v_j} + (\mu_j - \mu_{2,j})^2}{e^{v_{2,j}}} - 1 \right)

    with :math:`v = \log\sigma^2`. The default prior is :math:`\mathcal N(0, I)`, which gives the
    VAE's :math:`\frac12 \sum_j (\mu_j^2 + e^{v_j} - 1 - v_j)`. Computed as
    :math:`\frac12 \sum_j ((\mu_j - \mu_{2,j})^2 e^{-v_{2,j}} + \operatorname{expm1}(\Delta_j)
    - \Delta_j)` with :math:`\Delta = v - v_2`, accurate when the two are close (no
    :math:`e^{\Delta} - 1 - \Delta` cancellation).

    Args:
        mu: :math:`\mu`, ``(..., D)``: a batch of means over ``D`` latent dimensions.
        logvar: :math:`v`, the log-variances, the same shape as ``mu``.
        mu2: :math:`\mu_2`, broadcastable to ``mu``; default 0.
        logvar2: :math:`v_2`, broadcastable to ``mu``; default 0.
        weight: optional non-negative tensor broadcastable to the batch shape ``mu.shape[:-1]``.
        reduction: ``"mean"`` (default, over the batch), ``"sum"`` or ``"none"`` (one value per
            sample, shape ``mu.shape[:-1]``).

    References:
        D. P. Kingma and M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014,
        arXiv:1312.6114, appendix B.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> mu, logvar = torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2)
        >>> VF.gaussian_kl(mu, logvar)  # 1/2 * 1^2
        tensor(0.5000)
    """
    return _gaussian_kl(mu, logvar, mu2, logvar2, LossOptions(reduction=reduction), weight)


def _gaussian_kl(
    mu: Tensor,
    logvar: Tensor,
    mu2: Tensor | None,
    logvar2: Tensor | None,
    opts: LossOptions,
    weight: Tensor | None,
) -> Tensor:
    check_floating(mu, "mu")
    check_floating(logvar, "logvar")
    if mu.dim() == 0:
        raise ValueError("mu: expected shape (..., D) with the latent dims last, got a scalar")
    check_same_shape(mu, logvar, "mu", "logvar")
    if mu2 is not None:
        check_floating(mu2, "mu2")
        check_broadcastable(mu2, mu.shape, "mu2", "mu")
    if logvar2 is not None:
        check_floating(logvar2, "logvar2")
        check_broadcastable(logvar2, mu.shape, "logvar2", "mu")
    dtype = compute_dtype(mu, logvar, mu2, logvar2)
    mu, logvar = mu.to(dtype), logvar.to(dtype)
    mu2 = None if mu2 is None else mu2.to(dtype)
    logvar2 = None if logvar2 is None else logvar2.to(dtype)
    loss = _gaussian_kl_terms(mu, logvar, mu2, logvar2).sum(dim=-1)
    return reduce_loss(loss, opts.reduction, weight=weight)


def vae_loss(
    recon: Tensor,
    target: Tensor,
    mu: Tensor,
    logvar: Tensor,
    *,
    beta: float = 1.0,
    reconstruction: Reconstruction = "bce",
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""The (beta-)VAE loss: the negative evidence lower bound per sample.

    .. math::
        \ell_i = \sum_{k} r(\hat x_{ik}, x_{ik})
            + \beta\, \mathrm{KL}\!\left(\mathcal N(\mu_i, e^{v_i}) \,\|\, \mathcal N(0, I)\right)

    The reconstruction term is summed over every element of a sample (not averaged: averaging it
    weakens the likelihood against the KL by the number of pixels and blurs the samples), with
    :math:`r` the binary cross-entropy with logits (``"bce"``, a Bernoulli decoder; ``recon`` are
    logits and ``target`` values in ``[0, 1]``) or the squared error (``"mse"``, a Gaussian
    decoder of fixed variance 1/2). The KL term is :func:`gaussian_kl` against the standard normal
    prior, summed over every latent dimension of the sample. ``beta > 1`` is the beta-VAE.

    Args:
        recon: :math:`\hat x`, the decoder's output ``(N, *)`` (logits for ``"bce"``).
        target: :math:`x`, the same shape (in ``[0, 1]`` for ``"bce"``).
        mu: the encoder's means ``(N, *)`` (``(N, D)``, or a spatial latent ``(N, C, h, w)``).
        logvar: the encoder's log-variances, the same shape as ``mu``.
        beta: :math:`\beta \ge 0`, the KL weight. Default 1.
        reconstruction: ``"bce"`` (default) or ``"mse"``.
        weight: optional non-negative ``(N,)`` sample weights.
        reduction: ``"mean"`` (default, over the batch), ``"sum"`` or ``"none"`` (``(N,)``).

    References:
        D. P. Kingma and M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014,
        arXiv:1312.6114; I. Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a
        Constrained Variational Framework", ICLR 2017.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> recon, x = torch.zeros(1, 4), torch.ones(1, 4)  # logits 0: 4 * log 2
        >>> VF.vae_loss(recon, x, torch.zeros(1, 2), torch.zeros(1, 2))
        tensor(2.7726)
    """
    opts = VAEOptions(beta=beta, reconstruction=reconstruction, reduction=reduction)
    return _vae(recon, target, mu, logvar, opts, weight)


def _vae(
    recon: Tensor,
    target: Tensor,
    mu: Tensor,
    logvar: Tensor,
    opts: VAEOptions,
    weight: Tensor | None,
) -> Tensor:
    recon, target = prepare_pair(recon, target)
    if recon.dim() < 1:
        raise ValueError(f"recon: expected a batch of shape (N, *), got shape {tuple(recon.shape)}")
    check_floating(mu, "mu")
    check_floating(logvar, "logvar")
    check_same_shape(mu, logvar, "mu", "logvar")
    if mu.dim() < 2 or mu.shape[0] != recon.shape[0]:
        raise ValueError(
            f"mu: expected shape ({recon.shape[0]}, *) (the batch of recon, then the latent dims), "
            f"got {tuple(mu.shape)}"
        )
    dtype = compute_dtype(recon, mu, logvar)
    recon, target, mu, logvar = recon.to(dtype), target.to(dtype), mu.to(dtype), logvar.to(dtype)
    if opts.reconstruction == "bce":
        check_probabilities(target, "target")
        per_element = F.binary_cross_entropy_with_logits(recon, target, reduction="none")
    else:
        per_element = (recon - target) ** 2
    nll = _per_sample(per_element).sum(dim=1)
    kl = _gaussian_kl_terms(mu, logvar, None, None).flatten(1).sum(dim=1)
    return reduce_loss(nll + opts.beta * kl, opts.reduction, weight=weight)


# --- Modules: documented by their spec, forward is one call to the core -------------------------


class KLDivergence(LossModule):
    def forward(self, p_logits: Tensor, q_logits: Tensor, weight: Tensor | None = None) -> Tensor:
        """p_logits, q_logits: the two distributions' logits (categories on ``dim``); weight."""
        return _kl_divergence(p_logits, q_logits, self.opts, weight)


class GaussianKLLoss(LossModule):
    def forward(
        self,
        mu: Tensor,
        logvar: Tensor,
        mu2: Tensor | None = None,
        logvar2: Tensor | None = None,
        weight: Tensor | None = None,
    ) -> Tensor:
        """mu, logvar: ``(..., D)``; mu2, logvar2: the second Gaussian (default N(0, I)); weight."""
        return _gaussian_kl(mu, logvar, mu2, logvar2, self.opts, weight)


class VAELoss(LossModule):
    def forward(
        self,
        recon: Tensor,
        target: Tensor,
        mu: Tensor,
        logvar: Tensor,
        weight: Tensor | None = None,
    ) -> Tensor:
        """recon, target: ``(N, *)``; mu, logvar: the encoder's ``(N, *)``; weight: ``(N,)``."""
        return _vae(recon, target, mu, logvar, self.opts, weight)


# --- the catalogue rows (concatenated into the generative family's table) ------------------------

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "kl_divergence", kl_divergence, KLDivergence, KLDivergenceOptions, "generative",
        summary="KL(P || Q) between categorical distributions given by logits (or probabilities); "
        "the mean divides by the number of distributions (torch's batchmean).",
        formula=r"\sum_k p_k \left(\log p_k - \log q_k\right)",
        paper="S. Kullback, R. A. Leibler, On Information and Sufficiency, Annals of Math. Stat. "
        "1951; G. Hinton, O. Vinyals, J. Dean, Distilling the Knowledge in a Neural Network, "
        "2015, arXiv:1503.02531",
    ),
    LossSpec(
        "gaussian_kl", gaussian_kl, GaussianKLLoss, LossOptions, "generative",
        summary="KL between diagonal Gaussians (default prior N(0, I)), summed over the last "
        "dimension: one value per sample.",
        formula=r"\tfrac12 \sum_j \left(v_{2,j} - v_j + \frac{e^{v_j} + (\mu_j - \mu_{2,j})^2}"
        r"{e^{v_{2,j}}} - 1\right)",
        paper="D. P. Kingma, M. Welling, Auto-Encoding Variational Bayes, ICLR 2014, "
        "arXiv:1312.6114",
    ),
    LossSpec(
        "vae", vae_loss, VAELoss, VAEOptions, "generative",
        summary="The (beta-)VAE's negative ELBO: reconstruction summed per sample plus beta times "
        "the KL to N(0, I), mean over the batch.",
        formula=r"\sum_k r(\hat x_k, x_k) + \beta\, \mathrm{KL}\left(\mathcal N(\mu, e^{v}) "
        r"\,\|\, \mathcal N(0, I)\right)",
        paper="D. P. Kingma, M. Welling, Auto-Encoding Variational Bayes, ICLR 2014, "
        "arXiv:1312.6114; I. Higgins et al., beta-VAE: Learning Basic Visual Concepts with a "
        "Constrained Variational Framework, ICLR 2017",
    ),
)
