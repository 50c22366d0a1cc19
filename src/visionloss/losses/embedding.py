"""Embedding (metric-learning) losses: triplet margin, batch triplet mining, contrastive.

The losses on cosine similarities (NT-Xent, supervised contrastive, multi-similarity, ArcFace,
CosFace) live in :mod:`visionloss.losses._contrastive` and are re-exported here, their specs
appended to :data:`SPECS`; CLIP's symmetric image-text InfoNCE likewise lives in
:mod:`visionloss.losses._clip`.

The three losses share one distance helper (:func:`_paired_distance` for rows that are paired,
:func:`_distance_matrix` for every pair of a batch) and the two batch triplet losses share one
private core (:func:`_triplet_core`: the ``(B, B)`` distance matrix and the positive and negative
masks). Half and bfloat16 embeddings are computed in float32; the result is float32.

Distances, and how they behave at zero:

* ``"euclidean"``: :math:`\\lVert x - y \\rVert_2`, computed as
  :math:`\\sqrt{\\max(\\lVert x - y \\rVert^2, 10^{-12})}`: below :math:`10^{-6}` a distance reads
  :math:`10^{-6}` and has zero gradient, so identical embeddings give finite gradients (the
  gradient of a bare square root is infinite at 0, and ``0 * inf`` is NaN even on a branch that
  ``where`` discards). :func:`triplet_margin_loss` instead follows torch's ``pairwise_distance``,
  :math:`\\lVert x - y + \\epsilon \\rVert_2`, so that its defaults equal
  ``torch.nn.functional.triplet_margin_loss``.
* ``"squared_euclidean"``: :math:`\\lVert x - y \\rVert_2^2` (smooth everywhere, no floor).
* ``"cosine"``: :math:`1 - \\cos(x, y)`, with the norms floored at ``1e-8`` as in torch's
  ``cosine_similarity`` (``eps`` in :func:`triplet_margin_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Reduction,
    autocast_off,
    check_choice,
    check_class_ids,
    check_flag,
    check_floating,
    check_number,
    check_probabilities,
    check_same_shape,
    check_tensor,
    compute_dtype,
    reduce_loss,
)
from ..distributed import gather_cat, is_synced
from ._clip import SPECS as _CLIP_SPECS
from ._clip import ClipLoss, ClipOptions, clip_loss
from ._contrastive import SPECS as _CONTRASTIVE_SPECS
from ._contrastive import (
    ArcFaceLoss,
    ArcFaceOptions,
    CosFaceLoss,
    CosFaceOptions,
    MultiSimilarityLoss,
    MultiSimilarityOptions,
    NTXentLoss,
    NTXentOptions,
    SupervisedContrastiveLoss,
    SupervisedContrastiveOptions,
    arcface_loss,
    cosface_loss,
    multi_similarity_loss,
    nt_xent_loss,
    supervised_contrastive_loss,
)
from ._embedding_inputs import NORM_EPS, check_labels, check_rows

__all__ = [
    "ArcFaceLoss",
    "ArcFaceOptions",
    "BatchTripletLoss",
    "BatchTripletOptions",
    "ClipLoss",
    "ClipOptions",
    "ContrastiveLoss",
    "ContrastiveOptions",
    "CosFaceLoss",
    "CosFaceOptions",
    "Distance",
    "Mining",
    "MultiSimilarityLoss",
    "MultiSimilarityOptions",
    "NTXentLoss",
    "NTXentOptions",
    "SPECS",
    "SupervisedContrastiveLoss",
    "SupervisedContrastiveOptions",
    "TripletMarginLoss",
    "TripletMarginOptions",
    "arcface_loss",
    "batch_triplet_loss",
    "clip_loss",
    "contrastive_loss",
    "cosface_loss",
    "multi_similarity_loss",
    "nt_xent_loss",
    "supervised_contrastive_loss",
    "triplet_margin_loss",
]

Distance = Literal["euclidean", "squared_euclidean", "cosine"]
Mining = Literal["batch_hard", "batch_all", "semi_hard"]
DISTANCES: tuple[str, ...] = get_args(Distance)
MININGS: tuple[str, ...] = get_args(Mining)

# Squared distances are floored here before the square root (a distance floor of 1e-6, the scale
# of torch's pairwise_distance eps): the gradient stays finite at coincident embeddings.
_SQUARED_FLOOR = 1e-12


# --- options: declared once, checked when built ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TripletMarginOptions(LossOptions):
    margin: float = 1.0
    distance: Distance = "euclidean"
    swap: bool = False
    soft_margin: bool = False
    eps: float = 1e-6

    def validate(self) -> None:
        check_number(self.margin, "margin", low=0.0)
        check_choice(self.distance, "distance", DISTANCES)
        check_flag(self.swap, "swap")
        check_flag(self.soft_margin, "soft_margin")
        check_number(self.eps, "eps", low=0.0)


@dataclass(frozen=True, kw_only=True)
class BatchTripletOptions(LossOptions):
    margin: float = 0.2
    mining: Mining = "batch_hard"
    distance: Distance = "euclidean"
    soft_margin: bool = False
    sync: bool = False
    process_group: object | None = None

    def validate(self) -> None:
        check_number(self.margin, "margin", low=0.0)
        check_choice(self.mining, "mining", MININGS)
        check_choice(self.distance, "distance", DISTANCES)
        check_flag(self.soft_margin, "soft_margin")
        check_flag(self.sync, "sync")


@dataclass(frozen=True, kw_only=True)
class ContrastiveOptions(LossOptions):
    margin: float = 1.0
    distance: Distance = "euclidean"

    def validate(self) -> None:
        check_number(self.margin, "margin", low=0.0)
        check_choice(self.distance, "distance", DISTANCES)


# --- the distance helper shared by the three losses ------------------------------------------------


def _safe_sqrt(squared: Tensor) -> Tensor:
    # floor, then sqrt: zero gradient below the floor instead of an infinite one at 0
    return torch.sqrt(torch.clamp(squared, min=_SQUARED_FLOOR))


def _paired_distance(x: Tensor, y: Tensor, distance: str, *, eps: float | None = None) -> Tensor:
    """Distance between the rows of ``x`` and ``y`` (both ``(N, D)``), shape ``(N,)``.

    ``eps`` selects torch's conventions (:func:`triplet_margin_loss`): it is added to the
    difference for ``"euclidean"`` (``F.pairwise_distance``) and floors the norms for ``"cosine"``.
    Without it: the safe square root of the module docstring, and a norm floor of ``1e-8``.
    """
    if distance == "cosine":
        return 1 - F.cosine_similarity(x, y, dim=-1, eps=NORM_EPS if eps is None else eps)
    diff = x - y
    if distance == "euclidean" and eps is not None:
        diff = diff + eps  # torch's pairwise_distance: ||x - y + eps||, never exactly 0
    # the squared norm of the difference itself (not the expansion ||x||^2 + ||y||^2 - 2 x.y):
    # exact for close rows, so the gradient (x - y) / d is accurate there
    squared = diff.square().sum(dim=-1)
    return squared if distance == "squared_euclidean" else _safe_sqrt(squared)


def _distance_matrix(x: Tensor, distance: str) -> Tensor:
    """Distances between every pair of rows of ``x`` (``(B, D)``), shape ``(B, B)``.

    Memory and time stay O(B^2) and O(B^2 D) with one matrix product: the Euclidean distances come
    from :math:`\\lVert x_i \\rVert^2 + \\lVert x_j \\rVert^2 - 2 x_i \\cdot x_j` (a ``(B, B, D)``
    difference tensor would be D times larger). The expansion loses about
    :math:`\\epsilon_{mach} \\lVert x \\rVert^2` to cancellation; it is clamped at 0, then the safe
    square root applies.
    """
    if distance == "cosine":
        unit = F.normalize(x, dim=1, eps=NORM_EPS)
        with autocast_off(x):  # the product in the compute dtype, not autocast's bfloat16
            return 1 - unit @ unit.T
    sq_norms = x.square().sum(dim=1)
    with autocast_off(x):
        products = x @ x.T
    squared = torch.clamp(sq_norms[:, None] + sq_norms[None, :] - 2 * products, min=0)
    return squared if distance == "squared_euclidean" else _safe_sqrt(squared)


# --- the private core of the batch triplet losses --------------------------------------------------


class _TripletCore(NamedTuple):
    """What every mining rule stands on.

    Attributes:
        dist: ``(B, B)`` distances between every pair of embeddings.
        positive: ``(B, B)`` bool, ``[a, p]`` true when p has a's label and p != a.
        negative: ``(B, B)`` bool, ``[a, n]`` true when n has another label.
    """

    dist: Tensor
    positive: Tensor
    negative: Tensor


def _triplet_core(embeddings: Tensor, labels: Tensor, distance: str) -> _TripletCore:
    same = labels[:, None] == labels[None, :]
    index = torch.arange(labels.shape[0], device=labels.device)
    not_self = index[:, None] != index[None, :]
    dist = _distance_matrix(embeddings, distance)
    return _TripletCore(dist, same & not_self, ~same)


def _hinge(ap: Tensor, an: Tensor, opts: TripletMarginOptions | BatchTripletOptions) -> Tensor:
    # soft margin (Hermans et al.): log(1 + exp(d_ap - d_an)) by softplus, stable for any gap.
    # The margin joins d_ap first: with batch_all's broadcast (B, B, 1) - (B, 1, B) that is one
    # (B, B, B) intermediate fewer.
    return F.softplus(ap - an) if opts.soft_margin else F.relu((ap + opts.margin) - an)


def _batch_hard(
    embeddings: Tensor, labels: Tensor, opts: BatchTripletOptions
) -> tuple[Tensor, Tensor]:
    """``(B,)`` loss per anchor and its validity mask."""
    # Mining only picks indices, so it runs on detached distances; for "euclidean" the squared
    # distances give the same order and skip B^2 square roots.
    distance = opts.distance
    mine_with = "squared_euclidean" if distance == "euclidean" else distance
    core = _triplet_core(embeddings.detach(), labels, mine_with)
    info = torch.finfo(core.dist.dtype)
    # masked max / min with the dtype's limits (no boolean-mask indexing: compiles, no sync)
    hardest_positive = torch.where(core.positive, core.dist, info.min).argmax(dim=1)
    hardest_negative = torch.where(core.negative, core.dist, info.max).argmin(dim=1)
    valid = core.positive.any(dim=1) & core.negative.any(dim=1)
    # The two mined distances are recomputed from the rows themselves: exact (no cancellation of
    # the expansion), and backward keeps only two (B, D) differences instead of a (B, B) graph.
    ap = _paired_distance(embeddings, embeddings.index_select(0, hardest_positive), distance)
    an = _paired_distance(embeddings, embeddings.index_select(0, hardest_negative), distance)
    return _hinge(ap, an, opts), valid


def _batch_all(
    embeddings: Tensor, labels: Tensor, opts: BatchTripletOptions
) -> tuple[Tensor, Tensor]:
    """``(B, B, B)`` loss per triplet ``[a, p, n]`` and its mask: valid with a positive loss.

    Only ``reduction="none"`` materialises every triplet (O(B^3)); ``"mean"`` and ``"sum"`` take
    :func:`_batch_all_sums` (O(B^2) memory).
    """
    core = _triplet_core(embeddings, labels, opts.distance)
    loss = _hinge(core.dist[:, :, None], core.dist[:, None, :], opts)
    # "not <= 0" rather than "> 0": a NaN loss stays counted and propagates to the result
    valid = core.positive[:, :, None] & core.negative[:, None, :] & ~(loss <= 0)
    return loss, valid


def _batch_all_sums(
    embeddings: Tensor, labels: Tensor, opts: BatchTripletOptions
) -> tuple[Tensor, Tensor]:
    """The sum of the valid triplets' positive losses and their number, in O(B^2) memory.

    Exactly the sum and the count of :func:`_batch_all`'s masked ``(B, B, B)`` tensor (the same
    triplets are counted; the sum is accumulated in another order).
    """
    core = _triplet_core(embeddings, labels, opts.distance)
    if opts.soft_margin:
        return _soft_batch_all(core)
    return _hinge_batch_all(core, opts.margin)


def _hinge_batch_all(core: _TripletCore, margin: float) -> tuple[Tensor, Tensor]:
    r"""Sort-and-search form of batch_all with the hinge, O(B^2) memory and O(B^2 log B) time.

    For a positive pair :math:`(a, p)` with :math:`t_{ap} = d_{ap} + m`, the triplets with a
    positive loss are the negatives with :math:`d_{an} < t_{ap}` (in floating point
    :math:`t - d > 0` exactly when :math:`t > d`, so this is the same set as the broadcast
    form's ``loss > 0``). With each anchor's negative distances sorted, their number
    :math:`c_{ap}` is one ``searchsorted`` and their loss sum is
    :math:`c_{ap} t_{ap} - \sum_{k < c_{ap}} d_{a(k)}`, a prefix sum. Autograd differentiates it
    exactly: :math:`\partial / \partial d_{ap} = c_{ap}` and each negative gets minus the number
    of positive pairs it is active for.
    """
    dist = core.dist
    inf = torch.full((), float("inf"), dtype=dist.dtype, device=dist.device)
    # each anchor's negative distances ascending, then +inf for the other columns
    sorted_neg = torch.sort(torch.where(core.negative, dist, inf), dim=1).values
    threshold = dist + margin  # rounded as _hinge's (d_ap + m): the same triplets are active
    active = torch.searchsorted(sorted_neg.detach(), threshold.detach().contiguous())
    # Prefix sums of the sorted distances, shifted by the anchor's closest negative (a constant:
    # it cancels in c t - sum d, so no gradient is lost): the two terms stay of the size of the
    # losses themselves, not of c times the distances (float32 cancellation).
    closest = sorted_neg[:, :1].detach()
    shift = torch.where(torch.isfinite(closest), closest, torch.zeros_like(closest))
    prefix = torch.cumsum(sorted_neg - shift, dim=1)
    prefix = torch.cat([torch.zeros_like(prefix[:, :1]), prefix], dim=1)
    per_pair = active.to(dist.dtype) * (threshold - shift) - prefix.gather(1, active)
    pair_valid = core.positive & (active > 0)
    total = torch.where(pair_valid, per_pair, torch.zeros_like(per_pair)).sum()
    count = torch.where(core.positive, active, torch.zeros_like(active)).sum().to(dist.dtype)
    # NaN propagates as in the broadcast form (a NaN distance makes a counted NaN loss there)
    nan = torch.where((core.positive | core.negative) & dist.isnan(), dist, 0).sum()
    return total + nan, count


# Anchors per chunk of the soft-margin batch_all: a chunk holds about 2^22 triplets (16 MiB in
# float32) whatever B is, so memory stays O(B^2) plus a fixed working set.
_SOFT_CHUNK_TRIPLETS = 1 << 22


def _soft_chunks(b: int) -> range:
    return range(0, b, max(1, _SOFT_CHUNK_TRIPLETS // max(b * b, 1)))


def _soft_chunk(
    dist: Tensor, positive: Tensor, negative: Tensor, start: int, stop: int
) -> tuple[Tensor, Tensor, Tensor]:
    """The gaps ``d_ap - d_an`` of anchors ``start:stop`` and the mask of the counted triplets."""
    rows = dist[start:stop]
    gap = rows[:, :, None] - rows[:, None, :]
    loss = F.softplus(gap)
    # softplus underflows to 0 below a gap of about -104 (float32): such a triplet is not counted,
    # as in the broadcast form; "not <= 0" keeps a NaN counted
    valid = positive[start:stop, :, None] & negative[start:stop, None, :] & ~(loss <= 0)
    return gap, loss, valid


def _soft_grad_matrix(dist: Tensor, positive: Tensor, negative: Tensor, scale: Tensor) -> Tensor:
    """``scale`` times the gradient of the summed soft batch_all loss w.r.t. ``dist``."""
    rows = []
    b = dist.shape[0]
    step = _soft_chunks(b).step
    for start in range(0, b, step):
        gap, _, valid = _soft_chunk(dist, positive, negative, start, min(start + step, b))
        w = torch.where(valid, torch.sigmoid(gap), torch.zeros_like(gap))
        # +w on d_ap (summed over n), -w on d_an (summed over p): both in the anchor's row
        rows.append(w.sum(dim=2) - w.sum(dim=1))
    grad = torch.cat(rows, dim=0) if rows else torch.zeros_like(dist)
    return grad * scale


class _SoftBatchAllCompiled(torch.autograd.Function):
    """Sum of softplus(d_ap - d_an) over the counted triplets and their number, streamed over
    chunks of anchors; the backward recomputes each chunk (nothing per triplet is saved).

    This class has no ``jvp`` (Dynamo refuses a Function with one): it is the one traced while
    compiling; :class:`_SoftBatchAll` adds the ``jvp`` for eager ``torch.func.jvp``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(dist: Tensor, positive: Tensor, negative: Tensor) -> tuple[Tensor, Tensor]:
        total = dist.new_zeros(())
        count = dist.new_zeros(())
        b = dist.shape[0]
        step = _soft_chunks(b).step
        for start in range(0, b, step):
            _, loss, valid = _soft_chunk(dist, positive, negative, start, min(start + step, b))
            total = total + torch.where(valid, loss, torch.zeros_like(loss)).sum()
            count = count + valid.sum(dtype=dist.dtype)
        return total, count

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        dist, positive, negative = inputs
        ctx.save_for_backward(dist, positive, negative)
        ctx.save_for_forward(dist, positive, negative)
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx: Any, grad_total: Tensor, grad_count: Tensor) -> tuple[Tensor | None, ...]:
        dist, positive, negative = ctx.saved_tensors
        # built from differentiable ops on the saved distances: a double backward is exact
        return _soft_grad_matrix(dist, positive, negative, grad_total), None, None


class _SoftBatchAll(_SoftBatchAllCompiled):
    @staticmethod
    def jvp(ctx: Any, dist_t: Tensor, positive_t: Any, negative_t: Any) -> tuple[Tensor, None]:
        dist, positive, negative = ctx.saved_tensors
        one = dist.new_ones(())
        return (_soft_grad_matrix(dist, positive, negative, one) * dist_t).sum(), None


def _soft_batch_all(core: _TripletCore) -> tuple[Tensor, Tensor]:
    function = _SoftBatchAllCompiled if torch.compiler.is_compiling() else _SoftBatchAll
    total, count = function.apply(core.dist, core.positive, core.negative)
    return total, count


def _semi_hard(
    embeddings: Tensor, labels: Tensor, opts: BatchTripletOptions
) -> tuple[Tensor, Tensor]:
    """``(B, B)`` loss per (anchor, positive) pair ``[a, p]`` and its validity mask."""
    core = _triplet_core(embeddings, labels, opts.distance)
    dist = core.dist
    # Each anchor's negative distances in ascending order, the other entries (the dtype's maximum)
    # after them: O(B^2) memory, where a (B, B, B) comparison of every (a, p) with every n is not.
    masked = torch.where(core.negative, dist, torch.finfo(dist.dtype).max)
    sorted_neg = torch.sort(masked, dim=1).values
    num_neg = core.negative.sum(dim=1, keepdim=True)
    # first negative strictly farther than the positive (TF Addons: d_an > d_ap)
    first_far = torch.searchsorted(sorted_neg.detach(), dist.detach().contiguous(), right=True)
    # no farther negative: the farthest one, the last of the anchor's sorted negatives
    pick = torch.where(first_far < num_neg, first_far, num_neg - 1).clamp(min=0)
    an = sorted_neg.gather(1, pick)  # differentiable: sort's values carry the gradient to dist
    valid = core.positive & (num_neg > 0)
    return _hinge(dist, an, opts), valid


_MINING: dict[str, Any] = {"batch_hard": _batch_hard, "batch_all": _batch_all, "semi_hard": _semi_hard}
_NONE_RANK: dict[str, int] = {"batch_hard": 1, "semi_hard": 2, "batch_all": 3}


# --- public functions ------------------------------------------------------------------------------


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    margin: float = 1.0,
    distance: Distance = "euclidean",
    swap: bool = False,
    soft_margin: bool = False,
    eps: float = 1e-6,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Triplet margin loss on given (anchor, positive, negative) rows.

    .. math::
        \ell_i = \max\!\left(0,\; d(a_i, p_i) - d(a_i, n_i) + m\right)
        \quad\text{or, with soft\_margin,}\quad
        \ell_i = \log\!\left(1 + e^{\,d(a_i, p_i) - d(a_i, n_i)}\right)

    where :math:`m` is ``margin`` (unused with ``soft_margin``, which has no margin). With
    ``swap`` (Balntas et al. 2016), :math:`d(a_i, n_i)` is replaced by
    :math:`\min(d(a_i, n_i), d(p_i, n_i))`: the harder of the two negatives' distances.

    Distances: ``"euclidean"`` is torch's ``pairwise_distance``,
    :math:`\lVert a - p + \epsilon \rVert_2`; ``"squared_euclidean"`` is
    :math:`\lVert a - p \rVert_2^2`; ``"cosine"`` is :math:`1 - \cos(a, p)` with both norms
    floored at :math:`\epsilon`.

    Args:
        anchor: ``(N, D)`` floating embeddings.
        positive: ``(N, D)``, same identity as the anchor.
        negative: ``(N, D)``, another identity.
        margin: :math:`m \ge 0`. Default 1.0.
        distance: ``"euclidean"`` (default), ``"squared_euclidean"`` or ``"cosine"``.
        swap: use the distance swap. Default ``False``.
        soft_margin: the softplus form instead of the hinge. Default ``False``.
        eps: added to the difference for ``"euclidean"``, floor of the norms for ``"cosine"``.
            Default 1e-6.
        weight: optional non-negative ``(N,)`` tensor (a weight per triplet).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(N,)``).

    Returns:
        The loss. With the defaults it equals ``torch.nn.functional.triplet_margin_loss``
        (also with ``swap``).

    References:
        K. Q. Weinberger and L. K. Saul, "Distance Metric Learning for Large Margin Nearest
        Neighbor Classification", JMLR 2009. V. Balntas, E. Riba, D. Ponsa, K. Mikolajczyk,
        "Learning local feature descriptors with triplets and shallow convolutional neural
        networks", BMVC 2016.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> a = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
        >>> p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> n = torch.tensor([[2.0, 0.0], [0.0, 1.2]])
        >>> VF.triplet_margin_loss(a, p, n, distance="squared_euclidean", reduction="none")
        tensor([0.0000, 0.5600])
    """
    opts = TripletMarginOptions(
        margin=margin,
        distance=distance,
        swap=swap,
        soft_margin=soft_margin,
        eps=eps,
        reduction=reduction,
    )
    return _triplet_margin(anchor, positive, negative, opts, weight)


def _triplet_margin(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    opts: TripletMarginOptions,
    weight: Tensor | None,
) -> Tensor:
    check_rows(anchor, "anchor")
    check_floating(positive, "positive")
    check_floating(negative, "negative")
    check_same_shape(anchor, positive, "anchor", "positive")
    check_same_shape(anchor, negative, "anchor", "negative")
    dtype = compute_dtype(anchor, positive, negative)
    anchor, positive, negative = anchor.to(dtype), positive.to(dtype), negative.to(dtype)

    distance, eps = opts.distance, opts.eps
    ap = _paired_distance(anchor, positive, distance, eps=eps)
    an = _paired_distance(anchor, negative, distance, eps=eps)
    if opts.swap:
        an = torch.minimum(an, _paired_distance(positive, negative, distance, eps=eps))
    return reduce_loss(_hinge(ap, an, opts), opts.reduction, weight=weight)


def batch_triplet_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    margin: float = 0.2,
    mining: Mining = "batch_hard",
    distance: Distance = "euclidean",
    soft_margin: bool = False,
    sync: bool = False,
    process_group: object | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Triplet loss with the triplets mined inside a labelled batch.

    Every triplet is :math:`\ell(a, p, n) = \max(0, d_{ap} - d_{an} + m)` (or
    :math:`\log(1 + e^{d_{ap} - d_{an}})` with ``soft_margin``, which ignores ``margin``), where
    :math:`p \ne a` shares :math:`a`'s label and :math:`n` has another. The mining rules:

    * ``"batch_hard"`` (Hermans et al. 2017): for every anchor with at least one positive and one
      negative, the hardest positive and the hardest negative,
      :math:`\ell_a = \ell(a, \arg\max_p d_{ap}, \arg\min_n d_{an})`; the mean runs over those
      anchors. ``"none"``: shape ``(B,)``, one value per anchor, 0 for a skipped anchor.
    * ``"batch_all"``: every valid triplet; the mean runs over the triplets with a positive loss
      (0 when there is none). ``"none"``: shape ``(B, B, B)`` indexed ``[a, p, n]``, 0 for a
      triplet that is not valid, O(B^3) memory. ``"mean"`` and ``"sum"`` never build that
      tensor: with the hinge, each anchor's negative distances are sorted once and every
      positive pair finds its active negatives (:math:`d_{an} < d_{ap} + m`) and their loss sum
      by a binary search and a prefix sum (O(B^2) memory, O(B^2 \log B) time); with
      ``soft_margin``, the triplets are streamed over chunks of anchors with an analytic backward
      that recomputes each chunk (O(B^2) memory, O(B^3) time).
    * ``"semi_hard"`` (FaceNet, as TensorFlow Addons' ``triplet_semihard_loss``): for every
      positive pair :math:`(a, p)` whose anchor has a negative, the closest negative farther than
      the positive, :math:`\min\{d_{an} : d_{an} > d_{ap}\}`, or when none is farther the
      farthest negative; the mean runs over those positive pairs. ``"none"``: shape ``(B, B)``
      indexed ``[a, p]``, 0 where p is not a positive of a. Memory O(B^2): each anchor's negative
      distances are sorted once and searched (no ``(B, B, B)`` tensor).

    Anchors without a positive or a negative are skipped; a batch with no valid triplet gives 0.0
    with zero gradients. Mining is vectorised over the ``(B, B)`` distance matrix with masks (no
    loop over anchors, no host synchronisation): it compiles with ``fullgraph=True``.

    Distances (see the module docstring for their floors): ``"batch_all"`` and ``"semi_hard"``
    differentiate the ``(B, B)`` matrix computed with one matrix product, whose Euclidean
    distances lose about :math:`10^{-7} \lVert x \rVert^2` to cancellation in float32, so the
    gradient of a pair of near-identical embeddings is approximate (but finite).
    ``"batch_hard"`` mines on that matrix without gradient and recomputes the two chosen
    distances per anchor from the embedding rows: exact, and its backward keeps O(B D).

    Args:
        embeddings: ``(B, D)`` floating embeddings.
        labels: ``(B,)`` integer (or bool) class labels.
        margin: :math:`m \ge 0`. Default 0.2.
        mining: ``"batch_hard"`` (default), ``"batch_all"`` or ``"semi_hard"``.
        distance: ``"euclidean"`` (default), ``"squared_euclidean"`` or ``"cosine"``.
        soft_margin: the softplus form instead of the hinge. Default ``False``.
        sync: with an initialised ``torch.distributed`` process group, gather the embeddings and
            labels of every rank (autograd-aware) first, so that K ranks with B samples each
            compute, on every rank, the loss of one process with K*B samples (each rank's
            gradient for its shard is then K times the single-process one: DDP's convention).
            ``"none"`` then has K*B in place of B. A no-op without a process group.
            Default ``False``.
        process_group: the group to gather over (default: the world).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shapes above).

    References:
        A. Hermans, L. Beyer, B. Leibe, "In Defense of the Triplet Loss for Person
        Re-Identification", 2017, arXiv:1703.07737. F. Schroff, D. Kalenichenko, J. Philbin,
        "FaceNet: A Unified Embedding for Face Recognition and Clustering", CVPR 2015,
        arXiv:1503.03832.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> x = torch.tensor([[0.0], [1.0], [1.5], [3.0]])
        >>> labels = torch.tensor([0, 0, 1, 1])
        >>> VF.batch_triplet_loss(x, labels, margin=1.0, reduction="none")
        tensor([0.5000, 1.5000, 2.0000, 0.5000])
        >>> VF.batch_triplet_loss(x, labels, margin=1.0, mining="batch_all")
        tensor(1.1000)
        >>> VF.batch_triplet_loss(x, labels, margin=1.0, mining="semi_hard")
        tensor(0.5000)
    """
    opts = BatchTripletOptions(
        margin=margin,
        mining=mining,
        distance=distance,
        soft_margin=soft_margin,
        sync=sync,
        process_group=process_group,
        reduction=reduction,
    )
    return _batch_triplet(embeddings, labels, opts)


def _batch_triplet(embeddings: Tensor, labels: Tensor, opts: BatchTripletOptions) -> Tensor:
    check_rows(embeddings, "embeddings")
    check_labels(labels, embeddings.shape[0])
    embeddings = embeddings.to(compute_dtype(embeddings))

    sync, group = opts.sync, opts.process_group
    if is_synced(sync, group):
        embeddings, _ = gather_cat(embeddings, sync=sync, process_group=group)
        labels, _ = gather_cat(labels.long(), sync=sync, process_group=group)

    if embeddings.shape[0] == 0:
        # a static shape, not data: an empty batch gives an empty unreduced loss tied to the graph
        shape = (0,) * _NONE_RANK[opts.mining]
        loss = embeddings.new_zeros(shape) + embeddings.sum()
        return reduce_loss(loss, opts.reduction)
    if opts.mining == "batch_all" and opts.reduction != "none":
        # streamed: the sum and the count of the (B, B, B) form without materialising it
        total, count = _batch_all_sums(embeddings, labels, opts)
        if opts.reduction == "sum":
            return total
        # reduce_loss's mean over the valid elements: 0 with zero gradients when none counts
        return total / torch.where(count > 0, count, torch.ones_like(count))
    loss, valid = _MINING[opts.mining](embeddings, labels, opts)
    return reduce_loss(loss, opts.reduction, valid=valid)


def contrastive_loss(
    x1: Tensor,
    x2: Tensor,
    same: Tensor,
    *,
    margin: float = 1.0,
    distance: Distance = "euclidean",
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Contrastive loss on pairs of embeddings: pull similar pairs together, push others apart.

    .. math::
        \ell_i = \tfrac12 \left[ y_i\, d_i^2 + (1 - y_i) \max(0, m - d_i)^2 \right],
        \qquad d_i = d(x_{1,i}, x_{2,i})

    :math:`y_i = 1` for a similar pair. For ``"euclidean"`` the similar term uses the exact
    squared distance (smooth at 0) and the dissimilar term the floored distance of the module
    docstring (so identical embeddings of a dissimilar pair give a finite gradient). For the
    other distances :math:`d` is the distance itself (``"squared_euclidean"`` then squares a
    squared distance, as the formula says).

    Args:
        x1: ``(N, D)`` floating embeddings.
        x2: ``(N, D)``, the other member of each pair.
        same: ``(N,)`` bool or 0/1 integers, true for a similar pair; a floating ``same`` in
            :math:`[0, 1]` interpolates between the two terms.
        margin: :math:`m \ge 0`. Default 1.0.
        distance: ``"euclidean"`` (default), ``"squared_euclidean"`` or ``"cosine"``.
        weight: optional non-negative ``(N,)`` tensor (a weight per pair).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(N,)``).

    References:
        R. Hadsell, S. Chopra, Y. LeCun, "Dimensionality Reduction by Learning an Invariant
        Mapping", CVPR 2006.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> x1 = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
        >>> x2 = torch.tensor([[0.6, 0.8], [0.3, 0.4]])
        >>> VF.contrastive_loss(x1, x2, torch.tensor([True, False]), reduction="none")
        tensor([0.5000, 0.1250])
    """
    opts = ContrastiveOptions(margin=margin, distance=distance, reduction=reduction)
    return _contrastive(x1, x2, same, opts, weight)


def _contrastive(
    x1: Tensor, x2: Tensor, same: Tensor, opts: ContrastiveOptions, weight: Tensor | None
) -> Tensor:
    check_rows(x1, "x1")
    check_floating(x2, "x2")
    check_same_shape(x1, x2, "x1", "x2")
    check_tensor(same, "same")
    if same.shape != (x1.shape[0],):
        raise ValueError(
            f"same: expected shape ({x1.shape[0]},), one flag per pair, got {tuple(same.shape)}"
        )
    if same.is_floating_point():
        check_probabilities(same, "same")
    elif same.dtype != torch.bool:
        check_class_ids(same, 2, None, name="same")
    dtype = compute_dtype(x1, x2)
    x1, x2, y = x1.to(dtype), x2.to(dtype), same.to(dtype)

    if opts.distance == "euclidean":
        squared = _paired_distance(x1, x2, "squared_euclidean")
        d = _safe_sqrt(squared)
    else:
        d = _paired_distance(x1, x2, opts.distance)
        squared = d.square()
    loss = 0.5 * (y * squared + (1 - y) * F.relu(opts.margin - d).square())
    return reduce_loss(loss, opts.reduction, weight=weight)


# --- Modules: documented by their spec, forward is one call to the core -------------------------


class TripletMarginLoss(LossModule):
    def forward(
        self, anchor: Tensor, positive: Tensor, negative: Tensor, weight: Tensor | None = None
    ) -> Tensor:
        """anchor, positive, negative: ``(N, D)`` embeddings; weight: optional ``(N,)``."""
        return _triplet_margin(anchor, positive, negative, self.opts, weight)


class BatchTripletLoss(LossModule):
    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """embeddings: ``(B, D)``; labels: ``(B,)`` integer class labels."""
        return _batch_triplet(embeddings, labels, self.opts)


class ContrastiveLoss(LossModule):
    def forward(self, x1: Tensor, x2: Tensor, same: Tensor, weight: Tensor | None = None) -> Tensor:
        """x1, x2: ``(N, D)`` pairs of embeddings; same: ``(N,)`` flags; weight: optional ``(N,)``."""
        return _contrastive(x1, x2, same, self.opts, weight)


# --- the family's catalogue -----------------------------------------------------------------------

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "triplet_margin", triplet_margin_loss, TripletMarginLoss, TripletMarginOptions, "embedding",
        summary="Triplet margin loss on given (anchor, positive, negative) rows; defaults equal "
        "torch's F.triplet_margin_loss.",
        formula=r"\max\left(0,\; d(a, p) - d(a, n) + m\right)",
        paper="K. Q. Weinberger, L. K. Saul, Distance Metric Learning for Large Margin Nearest "
        "Neighbor Classification, JMLR 2009",
    ),
    LossSpec(
        "batch_triplet", batch_triplet_loss, BatchTripletLoss, BatchTripletOptions, "embedding",
        summary="Triplet loss mined inside a labelled batch: batch-hard, batch-all or semi-hard.",
        formula=r"\max\left(0,\; \max_p d(a, p) - \min_n d(a, n) + m\right)",
        paper="A. Hermans, L. Beyer, B. Leibe, In Defense of the Triplet Loss for Person "
        "Re-Identification, 2017, arXiv:1703.07737",
    ),
    LossSpec(
        "contrastive", contrastive_loss, ContrastiveLoss, ContrastiveOptions, "embedding",
        summary="Pull similar pairs together, push dissimilar pairs beyond a margin.",
        formula=r"\tfrac12\left[y\, d^2 + (1 - y)\max(0, m - d)^2\right]",
        paper="R. Hadsell, S. Chopra, Y. LeCun, Dimensionality Reduction by Learning an Invariant "
        "Mapping, CVPR 2006",
    ),
    *_CONTRASTIVE_SPECS,
    *_CLIP_SPECS,
)
