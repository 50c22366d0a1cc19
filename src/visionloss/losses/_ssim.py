"""SSIM and MS-SSIM losses for 2D images ``(N, C, H, W)`` and 3D volumes ``(N, C, D, H, W)``.

Imported and re-exported by :mod:`visionloss.losses.generative`. The local statistics are taken
with a normalised Gaussian window applied as a separable, valid (unpadded) convolution, one axis
at a time with ``groups=C``; the five blurred maps (of x, y, x², y², xy) go through the
convolutions together (:mod:`visionloss.kernels.ssim`, whose fused path keeps only those maps
for backward). The values agree with pytorch-msssim's ``ssim``/``ms_ssim``
(``size_average=False``) and with the reference MATLAB code's definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Reduction,
    check_floating,
    check_nonnegative_tensor,
    check_number,
    describe,
    prepare_pair,
    reduce_loss,
)
from ..kernels.ssim import ssim_cs

__all__ = [
    "MSSSIMLoss",
    "MSSSIMOptions",
    "MS_SSIM_WEIGHTS",
    "SPECS",
    "SSIMLoss",
    "SSIMOptions",
    "ms_ssim_loss",
    "ssim_loss",
]

#: The five scale weights of Wang et al. 2003 (fitted to human judgements); they sum to 1.0001.
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


# --- options: declared once, checked when built ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SSIMOptions(LossOptions):
    data_range: float = 1.0
    window_size: int = 11
    sigma: float = 1.5
    k1: float = 0.01
    k2: float = 0.03

    def validate(self) -> None:
        check_number(self.data_range, "data_range", low=0.0, low_inclusive=False)
        size = self.window_size
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"window_size: expected an odd positive int, got {describe(size)}")
        if size < 1 or size % 2 == 0:
            raise ValueError(f"window_size: expected an odd positive int, got {size}")
        check_number(self.sigma, "sigma", low=0.0, low_inclusive=False)
        # C1, C2 > 0 keep both ratios finite on flat, black images
        check_number(self.k1, "k1", low=0.0, low_inclusive=False)
        check_number(self.k2, "k2", low=0.0, low_inclusive=False)


@dataclass(frozen=True, kw_only=True)
class MSSSIMOptions(SSIMOptions):
    #: the per-scale exponents; None: the five of Wang et al. 2003 (:data:`MS_SSIM_WEIGHTS`).
    #: A list or tuple of numbers is turned into a float32 tensor when the options are built.
    scale_weights: Tensor | Sequence[float] | None = None

    tensor_fields: ClassVar[tuple[str, ...]] = ("scale_weights",)

    def validate(self) -> None:
        super().validate()
        weights = self.scale_weights
        if weights is None:
            return
        if not isinstance(weights, Tensor):
            raise TypeError(
                "scale_weights: expected a 1-D tensor or a list of numbers (one per scale), "
                f"got {describe(weights)}"
            )
        check_floating(weights, "scale_weights")
        if weights.dim() != 1 or weights.numel() == 0:
            raise ValueError(
                "scale_weights: expected a non-empty 1-D tensor (one weight per scale), "
                f"got shape {tuple(weights.shape)}"
            )
        check_nonnegative_tensor(weights, "scale_weights")


def _prepare_images(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    input, target = prepare_pair(input, target)
    if input.dim() not in (4, 5):
        raise ValueError(
            "input: expected a 4-D (N, C, H, W) image or 5-D (N, C, D, H, W) volume batch, "
            f"got shape {tuple(input.shape)}"
        )
    return input, target


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    # built in float64 and normalised to sum 1, then cast (pytorch-msssim builds it in float32)
    coords = torch.arange(size, dtype=torch.float64, device=device) - size // 2
    window = torch.exp(-(coords**2) / (2.0 * sigma**2))
    return (window / window.sum()).to(dtype)


def _ssim_and_cs(x: Tensor, y: Tensor, window: Tensor, opts: SSIMOptions) -> tuple[Tensor, Tensor]:
    """Per-image, per-channel mean SSIM and contrast-structure term, each ``(N, C)``."""
    c1 = (opts.k1 * opts.data_range) ** 2
    c2 = (opts.k2 * opts.data_range) ** 2
    return ssim_cs(x, y, window, c1, c2)


def _check_size(input: Tensor, minimum: int, requirement: Callable[[], str]) -> None:
    # the message is built only on failure: under torch.compile(dynamic=True) the window size is
    # a SymInt, which an f-string cannot format while tracing
    spatial = tuple(input.shape[2:])
    if min(spatial) < minimum:
        raise ValueError(
            f"input: expected spatial sizes of at least {requirement()}, "
            f"got spatial shape {spatial}"
        )


def ssim_loss(
    input: Tensor,
    target: Tensor,
    *,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Structural-similarity loss, :math:`1 - \mathrm{SSIM}`, for images and volumes.

    .. math::
        \mathrm{SSIM}(x, y) = \operatorname{mean}_{c,\,p}
            \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
                 {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)},
        \qquad C_1 = (k_1 L)^2,\ C_2 = (k_2 L)^2

    where :math:`\mu, \sigma^2, \sigma_{xy}` are local means, variances and covariance under a
    normalised Gaussian window (``window_size``, ``sigma``) at every position :math:`p` where the
    window fits (a valid convolution: no padding, so borders are not biased), per channel
    :math:`c`, and :math:`L` is ``data_range``. The window is separable: it is applied as one 1-D
    convolution per spatial axis. The mean over positions and channels gives one SSIM per image.
    Values agree with pytorch-msssim (``ssim(..., size_average=False)``, ``K=(k1, k2)``).

    Args:
        input: ``(N, C, H, W)`` images or ``(N, C, D, H, W)`` volumes; every spatial size must be
            at least ``window_size``.
        target: the same shape.
        data_range: :math:`L`, the value range of the images (1.0 for ``[0, 1]``, 255 for
            8-bit). Default 1.0.
        window_size: odd side of the Gaussian window. Default 11.
        sigma: standard deviation of the window. Default 1.5.
        k1, k2: the stabilising constants. Defaults 0.01 and 0.03.
        weight: optional non-negative ``(N,)`` per-image weights.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``(N,)``: one
            :math:`1 - \mathrm{SSIM}` per image, the mean over its channels).

    Returns:
        The loss, in :math:`[0, 2]`; 0 when ``input`` equals ``target``.

    References:
        Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image Quality Assessment: From
        Error Visibility to Structural Similarity", IEEE TIP 2004.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> x = torch.linspace(0, 1, 256).reshape(1, 1, 16, 16)
        >>> VF.ssim_loss(x, x, window_size=7)
        tensor(0.)
        >>> VF.ssim_loss(x, 1 - x, window_size=7)  # anti-correlated: SSIM < 0
        tensor(1.7015)
    """
    opts = SSIMOptions(
        data_range=data_range,
        window_size=window_size,
        sigma=sigma,
        k1=k1,
        k2=k2,
        reduction=reduction,
    )
    return _ssim(input, target, opts, weight)


def _ssim(input: Tensor, target: Tensor, opts: SSIMOptions, weight: Tensor | None) -> Tensor:
    input, target = _prepare_images(input, target)
    _check_size(input, opts.window_size, lambda: f"window_size={opts.window_size}")
    window = _gaussian_window(opts.window_size, opts.sigma, input.dtype, input.device)
    ssim, _ = _ssim_and_cs(input, target, window, opts)
    return reduce_loss(1 - ssim.mean(dim=1), opts.reduction, weight=weight)


def ms_ssim_loss(
    input: Tensor,
    target: Tensor,
    *,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    scale_weights: Sequence[float] | Tensor | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Multi-scale structural-similarity loss, :math:`1 - \text{MS-SSIM}`.

    .. math::
        \text{MS-SSIM}(x, y) = \operatorname{mean}_c\
            [\mathrm{SSIM}_{M,c}]_+^{\,w_M} \prod_{j=1}^{M-1} [\mathrm{CS}_{j,c}]_+^{\,w_j}

    with :math:`M` scales (the length of ``scale_weights``), :math:`\mathrm{CS}_j` the mean
    contrast-structure term :math:`\frac{2\sigma_{xy} + C_2}{\sigma_x^2 + \sigma_y^2 + C_2}` of
    :func:`ssim_loss` at scale :math:`j`, and the images halved between scales by 2x average
    pooling (an odd size is padded by one, as pytorch-msssim does). Every term is clamped at 0
    (:math:`[\cdot]_+`) before its fractional power, so anti-correlated images give 0, never NaN
    (a negative number to a fractional power); the power is taken where the term is positive
    only, so the gradient is exactly 0 where it is clamped. Values agree with pytorch-msssim
    (``ms_ssim(..., size_average=False)``).

    Args:
        input: ``(N, C, H, W)`` or ``(N, C, D, H, W)``; every spatial size must be at least
            :math:`(\text{window\_size} - 1)\, 2^{M-1} + 1` (161 for the defaults), so that the
            window fits the coarsest scale.
        target: the same shape.
        data_range, window_size, sigma, k1, k2: as in :func:`ssim_loss`.
        scale_weights: the per-scale exponents :math:`w_1..w_M`, a list of numbers or a 1-D
            floating tensor (a list becomes a float32 tensor); default ``None``: the five of Wang
            et al. 2003 (0.0448, 0.2856, 0.3001, 0.2363, 0.1333). Not the per-image ``weight``
            below.
        weight: optional non-negative ``(N,)`` per-image weights of the reduction.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``(N,)``, one loss per image).

    References:
        Z. Wang, E. P. Simoncelli and A. C. Bovik, "Multiscale structural similarity for image
        quality assessment", Asilomar Conference on Signals, Systems and Computers, 2003.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> x = torch.linspace(0, 1, 1024).reshape(1, 1, 32, 32)
        >>> VF.ms_ssim_loss(x, x**2, window_size=3, scale_weights=[0.5, 0.5])  # two scales
        tensor(0.2178)
        >>> VF.ms_ssim_loss(x, 1 - x, window_size=3, scale_weights=[0.5, 0.5])  # CS < 0 is clamped
        tensor(1.)
    """
    opts = MSSSIMOptions(
        data_range=data_range,
        window_size=window_size,
        sigma=sigma,
        k1=k1,
        k2=k2,
        scale_weights=scale_weights,
        reduction=reduction,
    )
    return _ms_ssim(input, target, opts, weight)


def _ms_ssim(input: Tensor, target: Tensor, opts: MSSSIMOptions, weight: Tensor | None) -> Tensor:
    input, target = _prepare_images(input, target)
    window_size = opts.window_size
    scale_weights = MS_SSIM_WEIGHTS if opts.scale_weights is None else opts.scale_weights
    levels = len(scale_weights)
    _check_size(
        input,
        (window_size - 1) * 2 ** (levels - 1) + 1,
        lambda: f"{(window_size - 1) * 2 ** (levels - 1) + 1} ((window_size - 1) * 2**{levels - 1} + 1 "
        f"for window_size={window_size} and {levels} scales)",
    )
    dtype, device = input.dtype, input.device
    exponents = torch.as_tensor(scale_weights, dtype=dtype, device=device)
    window = _gaussian_window(window_size, opts.sigma, dtype, device)
    pool = F.avg_pool2d if input.dim() == 4 else F.avg_pool3d

    x, y = input, target
    terms = []
    for level in range(levels):
        ssim, cs = _ssim_and_cs(x, y, window, opts)
        if level < levels - 1:
            terms.append(cs)
            padding = [size % 2 for size in x.shape[2:]]
            x = pool(x, kernel_size=2, padding=padding)
            y = pool(y, kernel_size=2, padding=padding)
    terms.append(ssim)
    stacked = torch.stack(terms)  # (M, N, C)
    exponents = exponents.reshape(-1, 1, 1)
    # `<= 0`, not `not > 0`: a NaN term is not clamped, it propagates
    clamped = stacked <= 0
    # prod_j [t_j]_+^{w_j} = exp(sum_j w_j log t_j) when every t_j > 0 (or has w_j = 0, as
    # 0^0 = 1), else 0. The logs see 1 where t_j <= 0, so a clamped term has an exact zero
    # gradient by construction, with no reliance on pow's backward masking 0 * inf at 0.
    safe = torch.where(clamped, torch.ones((), dtype=dtype, device=device), stacked)
    log_prod = (exponents * torch.log(safe)).sum(dim=0)
    kept = (~clamped | (exponents == 0)).all(dim=0)
    ms_ssim = torch.where(kept, torch.exp(log_prod), torch.zeros_like(log_prod))
    return reduce_loss(1 - ms_ssim.mean(dim=1), opts.reduction, weight=weight)


# --- Modules: documented by their spec, forward is one call to the core -------------------------


class SSIMLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """input, target: ``(N, C, H, W)`` or ``(N, C, D, H, W)``; weight: optional ``(N,)``."""
        return _ssim(input, target, self.opts, weight)


class MSSSIMLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """input, target: ``(N, C, H, W)`` or ``(N, C, D, H, W)``; weight: optional ``(N,)``."""
        return _ms_ssim(input, target, self.opts, weight)


# --- the catalogue rows (concatenated into the generative family's table) ------------------------

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "ssim", ssim_loss, SSIMLoss, SSIMOptions, "generative",
        summary="1 - SSIM: local means, variances and covariance under a Gaussian window; 2D "
        "and 3D.",
        formula=r"1 - \operatorname{mean}_{c,p} \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}"
        r"{(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)}",
        paper="Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, Image Quality Assessment: "
        "From Error Visibility to Structural Similarity, IEEE TIP 2004",
    ),
    LossSpec(
        "ms_ssim", ms_ssim_loss, MSSSIMLoss, MSSSIMOptions, "generative",
        summary="1 - MS-SSIM: contrast-structure terms over scales halved by average pooling, "
        "SSIM at the coarsest, weighted by per-scale exponents.",
        formula=r"1 - \operatorname{mean}_c [\mathrm{SSIM}_{M,c}]_+^{w_M} "
        r"\prod_{j<M} [\mathrm{CS}_{j,c}]_+^{w_j}",
        paper="Z. Wang, E. P. Simoncelli, A. C. Bovik, Multiscale structural similarity for "
        "image quality assessment, Asilomar 2003",
    ),
)
