"""Catalogue rows of the regression family, with float64 references written from the formulas."""

from __future__ import annotations

import math

import torch

import visionloss
import visionloss.functional as VF

from . import LossCase


def _pair(gen: torch.Generator, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    # residuals spread over [-4, 4]: both sides of every kink (Huber's delta, Smooth L1's beta)
    x = (torch.rand(3, 5, generator=gen, dtype=torch.float64) * 8 - 4).to(dtype)
    y = torch.randn(3, 5, generator=gen, dtype=torch.float64).to(dtype)
    return x, y


def _empty(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(0, 3, dtype=dtype), torch.zeros(0, 3, dtype=dtype)


def _extreme(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    big = 6e4 if dtype == torch.float16 else 1e4
    return torch.tensor([-big, big, 0.0], dtype=dtype), torch.tensor([big, -big, 0.0], dtype=dtype)


def _shape(inputs):
    return tuple(inputs[0].shape)


def _huber(x, y, delta=1.0):
    d = (x - y).abs()
    return torch.where(d <= delta, 0.5 * d**2, delta * (d - 0.5 * delta))


def _smooth_l1(x, y, beta=1.0):
    d = (x - y).abs()
    return torch.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta)


def _robust(x, y, alpha=1.0, scale=1.0):
    # the general formula, valid away from alpha in {0, 2}
    z = ((x - y) / scale) ** 2
    b = abs(alpha - 2)
    return b / alpha * ((z / b + 1) ** (alpha / 2) - 1)


_common = dict(none_shape=_shape, make_empty=_empty, grad_inputs=(0, 1))

CASES: list[LossCase] = [
    LossCase(
        "mse",
        VF.mse_loss,
        visionloss.MSELoss,
        _pair,
        reference=lambda x, y: (x - y) ** 2,
        make_extreme=None,
        compile=True,
        **_common,
    ),
    LossCase(
        "mae",
        VF.mae_loss,
        visionloss.MAELoss,
        _pair,
        reference=lambda x, y: (x - y).abs(),
        make_extreme=_extreme,
        **_common,
    ),
    LossCase(
        "huber",
        VF.huber_loss,
        visionloss.HuberLoss,
        _pair,
        reference=_huber,
        options={"delta": 1.5},
        make_extreme=_extreme,
        **_common,
    ),
    LossCase(
        "smooth_l1",
        VF.smooth_l1_loss,
        visionloss.SmoothL1Loss,
        _pair,
        reference=_smooth_l1,
        options={"beta": 0.5},
        make_extreme=_extreme,
        **_common,
    ),
    LossCase(
        "log_cosh",
        VF.log_cosh_loss,
        visionloss.LogCoshLoss,
        _pair,
        reference=lambda x, y: torch.log(torch.cosh(x - y)),
        make_extreme=_extreme,
        compile=True,
        **_common,
    ),
    LossCase(
        "charbonnier",
        VF.charbonnier_loss,
        visionloss.CharbonnierLoss,
        _pair,
        reference=lambda x, y, eps=1e-3: torch.sqrt((x - y) ** 2 + eps**2) - eps,
        options={"eps": 1e-2},
        make_extreme=_extreme,
        **_common,
    ),
    LossCase(
        "robust",
        VF.robust_loss,
        visionloss.RobustLoss,
        _pair,
        reference=_robust,
        options={"alpha": -1.5, "scale": 0.7},
        make_extreme=_extreme,
        compile=True,
        **_common,
    ),
    LossCase(
        "robust_cauchy",
        VF.robust_loss,
        visionloss.RobustLoss,
        _pair,
        reference=lambda x, y, alpha, scale: torch.log1p(0.5 * ((x - y) / scale) ** 2),
        options={"alpha": 0.0, "scale": 2.0},
        make_extreme=_extreme,
        **_common,
    ),
    LossCase(
        "robust_welsch",
        VF.robust_loss,
        visionloss.RobustLoss,
        _pair,
        reference=lambda x, y, alpha, scale: 1 - torch.exp(-0.5 * ((x - y) / scale) ** 2),
        options={"alpha": -math.inf, "scale": 1.0},
        make_extreme=_extreme,
        **_common,
    ),
    # the fused path computes only the branch alpha selects: one row per remaining branch
    LossCase(
        "robust_l2",
        VF.robust_loss,
        visionloss.RobustLoss,
        _pair,
        reference=lambda x, y, alpha, scale: 0.5 * ((x - y) / scale) ** 2,
        options={"alpha": 2.0, "scale": 2.0},
        make_extreme=_extreme,
        **_common,
    ),
    LossCase(
        "robust_pseudo_huber",
        VF.robust_loss,
        visionloss.RobustLoss,
        _pair,
        reference=_robust,
        options={"alpha": 1.0, "scale": 1.5},
        make_extreme=_extreme,
        **_common,
    ),
    LossCase(
        "robust_pos_inf",
        VF.robust_loss,
        visionloss.RobustLoss,
        _pair,  # residuals of a few units over scale 3: exp(z/2) stays far from overflow
        reference=lambda x, y, alpha, scale: torch.expm1(0.5 * ((x - y) / scale) ** 2),
        options={"alpha": math.inf, "scale": 3.0},
        **_common,
    ),
]
