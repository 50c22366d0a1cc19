"""Catalogue rows of the classification family, with float64 references written from the formulas.

The references use only elementary ops (``logsumexp``, ``log1p``, ``exp``) and the one-hot of the
class ids, so they are independent of the code under test. Rows keep to options whose "mean" is
the plain mean of the "none" result (no class weights, no ignored targets, no normalisation):
those are in tests/test_classification.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import visionloss
import visionloss.functional as VF

from . import LossCase

C = 4


def _log_softmax(x):
    return x - torch.logsumexp(x, dim=1, keepdim=True)


def _log_sigmoid(x):
    # log sigma(x) = -log(1 + e^-x), written stably for both signs
    return -(torch.clamp(-x, min=0) + torch.log1p(torch.exp(-x.abs())))


def _one_hot(target, like):
    return F.one_hot(target, like.shape[1]).movedim(-1, 1).to(like.dtype)


# --- inputs -------------------------------------------------------------------------------------


def _binary(gen, dtype):
    x = (torch.randn(3, 2, 5, generator=gen, dtype=torch.float64) * 3).to(dtype)
    y = (torch.rand(3, 2, 5, generator=gen) > 0.6).to(dtype)
    return x, y


def _soft(gen, dtype):
    # soft targets away from 0 and 1, so that gradcheck's perturbation stays in [0, 1]
    x = (torch.randn(3, C, 5, generator=gen, dtype=torch.float64) * 3).to(dtype)
    y = (torch.rand(3, C, 5, generator=gen, dtype=torch.float64) * 0.8 + 0.1).to(dtype)
    return x, y


def _probs_input(gen, dtype):
    p = (torch.rand(3, 2, 5, generator=gen, dtype=torch.float64) * 0.9 + 0.05).to(dtype)
    y = torch.rand(3, 2, 5, generator=gen, dtype=torch.float64).to(dtype)
    return p, y


def _ids(gen, dtype):
    x = (torch.randn(3, C, 2, 3, generator=gen, dtype=torch.float64) * 3).to(dtype)
    y = torch.randint(0, C, (3, 2, 3), generator=gen)
    return x, y


def _class_probs(gen, dtype):
    x = (torch.randn(3, C, 5, generator=gen, dtype=torch.float64) * 3).to(dtype)
    y = torch.softmax(torch.randn(3, C, 5, generator=gen, dtype=torch.float64), 1)
    return x, (y * 0.8 + 0.2 / C).to(dtype)


def _empty_pair(dtype):
    return torch.zeros(0, C, dtype=dtype), torch.zeros(0, C, dtype=dtype)


def _empty_ids(dtype):
    return torch.zeros(0, C, 3, dtype=dtype), torch.zeros(0, 3, dtype=torch.long)


def _extreme_binary(dtype):
    big = 65504.0 if dtype == torch.float16 else 1e4
    x = torch.tensor([[big, -big, big, -big, 0.0]], dtype=dtype)
    return x, torch.tensor([[1.0, 0.0, 0.0, 1.0, 1.0]], dtype=dtype)


def _extreme_ids(dtype):
    big = 65504.0 if dtype == torch.float16 else 1e4
    x = torch.tensor([[big, -big, 0.0, -big], [-big, big, big, 0.0]], dtype=dtype)
    return x, torch.tensor([0, 3])


def _same_shape(inputs):
    return tuple(inputs[0].shape)


def _no_class_dim(inputs):
    return (inputs[0].shape[0], *inputs[0].shape[2:])


def _scores(gen, dtype):
    # dense detection: (N, A, C) logits; about half the targets 0 (negatives), the rest IoUs
    x = (torch.randn(3, 5, C, generator=gen, dtype=torch.float64) * 3).to(dtype)
    iou = torch.rand(3, 5, C, generator=gen, dtype=torch.float64) * 0.8 + 0.1
    positive = torch.rand(3, 5, C, generator=gen) > 0.5
    return x, torch.where(positive, iou, 0.0).to(dtype)


def _scores_with_label(gen, dtype):
    x, q = _scores(gen, dtype)
    label = q > 0
    label[0, 0, 0] = True  # a positive of IoU 0: weight 0 with a label, a negative without
    q[0, 0, 0] = 0.0
    return x, q, label


def _soft_scores(gen, dtype):
    x = (torch.randn(3, 5, C, generator=gen, dtype=torch.float64) * 3).to(dtype)
    y = (torch.rand(3, 5, C, generator=gen, dtype=torch.float64) * 0.8 + 0.1).to(dtype)
    return x, y


def _extreme_scores(dtype):
    big = 65504.0 if dtype == torch.float16 else 1e4
    x = torch.tensor([[big, -big, big, -big, 0.0]], dtype=dtype)
    return x, torch.tensor([[1.0, 0.0, 0.0, 0.5, 0.3]], dtype=dtype)


_BINS = 8


def _edges(gen, dtype):
    # (N, A, 4 edges, bins) logits; continuous targets in [0, bins - 1]
    x = (torch.randn(3, 2, 4, _BINS, generator=gen, dtype=torch.float64) * 2).to(dtype)
    y = torch.rand(3, 2, 4, generator=gen, dtype=torch.float64) * (_BINS - 1)
    return x, y.to(dtype)


def _extreme_edges(dtype):
    big = 65504.0 if dtype == torch.float16 else 1e4
    x = torch.full((3, _BINS), -big, dtype=dtype)
    x[:, 0] = big
    return x, torch.tensor([0.0, _BINS - 1.0, 3.5], dtype=dtype)


def _empty_edges(dtype):
    return torch.zeros(0, 4, _BINS, dtype=dtype), torch.zeros(0, 4, dtype=dtype)


def _without_bins(inputs):
    return tuple(inputs[0].shape[:-1])


# --- references ---------------------------------------------------------------------------------


def _bce(x, y, pos_weight=None, label_smoothing=0.0):
    y = y * (1 - label_smoothing) + label_smoothing / 2
    pw = 1.0 if pos_weight is None else pos_weight
    return -(pw * y * _log_sigmoid(x) + (1 - y) * _log_sigmoid(-x))


def _bce_probs(p, y, from_logits):
    return -(y * torch.log(p) + (1 - y) * torch.log1p(-p))


def _ce(x, y, label_smoothing=0.0):
    log_p = _log_softmax(x)
    target = _one_hot(y, x) if not y.is_floating_point() else y
    target = target * (1 - label_smoothing) + label_smoothing / x.shape[1]
    return -(target * log_p).sum(1)


def _sigmoid_focal(x, y, mode="binary", alpha=None, gamma=2.0):
    # torchvision.ops.sigmoid_focal_loss, as written there, with alpha optional
    p = torch.sigmoid(x)
    ce = -(y * _log_sigmoid(x) + (1 - y) * _log_sigmoid(-x))
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


def _softmax_focal(x, y, mode, alpha=None, gamma=2.0):
    log_p = _log_softmax(x)
    target = _one_hot(y, x) if not y.is_floating_point() else y
    a = 1.0 if alpha is None else alpha
    if isinstance(alpha, torch.Tensor):
        a = alpha.to(x.dtype).view(1, -1, *([1] * (x.dim() - 2)))
    return -(a * target * (1 - log_p.exp()) ** gamma * log_p).sum(1)


def _poly1(x, y, epsilon=1.0, label_smoothing=0.0):
    # the paper's code: pt = sum(labels * softmax(logits)); CE + epsilon * (1 - pt)
    target = _one_hot(y, x) if not y.is_floating_point() else y
    target = target * (1 - label_smoothing) + label_smoothing / x.shape[1]
    p_t = (target * torch.softmax(x, 1)).sum(1)
    return -(target * _log_softmax(x)).sum(1) + epsilon * (1 - p_t)


_sigmoid = dict(none_shape=_same_shape, make_empty=_empty_pair)
_ids_common = dict(none_shape=_no_class_dim, make_empty=_empty_ids, make_extreme=_extreme_ids)

def _varifocal(x, q, label=None, alpha=0.75, gamma=2.0):
    positive = q > 0 if label is None else label.bool()
    log_p, log_not_p = _log_sigmoid(x), _log_sigmoid(-x)
    pos = -q * (q * log_p + (1 - q) * log_not_p)
    neg = -alpha * torch.exp(gamma * log_p) * log_not_p
    return torch.where(positive, pos, neg)


def _quality_focal(x, y, beta=2.0):
    log_p, log_not_p = _log_sigmoid(x), _log_sigmoid(-x)
    return -(torch.abs(y - torch.exp(log_p)) ** beta) * ((1 - y) * log_not_p + y * log_p)


def _distribution_focal(x, y):
    # the two-bin target is the triangular kernel max(0, 1 - |i - y|) over the bins i
    bins = torch.arange(x.shape[-1], dtype=x.dtype)
    t = torch.clamp(1 - (bins - y.unsqueeze(-1)).abs(), min=0)
    log_s = x - torch.logsumexp(x, dim=-1, keepdim=True)
    return -(t * log_s).sum(-1)


CASES: list[LossCase] = [
    LossCase(
        "bce",
        VF.binary_cross_entropy,
        visionloss.BCELoss,
        _binary,
        reference=_bce,
        options={"pos_weight": 1.5, "label_smoothing": 0.1},
        make_extreme=_extreme_binary,
        compile=True,
        **_sigmoid,
    ),
    LossCase(
        "bce_probabilities",
        VF.binary_cross_entropy,
        visionloss.BCELoss,
        _probs_input,
        reference=_bce_probs,
        options={"from_logits": False},
        grad_inputs=(0, 1),
        **_sigmoid,
    ),
    LossCase(
        "cross_entropy",
        VF.cross_entropy,
        visionloss.CrossEntropyLoss,
        _ids,
        reference=_ce,
        options={"label_smoothing": 0.1},
        compile=True,
        **_ids_common,
        multiclass=True,
    ),
    LossCase(
        "cross_entropy_probs",
        VF.cross_entropy,
        visionloss.CrossEntropyLoss,
        _class_probs,
        reference=_ce,
        grad_inputs=(0, 1),
        none_shape=_no_class_dim,
        make_empty=_empty_pair,
        multiclass=True,
    ),
    LossCase(
        "focal_binary",
        VF.focal_loss,
        visionloss.FocalLoss,
        _binary,
        reference=_sigmoid_focal,
        options={"mode": "binary", "alpha": 0.25, "gamma": 2.0},
        make_extreme=_extreme_binary,
        compile=True,
        **_sigmoid,
    ),
    LossCase(
        "focal_multilabel_soft",
        VF.focal_loss,
        visionloss.FocalLoss,
        _soft,
        reference=_sigmoid_focal,
        options={"mode": "multilabel", "alpha": 0.6, "gamma": 0.5},
        grad_inputs=(0, 1),
        make_extreme=_extreme_binary,
        **_sigmoid,
    ),
    LossCase(
        "focal_multiclass",
        VF.focal_loss,
        visionloss.FocalLoss,
        _ids,
        reference=_softmax_focal,
        options={"mode": "multiclass", "alpha": torch.tensor([0.1, 0.2, 0.3, 0.4]), "gamma": 1.5},
        compile=True,
        **_ids_common,
    ),
    LossCase(
        "focal_multiclass_probs",
        VF.focal_loss,
        visionloss.FocalLoss,
        _class_probs,
        reference=_softmax_focal,
        options={"mode": "multiclass", "gamma": 2.0},
        grad_inputs=(0, 1),
        none_shape=_no_class_dim,
        make_empty=_empty_pair,
    ),
    LossCase(
        "poly1",
        VF.poly1_loss,
        visionloss.Poly1Loss,
        _ids,
        reference=_poly1,
        options={"epsilon": 2.0, "label_smoothing": 0.1},
        **_ids_common,
        multiclass=True,
    ),
    LossCase(
        "poly1_probs",
        VF.poly1_loss,
        visionloss.Poly1Loss,
        _class_probs,
        reference=_poly1,
        options={"epsilon": -0.5},
        grad_inputs=(0, 1),
        none_shape=_no_class_dim,
        make_empty=_empty_pair,
        multiclass=True,
    ),
    LossCase(
        "varifocal",
        VF.varifocal_loss,
        visionloss.VarifocalLoss,
        _scores,
        reference=_varifocal,
        none_shape=_same_shape,
        make_empty=_empty_pair,
        make_extreme=_extreme_scores,
        compile=True,
    ),
    LossCase(
        "varifocal_label",
        VF.varifocal_loss,
        visionloss.VarifocalLoss,
        _scores_with_label,
        reference=_varifocal,
        options={"alpha": 0.25, "gamma": 1.5},
        none_shape=_same_shape,
    ),
    LossCase(
        "quality_focal",
        VF.quality_focal_loss,
        visionloss.QualityFocalLoss,
        _scores,
        reference=_quality_focal,
        none_shape=_same_shape,
        make_empty=_empty_pair,
        make_extreme=_extreme_scores,
        compile=True,
    ),
    LossCase(
        "quality_focal_soft",
        VF.quality_focal_loss,
        visionloss.QualityFocalLoss,
        _soft_scores,
        reference=_quality_focal,
        options={"beta": 1.5},
        grad_inputs=(0, 1),
        none_shape=_same_shape,
    ),
    LossCase(
        "distribution_focal",
        VF.distribution_focal_loss,
        visionloss.DistributionFocalLoss,
        _edges,
        reference=_distribution_focal,
        none_shape=_without_bins,
        make_empty=_empty_edges,
        make_extreme=_extreme_edges,
        compile=True,
    ),
]
