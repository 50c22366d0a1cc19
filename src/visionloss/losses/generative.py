"""Generative-model losses: adversarial objectives, gradient penalties, likelihoods, SSIM, KL, VAE.

* GAN objectives from the discriminator's logits: :func:`generator_loss`,
  :func:`discriminator_loss` (and :class:`AdversarialLoss`) in five kinds, and the critic
  regularisers :func:`gradient_penalty` (WGAN-GP) and :func:`r1_penalty`.
* Reconstruction: :func:`gaussian_nll_loss`, :func:`ssim_loss` and :func:`ms_ssim_loss` (those two
  live in :mod:`visionloss.losses._ssim`).
* Divergences: :func:`kl_divergence` between categorical distributions, :func:`gaussian_kl`
  between diagonal Gaussians, and the evidence lower bound :func:`vae_loss`.

Half and bfloat16 inputs are computed in float32 and give a float32 result; every function ends in
the shared :func:`~visionloss._core.reduce_loss`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core import (
    LossModule,
    check_broadcastable,
    check_choice,
    check_floating,
    check_number,
    check_probabilities,
    check_reduction,
    check_same_shape,
    compute_dtype,
    describe,
    prepare_pair,
    reduce_loss,
    to_compute,
)
from ._ssim import MSSSIMLoss, SSIMLoss, ms_ssim_loss, ssim_loss

__all__ = [
    "ADVERSARIAL_KINDS",
    "AdversarialLoss",
    "GaussianKLLoss",
    "GaussianNLLLoss",
    "GradientPenalty",
    "KLDivergence",
    "MSSSIMLoss",
    "R1Penalty",
    "SSIMLoss",
    "VAELoss",
    "discriminator_loss",
    "gaussian_kl",
    "gaussian_nll_loss",
    "generator_loss",
    "gradient_penalty",
    "kl_divergence",
    "ms_ssim_loss",
    "r1_penalty",
    "ssim_loss",
    "vae_loss",
]

ADVERSARIAL_KINDS: tuple[str, ...] = ("non_saturating", "minimax", "lsgan", "hinge", "wasserstein")
_RECONSTRUCTIONS: tuple[str, ...] = ("bce", "mse")
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


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
    kind: str = "non_saturating",
    weight: Tensor | None = None,
    reduction: str = "mean",
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
    check_reduction(reduction)
    check_choice(kind, "kind", ADVERSARIAL_KINDS)
    check_floating(fake_logits, "fake_logits")
    (fake,) = to_compute(fake_logits)
    return reduce_loss(_generator_terms(fake, kind), reduction, weight=weight)


def discriminator_loss(
    real_logits: Tensor,
    fake_logits: Tensor,
    *,
    kind: str = "non_saturating",
    reduction: str = "mean",
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

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> r, f = torch.tensor([2.0, 0.0]), torch.tensor([-1.0])
        >>> VF.discriminator_loss(r, f, kind="hinge")  # mean(0, 1) + relu(0)
        tensor(0.5000)
        >>> VF.discriminator_loss(r, f, kind="wasserstein", reduction="none")
        (tensor([-2., -0.]), tensor([-1.]))
    """
    check_reduction(reduction)
    check_choice(kind, "kind", ADVERSARIAL_KINDS)
    check_floating(real_logits, "real_logits")
    check_floating(fake_logits, "fake_logits")
    real, fake = to_compute(real_logits, fake_logits)
    real_terms, fake_terms = _discriminator_terms(real, fake, kind)
    if reduction == "none":
        return real_terms, fake_terms
    # the two expectations are over different batches: each is reduced on its own
    return reduce_loss(real_terms, reduction) + reduce_loss(fake_terms, reduction)


# --- critic regularisers ----------------------------------------------------------------------------


def _per_sample(grad: Tensor) -> Tensor:
    # (N, *) -> (N, features); flatten(1) keeps an empty batch working (reshape(0, -1) cannot)
    return grad.flatten(1) if grad.dim() > 1 else grad.unsqueeze(1)


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    weight: float = 10.0,
    interpolation: Tensor | None = None,
    generator: torch.Generator | None = None,
    reduction: str = "mean",
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
    Not meant for ``torch.compile`` (the critic itself can be compiled).

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
    check_reduction(reduction)
    check_number(weight, "weight", low=0.0)
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
    loss = weight * (torch.linalg.vector_norm(grad, dim=1) - 1) ** 2
    return reduce_loss(loss, reduction)


def r1_penalty(
    real_logits: Tensor,
    real_inputs: Tensor,
    *,
    gamma: float = 10.0,
    reduction: str = "mean",
) -> Tensor:
    r"""R1 regularisation: the squared norm of the discriminator's gradient on real data.

    .. math::
        \ell_i = \frac{\gamma}{2} \left\lVert \nabla_{x} D(x_i) \right\rVert_2^2

    over each real sample's features, averaged over the batch. Computed with
    ``torch.autograd.grad(real_logits.sum(), real_inputs, create_graph=True)``, so the penalty
    backpropagates into the discriminator's parameters; per-sample norms are right when the
    discriminator treats samples independently. StyleGAN applies it every 16 steps ("lazy
    regularisation") with ``gamma`` scaled by 16. Computed in float32 for half inputs.

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
    check_reduction(reduction)
    check_number(gamma, "gamma", low=0.0)
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
    loss = 0.5 * gamma * (grad * grad).sum(dim=1)
    return reduce_loss(loss, reduction)


# --- likelihoods and divergences ----------------------------------------------------------------------


def gaussian_nll_loss(
    mean: Tensor,
    target: Tensor,
    logvar: Tensor,
    *,
    full: bool = True,
    weight: Tensor | None = None,
    reduction: str = "mean",
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
    check_reduction(reduction)
    if not isinstance(full, bool):
        raise TypeError(f"full: expected a bool, got {describe(full)}")
    mean, target = prepare_pair(mean, target)
    check_floating(logvar, "logvar")
    check_broadcastable(logvar, mean.shape, "logvar", "mean")
    logvar = logvar.to(compute_dtype(mean, logvar))
    mean, target = mean.to(logvar.dtype), target.to(logvar.dtype)
    # (y - mu)^2 e^{-v}, not / e^{v}: e^{-v} -> 0 (no inf / inf) for large v. Below
    # v = -floor(log(max float)) (-88 in float32, -709 in float64) e^{-v} would reach inf and a
    # zero residual would give 0 * inf = NaN; v is clamped there inside the exp only, so e^{-v}
    # stops at a large finite value (the loss is then astronomically large anyway).
    min_logvar = -math.floor(math.log(torch.finfo(logvar.dtype).max))
    precision = torch.exp(-torch.clamp(logvar, min=min_logvar))
    loss = 0.5 * (logvar + (target - mean) ** 2 * precision)
    if full:
        loss = loss + _HALF_LOG_2PI
    return reduce_loss(loss, reduction, weight=weight)


def _normalise_dim(dim: int, ndim: int, shape: tuple[int, ...]) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim: expected an int, got {describe(dim)}")
    if not -ndim <= dim < ndim:
        raise ValueError(
            f"dim: expected a value in [{-ndim}, {ndim - 1}] for inputs of shape {shape}, got {dim}"
        )
    return dim % ndim


def kl_divergence(
    p_logits: Tensor,
    q_logits: Tensor,
    *,
    dim: int = 1,
    from_logits: bool = True,
    weight: Tensor | None = None,
    reduction: str = "mean",
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
    check_reduction(reduction)
    if not isinstance(from_logits, bool):
        raise TypeError(f"from_logits: expected a bool, got {describe(from_logits)}")
    check_floating(p_logits, "p_logits")
    check_floating(q_logits, "q_logits")
    check_same_shape(p_logits, q_logits, "p_logits", "q_logits")
    if p_logits.dim() == 0:
        raise ValueError("p_logits: expected at least one dimension (the categories), got a scalar")
    dim = _normalise_dim(dim, p_logits.dim(), tuple(p_logits.shape))
    p, q = to_compute(p_logits, q_logits)
    if from_logits:
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
    return reduce_loss(terms.sum(dim=dim), reduction, weight=weight)


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
    reduction: str = "mean",
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
    check_reduction(reduction)
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
    mu, logvar, mu2, logvar2 = to_compute(mu, logvar, mu2, logvar2)
    loss = _gaussian_kl_terms(mu, logvar, mu2, logvar2).sum(dim=-1)
    return reduce_loss(loss, reduction, weight=weight)


def vae_loss(
    recon: Tensor,
    target: Tensor,
    mu: Tensor,
    logvar: Tensor,
    *,
    beta: float = 1.0,
    reconstruction: str = "bce",
    weight: Tensor | None = None,
    reduction: str = "mean",
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
    check_reduction(reduction)
    check_number(beta, "beta", low=0.0)
    check_choice(reconstruction, "reconstruction", _RECONSTRUCTIONS)
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
    if reconstruction == "bce":
        check_probabilities(target, "target")
        per_element = F.binary_cross_entropy_with_logits(recon, target, reduction="none")
    else:
        per_element = (recon - target) ** 2
    nll = _per_sample(per_element).sum(dim=1)
    kl = _gaussian_kl_terms(mu, logvar, None, None).flatten(1).sum(dim=1)
    return reduce_loss(nll + beta * kl, reduction, weight=weight)


# --- Modules: options checked and stored in __init__, forward is one call -------------------------


class AdversarialLoss(LossModule):
    """Module form of :func:`generator_loss` and :func:`discriminator_loss`.

    ``loss(fake_logits)`` is the generator's loss and ``loss(real_logits, fake_logits)`` the
    discriminator's (the functions' argument order); ``loss.generator(...)`` and
    ``loss.discriminator(...)`` say it explicitly.
    """

    def __init__(self, kind: str = "non_saturating", *, reduction: str = "mean") -> None:
        check_choice(kind, "kind", ADVERSARIAL_KINDS)
        super().__init__(kind=kind, reduction=reduction)

    def generator(self, fake_logits: Tensor, weight: Tensor | None = None) -> Tensor:
        return generator_loss(fake_logits, weight=weight, **self.options())

    def discriminator(
        self, real_logits: Tensor, fake_logits: Tensor
    ) -> Tensor | tuple[Tensor, Tensor]:
        return discriminator_loss(real_logits, fake_logits, **self.options())

    def forward(self, *logits: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        if len(logits) == 1:
            return self.generator(logits[0])
        if len(logits) == 2:
            return self.discriminator(*logits)
        raise TypeError(
            "logits: expected (fake_logits) for the generator or (real_logits, fake_logits) for "
            f"the discriminator, got {len(logits)} tensors"
        )


class GradientPenalty(LossModule):
    """Module form of :func:`gradient_penalty`, called as ``penalty(critic, real, fake)``."""

    def __init__(self, *, weight: float = 10.0, reduction: str = "mean") -> None:
        check_number(weight, "weight", low=0.0)
        super().__init__(weight=weight, reduction=reduction)

    def forward(
        self,
        critic: Callable[[Tensor], Tensor],
        real: Tensor,
        fake: Tensor,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        return gradient_penalty(critic, real, fake, generator=generator, **self.options())


class R1Penalty(LossModule):
    """Module form of :func:`r1_penalty`."""

    def __init__(self, *, gamma: float = 10.0, reduction: str = "mean") -> None:
        check_number(gamma, "gamma", low=0.0)
        super().__init__(gamma=gamma, reduction=reduction)

    def forward(self, real_logits: Tensor, real_inputs: Tensor) -> Tensor:
        return r1_penalty(real_logits, real_inputs, **self.options())


class GaussianNLLLoss(LossModule):
    """Module form of :func:`gaussian_nll_loss`."""

    def __init__(self, *, full: bool = True, reduction: str = "mean") -> None:
        if not isinstance(full, bool):
            raise TypeError(f"full: expected a bool, got {describe(full)}")
        super().__init__(full=full, reduction=reduction)

    def forward(
        self, mean: Tensor, target: Tensor, logvar: Tensor, weight: Tensor | None = None
    ) -> Tensor:
        return gaussian_nll_loss(mean, target, logvar, weight=weight, **self.options())


class KLDivergence(LossModule):
    """Module form of :func:`kl_divergence`."""

    def __init__(self, *, dim: int = 1, from_logits: bool = True, reduction: str = "mean") -> None:
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TypeError(f"dim: expected an int, got {describe(dim)}")
        if not isinstance(from_logits, bool):
            raise TypeError(f"from_logits: expected a bool, got {describe(from_logits)}")
        super().__init__(dim=dim, from_logits=from_logits, reduction=reduction)

    def forward(self, p_logits: Tensor, q_logits: Tensor, weight: Tensor | None = None) -> Tensor:
        return kl_divergence(p_logits, q_logits, weight=weight, **self.options())


class GaussianKLLoss(LossModule):
    """Module form of :func:`gaussian_kl`."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)

    def forward(
        self,
        mu: Tensor,
        logvar: Tensor,
        mu2: Tensor | None = None,
        logvar2: Tensor | None = None,
        weight: Tensor | None = None,
    ) -> Tensor:
        return gaussian_kl(mu, logvar, mu2, logvar2, weight=weight, **self.options())


class VAELoss(LossModule):
    """Module form of :func:`vae_loss`."""

    def __init__(
        self, *, beta: float = 1.0, reconstruction: str = "bce", reduction: str = "mean"
    ) -> None:
        check_number(beta, "beta", low=0.0)
        check_choice(reconstruction, "reconstruction", _RECONSTRUCTIONS)
        super().__init__(beta=beta, reconstruction=reconstruction, reduction=reduction)

    def forward(
        self,
        recon: Tensor,
        target: Tensor,
        mu: Tensor,
        logvar: Tensor,
        weight: Tensor | None = None,
    ) -> Tensor:
        return vae_loss(recon, target, mu, logvar, weight=weight, **self.options())
