r"""Shape-aware segmentation losses: soft clDice (topology of tubular structures).

The soft skeleton is computed with min and max pooling only (Shit et al.'s iterated soft
morphology), on the device, in 2D and 3D; nothing leaves the graph or the accelerator.
Targets come in the three modes of :mod:`visionloss._core.targets`; ignored positions are
background for the target's skeleton and leave every sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..._core import (
    LossModule,
    LossSpec,
    Mode,
    Reduction,
    check_number,
    check_probabilities,
    compute_dtype,
    prepare_dense_target,
)
from ...distributed import sync_sum
from .overlap import OverlapOptions, TensorLike, _reduce_overlap

__all__ = [
    "SPECS",
    "SoftClDiceLoss",
    "soft_cldice_loss",
    "soft_skeleton",
]


# --- options ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SoftClDiceOptions(OverlapOptions):
    iterations: int = 3
    smooth: float = 1.0

    def validate(self) -> None:
        super().validate()
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int):
            raise TypeError(f"iterations: expected an integer, got {self.iterations!r}")
        check_number(self.iterations, "iterations", low=0.0)


# --- soft morphology ----------------------------------------------------------------------------


def _pool(x: Tensor, kernel: tuple[int, ...], padding: tuple[int, ...]) -> Tensor:
    if x.dim() == 4:
        return F.max_pool2d(x, kernel, 1, padding)
    return F.max_pool3d(x, kernel, 1, padding)


def _erode(x: Tensor) -> Tensor:
    """Soft erosion: the minimum over the cross-shaped neighbourhood (one axis at a time)."""
    dims = x.dim() - 2
    out = x
    for axis in range(dims):
        kernel = tuple(3 if d == axis else 1 for d in range(dims))
        padding = tuple(1 if d == axis else 0 for d in range(dims))
        out = torch.minimum(out, -_pool(-x, kernel, padding))
    return out


def _dilate(x: Tensor) -> Tensor:
    """Soft dilation: the maximum over the 3x3 (3x3x3) neighbourhood."""
    dims = x.dim() - 2
    return _pool(x, (3,) * dims, (1,) * dims)


def soft_skeleton(x: Tensor, iterations: int = 3) -> Tensor:
    r"""The soft skeleton of a probability map (Shit et al. 2021), by iterated min/max pooling.

    .. math::
        S_0 = \mathrm{relu}(x - \mathrm{open}(x)), \quad
        S_{j} = S_{j-1} + \mathrm{relu}(\delta_j - S_{j-1}\,\delta_j), \quad
        \delta_j = \mathrm{relu}(x_j - \mathrm{open}(x_j)),\ x_j = \mathrm{erode}^j(x)

    with ``erode`` the minimum over the cross-shaped 3-neighbourhood, ``dilate`` the maximum
    over the 3x3 (3x3x3) one, and ``open = dilate(erode(.))``. Borders are padded so that they
    neither erode nor dilate. ``iterations`` should be about the largest radius of the
    structures: thicker parts keep a band rather than a line.

    Args:
        x: ``(N, C, H, W)`` or ``(N, C, D, H, W)`` values in ``[0, 1]``.
        iterations: the number of erosions, >= 0. Default 3.

    Returns:
        The skeleton, ``x``'s shape, differentiable.
    """
    if x.dim() not in (4, 5):
        raise ValueError(
            f"x: expected shape (N, C, H, W) or (N, C, D, H, W), got {tuple(x.shape)}"
        )
    skeleton = F.relu(x - _dilate(_erode(x)))
    for _ in range(iterations):
        x = _erode(x)
        delta = F.relu(x - _dilate(_erode(x)))
        skeleton = skeleton + F.relu(delta - skeleton * delta)
    return skeleton


# --- soft clDice --------------------------------------------------------------------------------


def soft_cldice_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode,
    iterations: int = 3,
    smooth: float = 1.0,
    batch_dice: bool = False,
    class_weight: TensorLike | None = None,
    ignore_index: int | None = -100,
    from_logits: bool = True,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Soft clDice loss: the harmonic mean of topology precision and sensitivity, computed on
    soft skeletons, per sample and class (Shit et al. 2021).

    .. math::
        T_{\mathrm{prec}} = \frac{\sum_s S(p)\, g + s}{\sum_s S(p) + s}, \quad
        T_{\mathrm{sens}} = \frac{\sum_s S(g)\, p + s}{\sum_s S(g) + s}, \quad
        \ell_{nc} = 1 - \frac{2\, T_{\mathrm{prec}} T_{\mathrm{sens}}}
        {T_{\mathrm{prec}} + T_{\mathrm{sens}}}

    with :math:`S` :func:`soft_skeleton` (``iterations`` erosions), :math:`p` the predicted
    probability (softmax for ``"multiclass"``, sigmoid otherwise, or ``input`` itself with
    ``from_logits=False``), :math:`g` the target and :math:`s` = ``smooth``. A skeleton of the
    prediction outside the target costs precision, a target skeleton not covered by the
    prediction costs sensitivity: breaking a vessel or a road in two is penalised however few
    pixels it takes. Usually combined with Dice (the paper's :math:`(1-\alpha)` Dice
    :math:`+ \alpha` clDice).

    Ignored positions (``ignore_index``) are background for the target's skeleton and leave
    every sum; a sample with no valid position gives 0 and leaves the mean. The harmonic mean
    is 0 where both terms are 0 (only with ``smooth=0``).

    Differences from MONAI's ``SoftclDiceLoss``: MONAI pools the classes of a sample into one
    value (ours is per class; equal for one channel), adds ``smooth=1e-4`` to the harmonic
    mean's denominator (a difference of about 1e-4), and takes activated inputs.

    Args:
        input: logits (or probabilities with ``from_logits=False``): ``(N, C, H, W)`` or
            ``(N, C, D, H, W)``; ``"binary"``: ``C = 1``.
        target: as in :func:`dice_loss` (``"binary"``: the input's shape).
        mode: ``"binary"``, ``"multilabel"`` or ``"multiclass"`` (required).
        iterations: erosions of the soft skeleton, an integer >= 0. Default 3.
        smooth: :math:`s \ge 0` added to numerator and denominator of both ratios. Default 1
            (the paper's and MONAI's).
        batch_dice, class_weight, ignore_index, from_logits, sync, process_group, weight: as
            in :func:`dice_loss`.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``: ``(N, C)``, or ``(C,)``
            with ``batch_dice``.

    References:
        S. Shit et al., "clDice - a Novel Topology-Preserving Loss Function for Tubular
        Structure Segmentation", CVPR 2021, arXiv:2003.07311.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> line = torch.zeros(1, 1, 5, 5)
        >>> line[0, 0, 2] = 1.0  # a horizontal line, its own skeleton
        >>> VF.soft_cldice_loss(line, line.long(), mode="binary", from_logits=False)
        tensor(0.)
    """
    return _soft_cldice(input, target, SoftClDiceOptions(
        mode=mode, iterations=iterations, smooth=smooth, batch_dice=batch_dice,
        class_weight=class_weight, ignore_index=ignore_index, from_logits=from_logits,
        sync=sync, process_group=process_group, reduction=reduction,
    ), weight)


def _probabilities_and_target(
    input: Tensor, target: Tensor, opts: OverlapOptions
) -> tuple[Tensor, Tensor, Tensor]:
    """``(p, g, v)``: the activated prediction, the dense target (0 at ignored positions) and
    the validity (1/0), all ``(N, C, *)`` in the compute dtype."""
    if input.dim() not in (4, 5) or (opts.mode == "binary" and input.shape[1] != 1):
        expected = "(N, 1, H, W) or (N, 1, D, H, W)" if opts.mode == "binary" else (
            "(N, C, H, W) or (N, C, D, H, W)"
        )
        raise ValueError(
            f"input: expected shape {expected} for mode={opts.mode!r}, got {tuple(input.shape)}"
        )
    dtype = compute_dtype(input)
    dense = prepare_dense_target(
        input, target, opts.mode, ignore_index=opts.ignore_index, dtype=dtype
    )
    if opts.activation == "identity":
        check_probabilities(input, "input")
        p = input.to(dtype)
    elif opts.activation == "softmax":
        p = torch.softmax(input, dim=1, dtype=dtype)
    else:
        p = torch.sigmoid(input.to(dtype))
    if dense.index is not None:
        # one-hot by scatter: no host synchronisation (F.one_hot checks the ids on the host),
        # and an id out of [0, C) raises its bound error rather than being read as a class
        g = torch.zeros_like(p).scatter(1, dense.index.unsqueeze(1), 1.0)
    else:
        assert dense.probs is not None  # a DenseTarget holds class ids or probabilities
        g = dense.probs.to(dtype)
    if dense.valid is None:
        v = torch.ones_like(p)
    else:
        valid = dense.valid.unsqueeze(1) if dense.valid.dim() < p.dim() else dense.valid
        v = valid.to(dtype).expand_as(p)
    return p, g * v, v


def _soft_cldice(
    input: Tensor, target: Tensor, opts: SoftClDiceOptions, weight: Tensor | None
) -> Tensor:
    p, g, v = _probabilities_and_target(input, target, opts)
    skel_p, skel_g = soft_skeleton(p, opts.iterations), soft_skeleton(g, opts.iterations)
    dims = tuple(range(2, p.dim()))
    stats = torch.stack((
        (skel_p * g).sum(dims),
        (skel_p * v).sum(dims),
        (skel_g * p * v).sum(dims),
        skel_g.sum(dims),
        v.sum(dims),
    ))
    if opts.batch_dice:
        stats = sync_sum(stats.sum(1), sync=opts.sync, process_group=opts.process_group)
    hit_p, mass_p, hit_g, mass_g, count = stats.unbind(0)
    s = opts.smooth
    precision = _ratio(hit_p + s, mass_p + s, empty=1.0)
    sensitivity = _ratio(hit_g + s, mass_g + s, empty=1.0)
    harmonic = _ratio(2 * precision * sensitivity, precision + sensitivity, empty=0.0)
    return _reduce_overlap(1 - harmonic, count, opts, weight)


def _ratio(numerator: Tensor, denominator: Tensor, *, empty: float) -> Tensor:
    """``numerator / denominator``, and ``empty`` where the denominator is 0 (finite gradient:
    the double ``where``)."""
    zero = denominator == 0
    safe = torch.where(zero, torch.ones_like(denominator), denominator)
    return torch.where(zero, torch.full_like(numerator, empty), numerator / safe)


# --- Modules ------------------------------------------------------------------------------------


class SoftClDiceLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """Soft clDice loss of ``input`` against ``target`` (see the class docstring)."""
        return _soft_cldice(input, target, self.opts, weight)


# --- the sub-family's catalogue -----------------------------------------------------------------

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "soft_cldice", soft_cldice_loss, SoftClDiceLoss, SoftClDiceOptions, "segmentation",
        summary="One minus the harmonic mean of topology precision and sensitivity on soft "
        "skeletons: keeps tubular structures connected.",
        formula=r"1 - \frac{2\,T_{\mathrm{prec}}\,T_{\mathrm{sens}}}"
        r"{T_{\mathrm{prec}} + T_{\mathrm{sens}}}",
        paper="S. Shit et al., clDice - a Novel Topology-Preserving Loss Function for Tubular "
        "Structure Segmentation, CVPR 2021, arXiv:2003.07311",
    ),
)
