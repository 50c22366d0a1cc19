"""Softmax embedding losses on cosine similarities: NT-Xent (SimCLR / InfoNCE), supervised
contrastive, multi-similarity, and the margin softmaxes ArcFace and CosFace.

NT-Xent and SupCon compare every pair of a batch by cosine similarity divided by a temperature
and take a softmax over each row of that ``(B, B)`` matrix, the row's own entry left out. ArcFace
and CosFace compare each embedding with ``C`` class centres and take a softmax over the classes
with a margin on the true class. They are re-exported (and their specs listed) by
:mod:`visionloss.losses.embedding`. Half and bfloat16 inputs are computed in float32; the result
is float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Reduction,
    autocast_off,
    check_class_ids,
    check_flag,
    check_floating,
    check_number,
    check_same_shape,
    compute_dtype,
    reduce_loss,
)
from ..distributed import gather_cat, is_synced
from ._embedding_inputs import NORM_EPS, check_labels, check_rows

__all__ = [
    "ArcFaceLoss",
    "ArcFaceOptions",
    "CosFaceLoss",
    "CosFaceOptions",
    "MultiSimilarityLoss",
    "MultiSimilarityOptions",
    "NTXentLoss",
    "NTXentOptions",
    "SPECS",
    "SupervisedContrastiveLoss",
    "SupervisedContrastiveOptions",
    "arcface_loss",
    "cosface_loss",
    "multi_similarity_loss",
    "nt_xent_loss",
    "supervised_contrastive_loss",
]


def _scaled_cosine(x: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """``(B, B)`` cosine similarities over ``temperature`` and the ``(B, B)`` not-self mask."""
    unit = F.normalize(x, dim=1, eps=NORM_EPS)
    with autocast_off(x):  # the product in the compute dtype, not autocast's bfloat16
        logits = (unit @ unit.T) / temperature
    index = torch.arange(x.shape[0], device=x.device)
    return logits, index[:, None] != index[None, :]


def _log_denominator(logits: Tensor, others: Tensor) -> Tensor:
    """``(B,)`` log-sum-exp of each row over the other rows (the row's own entry left out).

    ``where`` with ``-inf`` rather than a subtraction: the own entry gets an exact zero weight
    and zero gradient; logsumexp subtracts the row maximum itself, so any temperature is stable.
    """
    masked = torch.where(others, logits, torch.full_like(logits, float("-inf")))
    return torch.logsumexp(masked, dim=1)


# --- options ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NTXentOptions(LossOptions):
    temperature: float = 0.5
    sync: bool = False
    process_group: object | None = None

    def validate(self) -> None:
        check_number(self.temperature, "temperature", low=0.0, low_inclusive=False)
        check_flag(self.sync, "sync")


@dataclass(frozen=True, kw_only=True)
class SupervisedContrastiveOptions(LossOptions):
    temperature: float = 0.1

    def validate(self) -> None:
        check_number(self.temperature, "temperature", low=0.0, low_inclusive=False)


@dataclass(frozen=True, kw_only=True)
class MultiSimilarityOptions(LossOptions):
    alpha: float = 2.0
    beta: float = 50.0
    base: float = 0.5
    epsilon: float = 0.1
    mining: bool = True

    def validate(self) -> None:
        check_number(self.alpha, "alpha", low=0.0, low_inclusive=False)
        check_number(self.beta, "beta", low=0.0, low_inclusive=False)
        check_number(self.base, "base", low=-1.0, high=1.0)
        check_number(self.epsilon, "epsilon", low=0.0)
        check_flag(self.mining, "mining")


@dataclass(frozen=True, kw_only=True)
class _MarginOptions(LossOptions):
    margin: float
    scale: float = 64.0
    num_classes: int | None = None
    embedding_dim: int | None = None

    def validate(self) -> None:
        check_number(self.margin, "margin", low=0.0)
        check_number(self.scale, "scale", low=0.0, low_inclusive=False)
        for name in ("num_classes", "embedding_dim"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{name}: expected a positive int or None, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class ArcFaceOptions(_MarginOptions):
    margin: float = 0.5

    def validate(self) -> None:
        super().validate()
        check_number(self.margin, "margin", low=0.0, high=math.pi / 2)


@dataclass(frozen=True, kw_only=True)
class CosFaceOptions(_MarginOptions):
    margin: float = 0.35


# --- NT-Xent ---------------------------------------------------------------------------------------


def nt_xent_loss(
    z1: Tensor,
    z2: Tensor,
    *,
    temperature: float = 0.5,
    sync: bool = False,
    process_group: object | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""NT-Xent (SimCLR's normalised temperature-scaled cross-entropy, a form of InfoNCE).

    The two views are stacked, :math:`z = [z_1; z_2]` (:math:`2N` rows), and each row's positive
    is the other view of the same sample, :math:`p(i) = i \pm N`. With the cosine similarity
    :math:`s_{ij} = z_i^\top z_j / (\lVert z_i \rVert \lVert z_j \rVert)` (norms floored at
    ``1e-8``) and the temperature :math:`\tau`:

    .. math::
        \ell_i = -\log \frac{\exp(s_{i,p(i)} / \tau)}{\sum_{k \ne i} \exp(s_{ik} / \tau)}

    a :math:`(2N - 1)`-way softmax over the positive and the :math:`2N - 2` negatives (every
    other row of both views). ``"none"`` gives the :math:`2N` values in the order of :math:`z`
    (the rows of ``z1``, then those of ``z2``); ``"mean"`` is SimCLR's average over the
    :math:`2N` rows. An empty batch gives 0.0.

    pytorch-metric-learning's ``NTXentLoss(temperature=t)(torch.cat([z1, z2]),
    torch.arange(N).repeat(2))`` is the same mean (its default temperature is 0.07, ours
    SimCLR's 0.5); it adds ``1e-45``-scale ``small_val`` inside its logarithm (a difference below
    float32 resolution for any loss that is not about 100).

    Args:
        z1: ``(N, D)`` floating embeddings of the first view (the projection head's output).
        z2: ``(N, D)``, the second view of the same N samples, same order.
        temperature: :math:`\tau > 0`. Default 0.5.
        sync: with an initialised ``torch.distributed`` process group, gather both views from
            every rank (autograd-aware, ranks may hold different N) first, so that the negatives
            come from the global batch: every rank computes the loss of one process with the
            concatenated batch (the views of rank 0, then rank 1, ...), and each rank's rows get
            the gradients of every rank's loss (K times the single-process gradient with K ranks:
            DDP's convention). ``"none"`` then has :math:`2 \sum_r N_r` values (the global first
            views, then the global second views). A no-op without a process group.
            Default ``False``.
        process_group: the group to gather over (default: the world).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(2N,)``).

    References:
        T. Chen, S. Kornblith, M. Norouzi, G. Hinton, "A Simple Framework for Contrastive
        Learning of Visual Representations", ICML 2020, arXiv:2002.05709. A. van den Oord, Y. Li,
        O. Vinyals, "Representation Learning with Contrastive Predictive Coding", 2018,
        arXiv:1807.03748.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> VF.nt_xent_loss(z1, z1.clone(), temperature=1.0, reduction="none")
        tensor([0.5514, 0.5514, 0.5514, 0.5514])
    """
    opts = NTXentOptions(
        temperature=temperature, sync=sync, process_group=process_group, reduction=reduction
    )
    return _nt_xent(z1, z2, opts)


def _nt_xent(z1: Tensor, z2: Tensor, opts: NTXentOptions) -> Tensor:
    check_rows(z1, "z1")
    check_floating(z2, "z2")
    check_same_shape(z1, z2, "z1", "z2")
    dtype = compute_dtype(z1, z2)
    z1, z2 = z1.to(dtype), z2.to(dtype)
    if is_synced(opts.sync, opts.process_group):
        z1, _ = gather_cat(z1, sync=opts.sync, process_group=opts.process_group)
        z2, _ = gather_cat(z2, sync=opts.sync, process_group=opts.process_group)

    n = z1.shape[0]
    z = torch.cat([z1, z2], dim=0)
    logits, others = _scaled_cosine(z, opts.temperature)
    # the positive of row i is row i + N (first view) or i - N (second view)
    partner = torch.arange(2 * n, device=z.device).roll(n)
    positive = logits.gather(1, partner[:, None]).squeeze(1)
    loss = _log_denominator(logits, others) - positive
    return reduce_loss(loss, opts.reduction)


# --- supervised contrastive ------------------------------------------------------------------------


def supervised_contrastive_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    temperature: float = 0.1,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Supervised contrastive loss (SupCon, the :math:`\mathcal{L}^{sup}_{out}` form).

    Every sample of the same label is a positive. With the cosine similarities :math:`s_{ij}`
    (norms floored at ``1e-8``), :math:`P(i)` the other rows with :math:`i`'s label and
    :math:`A(i)` every other row:

    .. math::
        \ell_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)}
        \log \frac{\exp(s_{ip} / \tau)}{\sum_{a \in A(i)} \exp(s_{ia} / \tau)}

    (the average of the log-probabilities outside the logarithm: Khosla et al.'s "out" form,
    the better one in their table 2). An anchor without a positive is skipped: 0 in ``"none"``
    and left out of the mean; a batch where no anchor has a positive gives 0.0 with zero
    gradients. For several views per sample, concatenate the views and repeat the labels.

    Differences from the references: the authors' code multiplies the loss by
    ``temperature / base_temperature`` (0.07), which only rescales it (not done here);
    pytorch-metric-learning's ``SupConLoss`` averages with ``AvgNonZeroReducer`` (the anchors
    with a nonzero loss, which are those with a positive except in a degenerate tie) and adds
    ``small_val`` to :math:`|P(i)|`: the same value as ours to float precision.

    Args:
        embeddings: ``(B, D)`` floating embeddings.
        labels: ``(B,)`` integer (or bool) class labels.
        temperature: :math:`\tau > 0`. Default 0.1 (as pytorch-metric-learning; the paper
            trains with 0.1).
        reduction: ``"mean"`` (default; over the anchors with a positive), ``"sum"`` or
            ``"none"`` (shape ``(B,)``).

    References:
        P. Khosla, P. Teterwak, C. Wang, A. Sarna, Y. Tian, P. Isola, A. Maschinot, C. Liu,
        D. Krishnan, "Supervised Contrastive Learning", NeurIPS 2020, arXiv:2004.11362.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> VF.supervised_contrastive_loss(x, torch.tensor([0, 0, 1]), temperature=1.0,
        ...                                reduction="none")
        tensor([0.3133, 0.3133, 0.0000])
    """
    opts = SupervisedContrastiveOptions(temperature=temperature, reduction=reduction)
    return _supervised_contrastive(embeddings, labels, opts)


def _supervised_contrastive(
    embeddings: Tensor, labels: Tensor, opts: SupervisedContrastiveOptions
) -> Tensor:
    check_rows(embeddings, "embeddings")
    check_labels(labels, embeddings.shape[0])
    x = embeddings.to(compute_dtype(embeddings))
    logits, others = _scaled_cosine(x, opts.temperature)
    positive = (labels[:, None] == labels[None, :]) & others
    count = positive.sum(dim=1)
    valid = count > 0
    # mean over P(i) of s_ip, then minus the log-denominator (the same for every p of a row)
    pos_sum = torch.where(positive, logits, torch.zeros_like(logits)).sum(dim=1)
    pos_mean = pos_sum / torch.clamp(count, min=1).to(logits.dtype)
    loss = _log_denominator(logits, others) - pos_mean
    # an anchor alone in its class (or in the batch: log-sum-exp of nothing is -inf) is skipped
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    return reduce_loss(loss, opts.reduction, valid=valid)


# --- multi-similarity ------------------------------------------------------------------------------


def multi_similarity_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    alpha: float = 2.0,
    beta: float = 50.0,
    base: float = 0.5,
    epsilon: float = 0.1,
    mining: bool = True,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Multi-similarity loss: soft weighting of every positive and negative pair of a batch.

    With the cosine similarities :math:`S_{ik}` (norms floored at ``1e-8``), :math:`P_i` the
    other rows with :math:`i`'s label and :math:`N_i` the rows with another label:

    .. math::
        \ell_i = \frac{1}{\alpha} \log\Big(1 + \sum_{k \in P_i} e^{-\alpha (S_{ik} - \lambda)}\Big)
        + \frac{1}{\beta} \log\Big(1 + \sum_{k \in N_i} e^{\beta (S_{ik} - \lambda)}\Big)

    With ``mining`` (the paper's pair mining, step 1), only the informative pairs enter the sums:
    a negative with :math:`S_{in} + \epsilon > \min_{p} S_{ip}` and a positive with
    :math:`S_{ip} - \epsilon < \max_{n} S_{in}` (an anchor without a positive keeps no negative,
    one without a negative keeps no positive). The selection is made on the similarities
    without gradient; an empty sum contributes 0. ``"mean"`` averages over every anchor (the
    paper's :math:`\frac1m \sum_i`; anchors with no pair count as 0); ``"none"`` has shape
    ``(B,)``.

    pytorch-metric-learning splits it: ``MultiSimilarityLoss(alpha, beta, base)`` is the loss
    on every pair (our ``mining=False``) and ``MultiSimilarityMiner(epsilon)`` the mining; the
    two together equal ours with ``mining=True``. The defaults are the paper's :math:`\alpha = 2`,
    :math:`\beta = 50`, :math:`\epsilon = 0.1` and the authors' code's :math:`\lambda = 0.5`
    (pml's ``base``).

    Args:
        embeddings: ``(B, D)`` floating embeddings.
        labels: ``(B,)`` integer (or bool) class labels.
        alpha: :math:`\alpha > 0`, the positives' scale. Default 2.
        beta: :math:`\beta > 0`, the negatives' scale. Default 50.
        base: :math:`\lambda \in [-1, 1]`, the similarity margin. Default 0.5.
        epsilon: :math:`\epsilon \ge 0`, the mining margin. Default 0.1.
        mining: mine the pairs first. Default ``True``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(B,)``).

    References:
        X. Wang, X. Han, W. Huang, D. Dong, M. R. Scott, "Multi-Similarity Loss with General
        Pair Weighting for Deep Metric Learning", CVPR 2019, arXiv:1904.06627.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> VF.multi_similarity_loss(x, torch.tensor([0, 0, 1]), alpha=1.0, beta=1.0,
        ...                          base=0.0, mining=False, reduction="none")
        tensor([1.0064, 1.0064, 1.0986])
    """
    opts = MultiSimilarityOptions(
        alpha=alpha, beta=beta, base=base, epsilon=epsilon, mining=mining, reduction=reduction
    )
    return _multi_similarity(embeddings, labels, opts)


def _log1p_sum_exp(x: Tensor, keep: Tensor) -> Tensor:
    """``log(1 + sum_{keep} exp(x))`` per row: the 1 as an extra zero column of a logsumexp, so
    an empty row gives exactly 0 with zero gradient (no ``-inf`` anywhere in the backward)."""
    masked = torch.where(keep, x, torch.full_like(x, float("-inf")))
    return torch.logsumexp(torch.cat([masked, torch.zeros_like(x[:, :1])], dim=1), dim=1)


def _multi_similarity(embeddings: Tensor, labels: Tensor, opts: MultiSimilarityOptions) -> Tensor:
    check_rows(embeddings, "embeddings")
    check_labels(labels, embeddings.shape[0])
    x = embeddings.to(compute_dtype(embeddings))
    sim, others = _scaled_cosine(x, 1.0)
    same = labels[:, None] == labels[None, :]
    positive, negative = same & others, ~same
    if opts.mining:
        s = sim.detach()
        inf = torch.full_like(s, float("inf"))
        # one extra +-inf column: the reduction is defined for an anchor with no such pair and
        # for an empty batch (amax over a dim of size 0 raises)
        pad = s.new_full((s.shape[0], 1), float("inf"))
        hardest_negative = torch.cat([torch.where(negative, s, -inf), -pad], dim=1).amax(
            dim=1, keepdim=True
        )
        hardest_positive = torch.cat([torch.where(positive, s, inf), pad], dim=1).amin(
            dim=1, keepdim=True
        )
        positive = positive & (s - opts.epsilon < hardest_negative)
        negative = negative & (s + opts.epsilon > hardest_positive)
    pos = _log1p_sum_exp(-opts.alpha * (sim - opts.base), positive) / opts.alpha
    neg = _log1p_sum_exp(opts.beta * (sim - opts.base), negative) / opts.beta
    # a NaN similarity fails every mining comparison and would silently drop out: propagate it
    nan = torch.where(others & sim.isnan(), sim, torch.zeros_like(sim)).sum(dim=1)
    return reduce_loss(pos + neg + nan, opts.reduction)


# --- ArcFace and CosFace ---------------------------------------------------------------------------

# ArcFace takes arccos of the target cosine. arccos'(c) = -1 / sqrt(1 - c^2) is infinite at
# c = +-1 (an embedding exactly on its centre, or opposite), and 0 * inf = NaN in the backward
# even where the value is fine: the cosine is clamped to [-1 + 1e-6, 1 - 1e-6] first, bounding
# that factor by 1 / sqrt(2e-6) ~ 707 (the clamp's own gradient is 0 beyond it, so a sample sitting
# exactly on its centre gets no gradient from the target term, which is its optimum anyway).
# 1e-6 rather than 1e-7: 1 - 1e-7 rounds to the float32 next to 1, where the bound is ~2900.
_ACOS_CLAMP = 1e-6


def _class_cosine(embeddings: Tensor, labels: Tensor, centers: Tensor, opts: _MarginOptions
                  ) -> tuple[Tensor, Tensor]:
    """``(B, C)`` cosines between embeddings and centres and the ``(B, C)`` one-hot of labels."""
    check_rows(embeddings, "embeddings")
    check_rows(centers, "centers")
    b, d = embeddings.shape
    c = centers.shape[0]
    if centers.shape[1] != d:
        raise ValueError(
            f"centers: expected shape (C, {d}), the embedding dimension of embeddings, "
            f"got {tuple(centers.shape)}"
        )
    check_labels(labels, b)
    check_class_ids(labels, c, None, name="labels")
    dtype = compute_dtype(embeddings, centers)
    unit = F.normalize(embeddings.to(dtype), dim=1, eps=NORM_EPS)
    unit_centers = F.normalize(centers.to(dtype), dim=1, eps=NORM_EPS)
    with autocast_off(unit):
        cosine = unit @ unit_centers.T
    # a comparison rather than F.one_hot, which needs C as a Python int (a recompilation per C)
    onehot = labels[:, None] == torch.arange(c, device=labels.device)
    return cosine, onehot


def _margin_softmax(cosine: Tensor, onehot: Tensor, target: Tensor, opts: _MarginOptions
                    ) -> Tensor:
    logits = opts.scale * torch.where(onehot, target, cosine)
    # cross-entropy against the one-hot: logsumexp minus the target logit (no class-id gather,
    # so it batches under vmap and keeps NaN)
    target_logit = torch.where(onehot, logits, torch.zeros_like(logits)).sum(dim=1)
    loss = torch.logsumexp(logits, dim=1) - target_logit
    return reduce_loss(loss, opts.reduction)


def arcface_loss(
    embeddings: Tensor,
    labels: Tensor,
    centers: Tensor,
    *,
    margin: float = 0.5,
    scale: float = 64.0,
    num_classes: int | None = None,
    embedding_dim: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""ArcFace: softmax over the classes with an additive angular margin on the true class.

    With :math:`\theta_{ij}` the angle between embedding :math:`i` and centre :math:`j`
    (both normalised; norms floored at ``1e-8``), the logits are :math:`s \cos\theta_{ij}`
    except the true class's, :math:`s \cos(\theta_{iy_i} + m)`:

    .. math::
        \ell_i = -\log \frac{e^{s \cos(\theta_{iy_i} + m)}}
        {e^{s \cos(\theta_{iy_i} + m)} + \sum_{j \ne y_i} e^{s \cos\theta_{ij}}}

    Where :math:`\theta + m > \pi` the target logit would rise again with the angle, so there
    (as InsightFace and pytorch-metric-learning) it is :math:`\cos\theta - m \sin m` instead.
    The target cosine is clamped to :math:`[-1 + 10^{-6}, 1 - 10^{-6}]` before the arccos
    (its derivative is infinite at :math:`\pm 1`). ``"none"`` has shape ``(B,)``.

    The function takes the class centres as an argument; the Module form,
    ``ArcFaceLoss(num_classes=C, embedding_dim=D)``, owns them as an ``nn.Parameter`` (trained
    with the network: give the loss's parameters to the optimizer). ``num_classes`` and
    ``embedding_dim`` are then required; the function accepts them (one options object for
    both forms) but does not use them: ``centers``' own shape counts.

    pytorch-metric-learning's ``ArcFaceLoss(C, D, margin=degrees, scale=s)`` is the same mean
    with its weight ``W`` of shape ``(D, C)`` (``centers = W.T``) and its margin in degrees
    (default 28.6, about our 0.5 rad); it clamps the cosine to :math:`[-1, 1]` only.

    Args:
        embeddings: ``(B, D)`` floating embeddings.
        labels: ``(B,)`` integer class ids in ``[0, C)``.
        centers: ``(C, D)`` class centres (the last layer's weight, one row per class).
        margin: :math:`m` in radians, in :math:`[0, \pi/2]`. Default 0.5.
        scale: :math:`s > 0`. Default 64.
        num_classes: ``C``, required by the Module to build its centres; unused here.
        embedding_dim: ``D``, required by the Module to build its centres; unused here.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(B,)``).

    References:
        J. Deng, J. Guo, N. Xue, S. Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep
        Face Recognition", CVPR 2019, arXiv:1801.07698.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> centers = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> VF.arcface_loss(x, torch.tensor([0]), centers, margin=0.0, scale=1.0)
        tensor(0.3133)
    """
    opts = ArcFaceOptions(margin=margin, scale=scale, num_classes=num_classes,
                          embedding_dim=embedding_dim, reduction=reduction)
    return _arcface(embeddings, labels, centers, opts)


def _arcface(embeddings: Tensor, labels: Tensor, centers: Tensor, opts: ArcFaceOptions
             ) -> Tensor:
    cosine, onehot = _class_cosine(embeddings, labels, centers, opts)
    m = opts.margin
    theta = torch.acos(cosine.clamp(-1 + _ACOS_CLAMP, 1 - _ACOS_CLAMP))
    # beyond theta = pi - m, cos(theta + m) would increase with theta: the linear fallback
    target = torch.where(theta <= math.pi - m, torch.cos(theta + m), cosine - m * math.sin(m))
    return _margin_softmax(cosine, onehot, target, opts)


def cosface_loss(
    embeddings: Tensor,
    labels: Tensor,
    centers: Tensor,
    *,
    margin: float = 0.35,
    scale: float = 64.0,
    num_classes: int | None = None,
    embedding_dim: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""CosFace (large margin cosine loss): softmax over the classes with the true class's cosine
    lowered by a margin.

    With :math:`\cos\theta_{ij}` the cosine between embedding :math:`i` and centre :math:`j`
    (norms floored at ``1e-8``):

    .. math::
        \ell_i = -\log \frac{e^{s (\cos\theta_{iy_i} - m)}}
        {e^{s (\cos\theta_{iy_i} - m)} + \sum_{j \ne y_i} e^{s \cos\theta_{ij}}}

    No arccos: smooth everywhere. ``"none"`` has shape ``(B,)``. The centres are an argument
    here and a Parameter of the Module form ``CosFaceLoss(num_classes=C, embedding_dim=D)``, as
    in :func:`arcface_loss`. pytorch-metric-learning's ``CosFaceLoss(C, D, margin=m, scale=s)``
    is the same mean with ``centers = W.T``.

    Args:
        embeddings: ``(B, D)`` floating embeddings.
        labels: ``(B,)`` integer class ids in ``[0, C)``.
        centers: ``(C, D)`` class centres.
        margin: :math:`m \ge 0`. Default 0.35.
        scale: :math:`s > 0`. Default 64.
        num_classes: ``C``, required by the Module to build its centres; unused here.
        embedding_dim: ``D``, required by the Module to build its centres; unused here.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(B,)``).

    References:
        H. Wang, Y. Wang, Z. Zhou, X. Ji, D. Gong, J. Zhou, Z. Li, W. Liu, "CosFace: Large
        Margin Cosine Loss for Deep Face Recognition", CVPR 2018, arXiv:1801.09414.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> centers = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> VF.cosface_loss(x, torch.tensor([0]), centers, margin=1.0, scale=1.0)
        tensor(0.6931)
    """
    opts = CosFaceOptions(margin=margin, scale=scale, num_classes=num_classes,
                          embedding_dim=embedding_dim, reduction=reduction)
    return _cosface(embeddings, labels, centers, opts)


def _cosface(embeddings: Tensor, labels: Tensor, centers: Tensor, opts: CosFaceOptions
             ) -> Tensor:
    cosine, onehot = _class_cosine(embeddings, labels, centers, opts)
    return _margin_softmax(cosine, onehot, cosine - opts.margin, opts)


# --- Modules ---------------------------------------------------------------------------------------


class NTXentLoss(LossModule):
    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        """z1, z2: ``(N, D)`` embeddings of two views of the same N samples."""
        return _nt_xent(z1, z2, self.opts)


class SupervisedContrastiveLoss(LossModule):
    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """embeddings: ``(B, D)``; labels: ``(B,)`` integer class labels."""
        return _supervised_contrastive(embeddings, labels, self.opts)


class MultiSimilarityLoss(LossModule):
    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """embeddings: ``(B, D)``; labels: ``(B,)`` integer class labels."""
        return _multi_similarity(embeddings, labels, self.opts)


class _MarginModule(LossModule):
    """The class centres are the Module's state, not an option: an option is configuration that
    the function takes too, while the function takes the centres as data. So ``__init__`` lets
    :class:`LossModule` build and check the options (``num_classes``, ``embedding_dim`` among
    them), then registers ``centers`` as a ``(C, D)`` ``nn.Parameter`` (Xavier-uniform, as
    pytorch-metric-learning): it follows ``.to()``, ``state_dict`` and the optimizer as any
    layer's weight."""

    centers: nn.Parameter
    required_options = ("num_classes", "embedding_dim")

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)  # checks that num_classes and embedding_dim are given
        c, d = self.opts.num_classes, self.opts.embedding_dim
        self.centers = nn.Parameter(nn.init.xavier_uniform_(torch.empty(c, d)))

    def _centers(self, centers: Tensor | None) -> Tensor:
        return self.centers if centers is None else centers


class ArcFaceLoss(_MarginModule):
    def forward(self, embeddings: Tensor, labels: Tensor, centers: Tensor | None = None) -> Tensor:
        """embeddings: ``(B, D)``; labels: ``(B,)``; centers: ``(C, D)``, default the Module's."""
        return _arcface(embeddings, labels, self._centers(centers), self.opts)


class CosFaceLoss(_MarginModule):
    def forward(self, embeddings: Tensor, labels: Tensor, centers: Tensor | None = None) -> Tensor:
        """embeddings: ``(B, D)``; labels: ``(B,)``; centers: ``(C, D)``, default the Module's."""
        return _cosface(embeddings, labels, self._centers(centers), self.opts)



SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "nt_xent", nt_xent_loss, NTXentLoss, NTXentOptions, "embedding",
        summary="SimCLR's NT-Xent / InfoNCE: each view must pick its other view among the "
        "2N - 1 other rows of the batch by temperature-scaled cosine similarity.",
        formula=r"-\log \frac{e^{s_{i,p(i)}/\tau}}{\sum_{k \ne i} e^{s_{ik}/\tau}}",
        paper="T. Chen, S. Kornblith, M. Norouzi, G. Hinton, A Simple Framework for Contrastive "
        "Learning of Visual Representations, ICML 2020, arXiv:2002.05709",
    ),
    LossSpec(
        "supervised_contrastive", supervised_contrastive_loss, SupervisedContrastiveLoss,
        SupervisedContrastiveOptions, "embedding",
        summary="SupCon: NT-Xent with every same-label sample as a positive (the L_out form).",
        formula=r"-\frac{1}{|P(i)|}\sum_{p \in P(i)} \log \frac{e^{s_{ip}/\tau}}"
        r"{\sum_{a \ne i} e^{s_{ia}/\tau}}",
        paper="P. Khosla et al., Supervised Contrastive Learning, NeurIPS 2020, arXiv:2004.11362",
    ),
    LossSpec(
        "arcface", arcface_loss, ArcFaceLoss, ArcFaceOptions, "embedding",
        summary="ArcFace: softmax over class centres with an additive angular margin on the "
        "true class (the Module owns the centres).",
        formula=r"-\log \frac{e^{s\cos(\theta_{y} + m)}}{e^{s\cos(\theta_{y} + m)} + "
        r"\sum_{j \ne y} e^{s\cos\theta_j}}",
        paper="J. Deng, J. Guo, N. Xue, S. Zafeiriou, ArcFace: Additive Angular Margin Loss for "
        "Deep Face Recognition, CVPR 2019, arXiv:1801.07698",
    ),
    LossSpec(
        "cosface", cosface_loss, CosFaceLoss, CosFaceOptions, "embedding",
        summary="CosFace: softmax over class centres with the true class's cosine lowered by a "
        "margin (the Module owns the centres).",
        formula=r"-\log \frac{e^{s(\cos\theta_{y} - m)}}{e^{s(\cos\theta_{y} - m)} + "
        r"\sum_{j \ne y} e^{s\cos\theta_j}}",
        paper="H. Wang et al., CosFace: Large Margin Cosine Loss for Deep Face Recognition, "
        "CVPR 2018, arXiv:1801.09414",
    ),
    LossSpec(
        "multi_similarity", multi_similarity_loss, MultiSimilarityLoss, MultiSimilarityOptions,
        "embedding",
        summary="Multi-similarity: mined positive and negative pairs weighted by soft "
        "log-sum-exp terms of their cosine similarities.",
        formula=r"\tfrac{1}{\alpha}\log\big(1 + \sum_{P_i} e^{-\alpha(S_{ik} - \lambda)}\big) + "
        r"\tfrac{1}{\beta}\log\big(1 + \sum_{N_i} e^{\beta(S_{ik} - \lambda)}\big)",
        paper="X. Wang, X. Han, W. Huang, D. Dong, M. R. Scott, Multi-Similarity Loss with General "
        "Pair Weighting for Deep Metric Learning, CVPR 2019, arXiv:1904.06627",
    ),
)
