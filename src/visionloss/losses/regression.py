"""Regression and pixel losses: MSE, MAE, Huber, Smooth L1, log-cosh, Charbonnier, Barron's loss.

Every function takes a prediction and a target of the same shape, computes in float32 for half
and bfloat16 inputs, and reduces with the shared :func:`~visionloss._core.reduce_loss`
(``reduction="none"`` returns the elementwise loss, the input's shape).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from .._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Reduction,
    check_nonnegative_tensor,
    check_number,
    prepare_pair,
    reduce_loss,
)
from ..kernels import pointwise

__all__ = [
    "CharbonnierLoss",
    "HuberLoss",
    "LogCoshLoss",
    "MAELoss",
    "MSELoss",
    "RobustLoss",
    "SPECS",
    "SmoothL1Loss",
    "charbonnier_loss",
    "huber_loss",
    "log_cosh_loss",
    "mae_loss",
    "mse_loss",
    "robust_loss",
    "smooth_l1_loss",
]

# --- options: declared once, checked when built ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class HuberOptions(LossOptions):
    delta: float = 1.0

    def validate(self) -> None:
        check_number(self.delta, "delta", low=0.0, low_inclusive=False)


@dataclass(frozen=True, kw_only=True)
class SmoothL1Options(LossOptions):
    beta: float = 1.0

    def validate(self) -> None:
        check_number(self.beta, "beta", low=0.0)


@dataclass(frozen=True, kw_only=True)
class CharbonnierOptions(LossOptions):
    eps: float = 1e-3

    def validate(self) -> None:
        check_number(self.eps, "eps", low=0.0, low_inclusive=False)


@dataclass(frozen=True, kw_only=True)
class RobustOptions(LossOptions):
    alpha: float | Tensor = 1.0
    scale: float | Tensor = 1.0

    def validate(self) -> None:
        check_number(self.alpha, "alpha", allow_tensor=True)
        check_number(self.scale, "scale", low=0.0, low_inclusive=False, allow_tensor=True)
        if isinstance(self.scale, Tensor):
            check_nonnegative_tensor(self.scale, "scale", strict=True)


def _torch_loss(
    fn: Callable[..., Tensor],
    input: Tensor,
    target: Tensor,
    opts: LossOptions,
    weight: Tensor | None,
    **options: float,
) -> Tensor:
    """A torch loss (``F.mse_loss``, ``F.huber_loss``, ...) reduced as :func:`reduce_loss` does.

    Unweighted ``"sum"`` and ``"mean"`` let torch reduce, as torch's own loss does: one autograd
    node instead of three (the loss, the sum, the division) and no Python-side division, which
    at a few hundred microseconds per step on CPU is a visible share of the wrapper's overhead.
    An empty input asks torch for its ``"sum"`` (0, where torch's mean of nothing is NaN), as
    :func:`reduce_loss` gives; this looks at the shape only (no host sync). A weight, or
    ``"none"``, goes through :func:`reduce_loss`.
    """
    if weight is None and opts.reduction != "none":
        reduction = "sum" if opts.reduction == "sum" or input.numel() == 0 else "mean"
        return fn(input, target, reduction=reduction, **options)
    return reduce_loss(fn(input, target, reduction="none", **options), opts.reduction, weight=weight)


def mse_loss(
    input: Tensor, target: Tensor, *, weight: Tensor | None = None, reduction: Reduction = "mean"
) -> Tensor:
    r"""Mean squared error.

    .. math::
        \ell_i = (x_i - y_i)^2

    Args:
        input: prediction :math:`x`, any shape.
        target: :math:`y`, the same shape as ``input``.
        weight: optional non-negative tensor broadcastable to ``input``; ``"mean"`` is then
            :math:`\sum w_i \ell_i / \sum w_i`.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the input's shape).

    Returns:
        The loss; equals ``torch.nn.functional.mse_loss``.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> VF.mse_loss(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 1.0]))
        tensor(1.)
    """
    return _mse(input, target, LossOptions(reduction=reduction), weight)


def _mse(input: Tensor, target: Tensor, opts: LossOptions, weight: Tensor | None) -> Tensor:
    input, target = prepare_pair(input, target)
    return _torch_loss(F.mse_loss, input, target, opts, weight)


def mae_loss(
    input: Tensor, target: Tensor, *, weight: Tensor | None = None, reduction: Reduction = "mean"
) -> Tensor:
    r"""Mean absolute error (L1).

    .. math::
        \ell_i = |x_i - y_i|

    The gradient at :math:`x_i = y_i` is 0 (the subgradient torch uses).

    Args:
        input: prediction :math:`x`, any shape.
        target: :math:`y`, the same shape as ``input``.
        weight: optional non-negative tensor broadcastable to ``input``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the input's shape).

    Returns:
        The loss; equals ``torch.nn.functional.l1_loss``.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> VF.mae_loss(torch.tensor([0.0, 3.0]), torch.tensor([1.0, 1.0]))
        tensor(1.5000)
    """
    return _mae(input, target, LossOptions(reduction=reduction), weight)


def _mae(input: Tensor, target: Tensor, opts: LossOptions, weight: Tensor | None) -> Tensor:
    input, target = prepare_pair(input, target)
    return _torch_loss(F.l1_loss, input, target, opts, weight)


def huber_loss(
    input: Tensor,
    target: Tensor,
    *,
    delta: float = 1.0,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Huber loss: quadratic for small residuals, linear for large ones.

    .. math::
        \ell_i = \begin{cases} \tfrac12 d_i^2 & |d_i| \le \delta \\
                 \delta\,(|d_i| - \tfrac12 \delta) & \text{otherwise} \end{cases},
        \qquad d_i = x_i - y_i

    The gradient is :math:`d_i` inside the quadratic zone and :math:`\delta\,\mathrm{sign}(d_i)`
    outside, so an outlier pulls with a bounded force. Huber is Smooth L1 scaled by ``delta``:
    ``huber_loss(delta=b) == b * smooth_l1_loss(beta=b)``.

    Args:
        input: prediction :math:`x`, any shape.
        target: :math:`y`, the same shape as ``input``.
        delta: the residual where the loss turns linear, > 0. Default 1.0.
        weight: optional non-negative tensor broadcastable to ``input``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the input's shape).

    Returns:
        The loss; equals ``torch.nn.functional.huber_loss``.

    References:
        P. J. Huber, "Robust Estimation of a Location Parameter", Annals of Math. Stat., 1964.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> VF.huber_loss(torch.tensor([0.5, 3.0]), torch.zeros(2), reduction="none")
        tensor([0.1250, 2.5000])
    """
    return _huber(input, target, HuberOptions(delta=delta, reduction=reduction), weight)


def _huber(input: Tensor, target: Tensor, opts: HuberOptions, weight: Tensor | None) -> Tensor:
    input, target = prepare_pair(input, target)
    return _torch_loss(F.huber_loss, input, target, opts, weight, delta=opts.delta)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    *,
    beta: float = 1.0,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Smooth L1 loss (Fast R-CNN's box regression loss).

    .. math::
        \ell_i = \begin{cases} \tfrac{1}{2\beta} d_i^2 & |d_i| < \beta \\
                 |d_i| - \tfrac12 \beta & \text{otherwise} \end{cases},
        \qquad d_i = x_i - y_i

    Unlike Huber, the linear part has slope 1 whatever ``beta`` is; ``beta=0`` gives the L1 loss.

    Args:
        input: prediction :math:`x`, any shape.
        target: :math:`y`, the same shape as ``input``.
        beta: the residual where the loss turns linear, >= 0. Default 1.0.
        weight: optional non-negative tensor broadcastable to ``input``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the input's shape).

    Returns:
        The loss; equals ``torch.nn.functional.smooth_l1_loss``.

    References:
        R. Girshick, "Fast R-CNN", ICCV 2015, arXiv:1504.08083.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> VF.smooth_l1_loss(torch.tensor([0.5, 3.0]), torch.zeros(2), reduction="none")
        tensor([0.1250, 2.5000])
    """
    return _smooth_l1(input, target, SmoothL1Options(beta=beta, reduction=reduction), weight)


def _smooth_l1(
    input: Tensor, target: Tensor, opts: SmoothL1Options, weight: Tensor | None
) -> Tensor:
    input, target = prepare_pair(input, target)
    return _torch_loss(F.smooth_l1_loss, input, target, opts, weight, beta=opts.beta)


def log_cosh_loss(
    input: Tensor, target: Tensor, *, weight: Tensor | None = None, reduction: Reduction = "mean"
) -> Tensor:
    r"""Log-cosh loss: about :math:`d^2/2` for small residuals and :math:`|d| - \log 2` for large.

    .. math::
        \ell_i = \log\cosh(d_i) = |d_i| + \log\!\left(1 + e^{-2|d_i|}\right) - \log 2
              = \log\!\left(1 + 2\sinh^2(d_i/2)\right), \qquad d_i = x_i - y_i

    The first form is computed for :math:`|d| > 2` (``cosh`` itself overflows beyond
    :math:`|d| \approx 89` in float32), the second for :math:`|d| \le 2` (the first cancels
    to 0 for tiny residuals). The gradient is :math:`\tanh(d_i)`. The default path is a
    fused ``autograd.Function`` that keeps only ``input`` and ``target`` for backward.

    Args:
        input: prediction :math:`x`, any shape.
        target: :math:`y`, the same shape as ``input``.
        weight: optional non-negative tensor broadcastable to ``input``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the input's shape).

    References:
        R. A. Saleh and A. K. Md. E. Saleh, "Statistical Properties of the log-cosh Loss Function
        Used in Machine Learning", 2022, arXiv:2208.04564.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> VF.log_cosh_loss(torch.tensor([0.0, 1.0, 100.0]), torch.zeros(3), reduction="none")
        tensor([ 0.0000,  0.4338, 99.3069])
    """
    return _log_cosh(input, target, LossOptions(reduction=reduction), weight)


def _log_cosh(input: Tensor, target: Tensor, opts: LossOptions, weight: Tensor | None) -> Tensor:
    input, target = prepare_pair(input, target)
    return reduce_loss(pointwise.log_cosh(input, target), opts.reduction, weight=weight)


def charbonnier_loss(
    input: Tensor,
    target: Tensor,
    *,
    eps: float = 1e-3,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Charbonnier loss, a differentiable L1 used for image restoration.

    .. math::
        \ell_i = \sqrt{d_i^2 + \epsilon^2} - \epsilon, \qquad d_i = x_i - y_i

    Subtracting :math:`\epsilon` makes a perfect prediction cost exactly 0 (some papers omit it;
    the gradient is the same).
    The default path is a fused ``autograd.Function`` that keeps only ``input`` and ``target``
    for backward (the composition keeps the difference and the square root).

    Args:
        input: prediction :math:`x`, any shape.
        target: :math:`y`, the same shape as ``input``.
        eps: smoothing, > 0. Default 1e-3.
        weight: optional non-negative tensor broadcastable to ``input``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the input's shape).

    References:
        P. Charbonnier et al., "Two deterministic half-quadratic regularization algorithms for
        computed imaging", ICIP 1994; W.-S. Lai et al., "Deep Laplacian Pyramid Networks for Fast
        and Accurate Super-Resolution", CVPR 2017, arXiv:1704.03915.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> VF.charbonnier_loss(torch.tensor([0.0, 3.0]), torch.zeros(2), reduction="none")
        tensor([0.0000, 2.9990])
    """
    return _charbonnier(input, target, CharbonnierOptions(eps=eps, reduction=reduction), weight)


def _charbonnier(
    input: Tensor, target: Tensor, opts: CharbonnierOptions, weight: Tensor | None
) -> Tensor:
    input, target = prepare_pair(input, target)
    loss = pointwise.charbonnier(input, target, opts.eps)
    return reduce_loss(loss, opts.reduction, weight=weight)


def robust_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float | Tensor = 1.0,
    scale: float | Tensor = 1.0,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Barron's general and adaptive robust loss, a family that spans L2, Charbonnier, Cauchy,
    Geman-McClure and Welsch.

    .. math::
        \rho(d, \alpha, c) = \frac{|\alpha - 2|}{\alpha}
            \left( \left( \frac{(d/c)^2}{|\alpha - 2|} + 1 \right)^{\alpha/2} - 1 \right),
        \qquad d = x - y

    with its limits: :math:`\alpha = 2`: :math:`\tfrac12 (d/c)^2` (L2);
    :math:`\alpha = 0`: :math:`\log(\tfrac12 (d/c)^2 + 1)` (Cauchy);
    :math:`\alpha \to -\infty`: :math:`1 - e^{-\frac12 (d/c)^2}` (Welsch);
    :math:`\alpha \to +\infty`: :math:`e^{\frac12 (d/c)^2} - 1`. :math:`\alpha = 1` is the
    pseudo-Huber (Charbonnier) loss :math:`\sqrt{(d/c)^2 + 1} - 1` and :math:`\alpha = -2` Geman-McClure.

    Numerics: the general case is computed as
    :math:`\frac{b}{a}\,\mathrm{expm1}\!\left(\tfrac{\alpha}{2}\,\mathrm{log1p}\!\left(\frac{(d/c)^2}{b}\right)\right)`
    with :math:`b = \max(|\alpha - 2|, \epsilon)` and :math:`|a| = \max(|\alpha|, \epsilon)`, which
    is accurate near :math:`\alpha = 0` (no ``pow(...) - 1`` cancellation) and finite near 2. At
    :math:`\alpha \in \{0, 2, \pm\infty\}` exactly, the closed-form limit is used. The gradient in
    :math:`\alpha` at :math:`\alpha = 0` is the analytic
    :math:`\tfrac14 L^2 - \tfrac12 L + \frac{z}{2(z+2)}` with :math:`z = (d/c)^2`,
    :math:`L = \log(1 + z/2)`; at :math:`\alpha = 2` the loss is not differentiable in
    :math:`\alpha` (the derivative diverges logarithmically) and the gradient given is 0.
    With numbers ``alpha`` and ``scale``, the default path is a fused ``autograd.Function`` that
    computes only the branch ``alpha`` selects and keeps only ``input`` and ``target`` for
    backward; tensors (per channel, or learnt) take the composition above.

    Args:
        input: prediction :math:`x`, any shape.
        target: :math:`y`, the same shape as ``input``.
        alpha: shape parameter, a number or a tensor broadcastable to ``input`` (e.g. one per
            channel), any value in :math:`[-\infty, \infty]`. Differentiable: pass a tensor that
            requires grad to learn it (the "adaptive" loss of the paper). Default 1.0.
        scale: :math:`c > 0`, the width of the quadratic bowl around 0; a number or a tensor
            broadcastable to ``input``, differentiable. Default 1.0.
        weight: optional non-negative tensor broadcastable to ``input``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the input's shape).

    References:
        J. T. Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, arXiv:1701.03077.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> d = torch.tensor([0.0, 1.0, 10.0])
        >>> VF.robust_loss(d, torch.zeros(3), alpha=2.0, reduction="none")
        tensor([ 0.0000,  0.5000, 50.0000])
        >>> VF.robust_loss(d, torch.zeros(3), alpha=0.0, scale=2.0, reduction="none")
        tensor([0.0000, 0.1178, 2.6027])
    """
    return _robust(input, target, RobustOptions(alpha=alpha, scale=scale, reduction=reduction), weight)


def _robust(input: Tensor, target: Tensor, opts: RobustOptions, weight: Tensor | None) -> Tensor:
    input, target = prepare_pair(input, target)
    loss = pointwise.robust(input, target, opts.alpha, opts.scale)
    return reduce_loss(loss, opts.reduction, weight=weight)


# --- Modules: documented by their spec, forward is one call to the core -------------------------


class MSELoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of ``input`` against ``target`` (same shape), optionally ``weight``-ed."""
        return _mse(input, target, self.opts, weight)


class MAELoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of ``input`` against ``target`` (same shape), optionally ``weight``-ed."""
        return _mae(input, target, self.opts, weight)


class HuberLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of ``input`` against ``target`` (same shape), optionally ``weight``-ed."""
        return _huber(input, target, self.opts, weight)


class SmoothL1Loss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of ``input`` against ``target`` (same shape), optionally ``weight``-ed."""
        return _smooth_l1(input, target, self.opts, weight)


class LogCoshLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of ``input`` against ``target`` (same shape), optionally ``weight``-ed."""
        return _log_cosh(input, target, self.opts, weight)


class CharbonnierLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of ``input`` against ``target`` (same shape), optionally ``weight``-ed."""
        return _charbonnier(input, target, self.opts, weight)


class RobustLoss(LossModule):
    """``alpha``/``scale`` given as ``nn.Parameter`` are learnt with the model."""

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of ``input`` against ``target`` (same shape), optionally ``weight``-ed."""
        return _robust(input, target, self.opts, weight)


# --- the family's catalogue -----------------------------------------------------------------------

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "mse", mse_loss, MSELoss, LossOptions, "regression",
        summary="Mean squared error: the Gaussian negative log-likelihood up to scale.",
        formula=r"(x - y)^2",
    ),
    LossSpec(
        "mae", mae_loss, MAELoss, LossOptions, "regression",
        summary="Mean absolute error (L1): the Laplace negative log-likelihood, robust to outliers.",
        formula=r"|x - y|",
    ),
    LossSpec(
        "huber", huber_loss, HuberLoss, HuberOptions, "regression",
        summary="Quadratic near zero, linear beyond delta: bounded outlier gradients.",
        formula=r"\tfrac12 d^2 \text{ if } |d| \le \delta \text{ else } \delta(|d| - \tfrac12\delta)",
        paper="P. J. Huber, Robust Estimation of a Location Parameter, 1964",
    ),
    LossSpec(
        "smooth_l1", smooth_l1_loss, SmoothL1Loss, SmoothL1Options, "regression",
        summary="Fast R-CNN's box regression loss: Huber divided by beta, slope 1 beyond beta.",
        formula=r"\tfrac{1}{2\beta} d^2 \text{ if } |d| < \beta \text{ else } |d| - \tfrac12\beta",
        paper="R. Girshick, Fast R-CNN, ICCV 2015, arXiv:1504.08083",
    ),
    LossSpec(
        "log_cosh", log_cosh_loss, LogCoshLoss, LossOptions, "regression",
        summary="log(cosh(d)): smooth everywhere, about d^2/2 near 0 and |d| - log 2 far away.",
        formula=r"\log\cosh(x - y)",
        paper="R. A. Saleh, A. K. Md. E. Saleh, Statistical Properties of the log-cosh Loss "
        "Function Used in Machine Learning, 2022, arXiv:2208.04564",
    ),
    LossSpec(
        "charbonnier", charbonnier_loss, CharbonnierLoss, CharbonnierOptions, "regression",
        summary="A differentiable L1 for image restoration.",
        formula=r"\sqrt{(x - y)^2 + \epsilon^2} - \epsilon",
        paper="W.-S. Lai et al., Deep Laplacian Pyramid Networks for Fast and Accurate "
        "Super-Resolution, CVPR 2017, arXiv:1704.03915",
    ),
    LossSpec(
        "robust", robust_loss, RobustLoss, RobustOptions, "regression",
        summary="Barron's general robust loss: one shape parameter spans L2, Charbonnier, Cauchy, "
        "Geman-McClure and Welsch; alpha and scale can be learnt.",
        formula=r"\frac{|\alpha - 2|}{\alpha}\left(\left(\frac{(d/c)^2}{|\alpha - 2|} + 1"
        r"\right)^{\alpha/2} - 1\right)",
        paper="J. T. Barron, A General and Adaptive Robust Loss Function, CVPR 2019, "
        "arXiv:1701.03077",
    ),
)
