r"""Shape-aware segmentation losses: soft clDice (topology of tubular structures) and the
boundary loss (distance to the target's contour), with their helpers.

The soft skeleton is computed with min and max pooling only (Shit et al.'s iterated soft
morphology), on the device, in 2D and 3D; nothing leaves the graph or the accelerator.
:func:`signed_distance_map` is an exact Euclidean distance transform in pure PyTorch (separable
min-plus passes along each axis, on the mask's device, no SciPy and no host round trip); its
cost is :math:`O(S \cdot L)` for :math:`S` positions and lines of length :math:`L`, computed in
chunks of bounded memory. Targets come in the three modes of :mod:`visionloss._core.targets`;
for clDice, ignored positions are background for the target's skeleton and leave every sum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ..._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Mode,
    Reduction,
    check_class_weight,
    check_flag,
    check_floating,
    check_ignore_index,
    check_mode,
    check_number,
    check_probabilities,
    check_weight,
    compute_dtype,
    prepare_dense_target,
    reduce_loss,
)
from ...distributed import sync_sum
from .._dense_terms import merge_weights
from .overlap import OverlapOptions, TensorLike, _reduce_overlap, as_tensor

__all__ = [
    "SPECS",
    "BoundaryLoss",
    "HausdorffDTLoss",
    "SoftClDiceLoss",
    "boundary_loss",
    "hausdorff_dt_loss",
    "signed_distance_map",
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


@dataclass(frozen=True, kw_only=True)
class BoundaryOptions(LossOptions):
    mode: Mode = "multiclass"
    class_weight: TensorLike | None = None
    from_logits: bool = True

    tensor_fields: ClassVar[tuple[str, ...]] = ("class_weight",)

    def validate(self) -> None:
        check_mode(self.mode)
        check_class_weight(self.class_weight)
        check_flag(self.from_logits, "from_logits")


@dataclass(frozen=True, kw_only=True)
class HausdorffDTOptions(LossOptions):
    mode: Mode
    alpha: float = 2.0
    class_weight: TensorLike | None = None
    ignore_index: int | None = -100
    from_logits: bool = True

    tensor_fields: ClassVar[tuple[str, ...]] = ("class_weight",)

    def validate(self) -> None:
        check_mode(self.mode)
        check_number(self.alpha, "alpha", low=0.0)
        check_class_weight(self.class_weight)
        check_ignore_index(self.ignore_index)
        check_flag(self.from_logits, "from_logits")

    @property
    def activation(self) -> str:
        if not self.from_logits:
            return "identity"
        return "softmax" if self.mode == "multiclass" else "sigmoid"


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
    input: Tensor, target: Tensor, opts: OverlapOptions | HausdorffDTOptions
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


# --- distance maps and the boundary loss ----------------------------------------------------------

#: the most elements one min-plus pass materialises at once (lines x L x L)
_CHUNK = 1 << 24


def _min_plus(f: Tensor, axis: int, step: float) -> Tensor:
    """``out[i] = min_j f[j] + (step (i - j))^2`` along ``axis``: one pass of the exact squared
    Euclidean distance transform (Felzenszwalb and Huttenlocher's separability)."""
    moved = f.movedim(axis, -1)
    length = moved.shape[-1]
    index = torch.arange(length, device=f.device, dtype=f.dtype)
    cost = (step * (index.unsqueeze(1) - index.unsqueeze(0))) ** 2  # (L_i, L_j)
    lines = moved.reshape(-1, length)
    rows = max(1, _CHUNK // max(1, length * length))
    out = torch.cat([
        (chunk.unsqueeze(1) + cost).amin(-1) for chunk in lines.split(rows)
    ]) if lines.shape[0] > 0 else lines
    return out.reshape(moved.shape).movedim(-1, axis)


def _distance_to(features: Tensor, spatial: int, spacing: Sequence[float]) -> Tensor:
    """The Euclidean distance from every position to the nearest ``True`` of ``features`` over
    its last ``spatial`` dims (``inf`` where there is none)."""
    dtype = torch.float64 if features.device.type == "cpu" else torch.float32
    f = torch.where(features, 0.0, math.inf).to(dtype)
    for axis, step in zip(range(features.dim() - spatial, features.dim()), spacing, strict=True):
        f = _min_plus(f, axis, float(step))
    return f.sqrt()


def signed_distance_map(
    mask: Tensor,
    *,
    spacing: Sequence[float] | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""The signed Euclidean distance map of binary masks, Kervadec et al.'s convention.

    .. math::
        \phi(x) = \begin{cases} d(x, \text{foreground}) & x \text{ outside the mask} \\
        -\big(d(x, \text{background}) - 1\big) & x \text{ inside} \end{cases}

    so the mask's outermost pixels are 0, the inside is negative, the outside positive (the
    boundary paper's ``one_hot2dist``, there computed with SciPy). A mask that is empty or
    covers everything has no contour: its map is 0. Exact (not an approximation) and in pure
    PyTorch on the mask's device: squared distances by separable min-plus passes along each
    axis, in chunks of at most 2^24 elements; no gradient. Compute it once per target (in the
    data pipeline, as the paper does) and pass it to :func:`boundary_loss`.

    Args:
        mask: ``(N, C, *spatial)`` boolean or 0/1 masks, 1 to 3 spatial dims (for class ids
            ``(N, *)``: ``F.one_hot(ids, C).movedim(-1, 1)``).
        spacing: the voxel size along each spatial dim (anisotropic images). Default 1.
        dtype: of the result. Default float32.

    Returns:
        ``(N, C, *spatial)`` in ``dtype``.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> mask = torch.tensor([[[0, 1, 1, 1, 0, 0]]])
        >>> VF.signed_distance_map(mask)
        tensor([[[ 1.,  0., -1.,  0.,  1.,  2.]]])
    """
    if mask.dim() < 3 or mask.dim() > 5:
        raise ValueError(
            f"mask: expected shape (N, C, *spatial) with 1 to 3 spatial dims, got "
            f"{tuple(mask.shape)}"
        )
    spatial = mask.dim() - 2
    steps = (1.0,) * spatial if spacing is None else tuple(spacing)
    if len(steps) != spatial:
        raise ValueError(f"spacing: expected {spatial} values, one per spatial dim, got {steps}")
    with torch.no_grad():
        inside = mask.detach() != 0
        outside = ~inside
        to_fg = _distance_to(inside, spatial, steps)
        to_bg = _distance_to(outside, spatial, steps)
        phi = torch.where(inside, 1 - to_bg, to_fg)
        # an empty or full mask has no contour (infinite distances): 0
        phi = torch.where(torch.isinf(phi), torch.zeros_like(phi), phi)
    return phi.to(dtype)


def boundary_loss(
    input: Tensor,
    distance_map: Tensor,
    *,
    mode: Mode = "multiclass",
    class_weight: TensorLike | None = None,
    from_logits: bool = True,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Boundary loss: the predicted probabilities integrated against the target's signed
    distance map (Kervadec et al. 2019).

    .. math::
        \ell_{ncs} = p_{ncs}\, \phi_{ncs}

    with :math:`\phi` the signed distance to the target's contour
    (:func:`signed_distance_map`: negative inside, positive outside) and :math:`p` the
    predicted probability (softmax for ``"multiclass"``, sigmoid otherwise, or ``input`` with
    ``from_logits=False``). Its mean is an integral over the region between the predicted and
    the target contour, weighted by the distance: it measures how far the prediction's contour
    lies from the target's, and its gradient reaches pixels far from the target even when the
    overlap is 0, where Dice's vanishes. The loss can be negative; its minimum puts all mass
    inside the target. Use it with a regional loss (the paper's
    :math:`\alpha\,\mathrm{GDL} + (1 - \alpha)\,\mathcal{L}_B`, raising the boundary weight
    during training); alone it may collapse to an empty prediction inside thin structures.

    The paper applies it to the foreground classes only (``idc=[1]`` for two classes):
    ``class_weight=[0, 1]`` here.

    Args:
        input: logits (or probabilities with ``from_logits=False``), ``(N, C, *)`` (binary:
            any shape, typically ``(N, 1, *)``).
        distance_map: the input's shape, floating: :func:`signed_distance_map` of the target
            (one channel per class; for class ids, of their one-hot). No gradient flows to it.
        mode: ``"multiclass"`` (default), ``"binary"`` or ``"multilabel"``.
        class_weight: optional ``(C,)`` non-negative weights along the channels (``"mean"`` is
            then the class-weighted mean).
        from_logits: ``input`` holds logits (default) or probabilities.
        weight: optional non-negative weights broadcastable to the input's shape.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the input's shape).

    References:
        H. Kervadec et al., "Boundary loss for highly unbalanced segmentation", MIDL 2019 and
        Medical Image Analysis 2021, arXiv:1812.07032.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> phi = VF.signed_distance_map(torch.tensor([[[0, 1, 1, 1, 0, 0]]]))  # 1 0 -1 0 1 2
        >>> perfect = torch.tensor([[[0.0, 1.0, 1.0, 1.0, 0.0, 0.0]]])  # the minimum, -1 / 6
        >>> VF.boundary_loss(perfect, phi, mode="binary", from_logits=False)
        tensor(-0.1667)
        >>> too_big = torch.tensor([[[0.0, 1.0, 1.0, 1.0, 1.0, 1.0]]])  # (-1 + 1 + 2) / 6
        >>> VF.boundary_loss(too_big, phi, mode="binary", from_logits=False)
        tensor(0.3333)
    """
    return _boundary(input, distance_map, BoundaryOptions(
        mode=mode, class_weight=class_weight, from_logits=from_logits, reduction=reduction,
    ), weight)


def _boundary(
    input: Tensor, distance_map: Tensor, opts: BoundaryOptions, weight: Tensor | None
) -> Tensor:
    check_floating(input, "input")
    check_floating(distance_map, "distance_map")
    if distance_map.shape != input.shape:
        raise ValueError(
            f"distance_map: expected the input's shape {tuple(input.shape)}, got "
            f"{tuple(distance_map.shape)}"
        )
    if opts.mode != "binary" and input.dim() < 2:
        raise ValueError(
            f"input: expected shape (N, C, *) for mode={opts.mode!r}, got {tuple(input.shape)}"
        )
    if opts.mode == "multiclass" and input.shape[1] == 1:
        raise ValueError(
            "input: expected at least 2 classes for mode='multiclass', got shape "
            f"{tuple(input.shape)}; one-channel logits are binary: use mode='binary'"
        )
    dtype = compute_dtype(input)
    if not opts.from_logits:
        check_probabilities(input, "input")
        p = input.to(dtype)
    elif opts.mode == "multiclass":
        p = torch.softmax(input, dim=1, dtype=dtype)
    else:
        p = torch.sigmoid(input.to(dtype))
    loss = p * distance_map.detach().to(dtype)
    class_weight = as_tensor(opts.class_weight)
    if class_weight is not None:
        if opts.mode == "binary":
            raise ValueError(
                "class_weight: not available for mode='binary' (no class dim); use weight"
            )
        check_class_weight(class_weight, input.shape[1])
        shape = (1, -1) + (1,) * (input.dim() - 2)
        cw = class_weight.to(dtype=dtype, device=input.device).view(shape).expand_as(loss)
        weight = merge_weights(cw, weight, loss.shape)
    return reduce_loss(loss, opts.reduction, weight=weight)


def _distance_field(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """The unsigned distance of every position to the other kind (inside: to the background,
    outside: to the foreground), 0 for a mask without a contour; ``(N, C, *)``, no gradient."""
    spatial = mask.dim() - 2
    steps = (1.0,) * spatial
    with torch.no_grad():
        field = torch.where(
            mask, _distance_to(~mask, spatial, steps), _distance_to(mask, spatial, steps)
        )
        return torch.where(torch.isinf(field), torch.zeros_like(field), field).to(dtype)


def hausdorff_dt_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode,
    alpha: float = 2.0,
    class_weight: TensorLike | None = None,
    ignore_index: int | None = -100,
    from_logits: bool = True,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Hausdorff distance loss by distance transforms (Karimi and Salcudean 2019), per sample
    and class.

    .. math::
        \ell_{nc} = \frac{1}{|\Omega|} \sum_{s \in \Omega} (p_s - g_s)^2
        \big(d_P(s)^\alpha + d_G(s)^\alpha\big)

    with :math:`d_G` the distance of each position to the target's contour (to the nearest
    background position inside the mask, to the nearest foreground position outside) and
    :math:`d_P` the same for the thresholded prediction :math:`p > 0.5`; both are computed
    without gradient by the exact transform of :func:`signed_distance_map` (pure PyTorch, on
    the device). Errors far from either contour weigh :math:`d^\alpha` more, which targets the
    largest boundary deviations, the Hausdorff distance. A mask without a contour (empty or
    full) has a zero distance field. Ignored positions leave the mean (and are background for
    the target's field); a sample with none valid gives 0 and leaves the mean.

    Matches MONAI's ``HausdorffDTLoss`` (``include_background=True``; its default drops class
    0: ``class_weight`` with a 0 first here), which computes the same fields with SciPy or cuCIM
    on the host, one sample at a time.

    Args:
        input: logits (or probabilities with ``from_logits=False``), ``(N, C, H, W)`` or
            ``(N, C, D, H, W)``; ``"binary"``: ``C = 1``.
        target: as in :func:`dice_loss`.
        mode: ``"binary"``, ``"multilabel"`` or ``"multiclass"`` (required).
        alpha: the exponent of the distances, >= 0. Default 2 (the paper's).
        class_weight, ignore_index, from_logits, weight: as in :func:`dice_loss`.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``(N, C)``).

    References:
        D. Karimi, S. E. Salcudean, "Reducing the Hausdorff Distance in Medical Image
        Segmentation with Convolutional Neural Networks", IEEE TMI 2020, arXiv:1904.10030.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> target = torch.tensor([[[[0, 1, 1, 0, 0]]]])  # distances 1 1 1 1 2
        >>> probs = torch.tensor([[[[0.0, 1.0, 1.0, 1.0, 0.0]]]])  # distances 1 1 2 1 1
        >>> VF.hausdorff_dt_loss(probs, target, mode="binary", from_logits=False)  # (1+1)/5
        tensor(0.4000)
    """
    return _hausdorff_dt(input, target, HausdorffDTOptions(
        mode=mode, alpha=alpha, class_weight=class_weight, ignore_index=ignore_index,
        from_logits=from_logits, reduction=reduction,
    ), weight)


def _hausdorff_dt(
    input: Tensor, target: Tensor, opts: HausdorffDTOptions, weight: Tensor | None
) -> Tensor:
    p, g, v = _probabilities_and_target(input, target, opts)
    field = _distance_field(p.detach() > 0.5, p.dtype) ** opts.alpha
    field = field + _distance_field(g > 0.5, p.dtype) ** opts.alpha
    dims = tuple(range(2, p.dim()))
    count = v.sum(dims)
    total = ((p - g) ** 2 * field * v).sum(dims)
    loss = total / torch.where(count == 0, torch.ones_like(count), count)
    check_weight(weight, loss.shape)
    class_weight = as_tensor(opts.class_weight)
    check_class_weight(class_weight, loss.shape[-1])
    if class_weight is not None:
        weight = merge_weights(class_weight.to(loss.dtype), weight, loss.shape)
    # a sample with no valid position is left out of the mean
    return reduce_loss(loss, opts.reduction, weight=weight, valid=count > 0)


# --- Modules ------------------------------------------------------------------------------------


class BoundaryLoss(LossModule):
    def forward(
        self, input: Tensor, distance_map: Tensor, weight: Tensor | None = None
    ) -> Tensor:
        """Boundary loss of ``input`` against a signed distance map (see the class docstring)."""
        return _boundary(input, distance_map, self.opts, weight)


class HausdorffDTLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """Hausdorff DT loss of ``input`` against ``target`` (see the class docstring)."""
        return _hausdorff_dt(input, target, self.opts, weight)


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
    LossSpec(
        "boundary", boundary_loss, BoundaryLoss, BoundaryOptions, "segmentation",
        summary="Probabilities integrated against the target's signed distance map: the "
        "distance between contours, with a gradient where the masks do not overlap.",
        formula=r"\frac{1}{|\Omega|}\sum_{s \in \Omega} p_s\, \phi_G(s)",
        paper="H. Kervadec et al., Boundary loss for highly unbalanced segmentation, MIDL 2019, "
        "arXiv:1812.07032",
    ),
    LossSpec(
        "hausdorff_dt", hausdorff_dt_loss, HausdorffDTLoss, HausdorffDTOptions, "segmentation",
        summary="Squared error weighted by the distances to the predicted and target contours "
        "raised to alpha: targets the largest boundary deviations (Hausdorff distance).",
        formula=r"\frac{1}{|\Omega|}\sum_s (p_s - g_s)^2\,(d_P(s)^\alpha + d_G(s)^\alpha)",
        paper="D. Karimi, S. E. Salcudean, Reducing the Hausdorff Distance in Medical Image "
        "Segmentation with Convolutional Neural Networks, IEEE TMI 2020, arXiv:1904.10030",
    ),
)
