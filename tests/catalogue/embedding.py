"""Catalogue rows of the embedding family, with float64 references written from the formulas.

The batch triplet rows use batches where every anchor has a positive and a negative, so that
their ``"none"`` result (one value per anchor) has the plain mean the generic sweep checks. The
mining references (explicit loops over triplets) live in tests/test_embedding.py.
"""

from __future__ import annotations

import math

import torch

import visionloss
import visionloss.functional as VF

from . import LossCase


def _triplets(gen: torch.Generator, dtype: torch.dtype):
    a, p, n = (torch.randn(6, 4, generator=gen, dtype=torch.float64) for _ in range(3))
    # positives nearer than negatives on average, so both sides of the hinge occur
    return a.to(dtype), (a + 0.7 * p).to(dtype), n.to(dtype)


def _triplets_empty(dtype: torch.dtype):
    return tuple(torch.zeros(0, 4, dtype=dtype) for _ in range(3))


def _triplets_extreme(dtype: torch.dtype):
    big = 6e4 if dtype == torch.float16 else 1e4
    a = torch.tensor([[big, -big], [0.0, 0.0], [-big, big]], dtype=dtype)
    p = torch.tensor([[-big, big], [0.0, 0.0], [-big, big]], dtype=dtype)
    n = torch.tensor([[big, big], [0.0, 0.0], [big, -big]], dtype=dtype)
    return a, p, n


def _euclidean_torch(x, y, eps=1e-6):
    # torch's pairwise_distance convention: ||x - y + eps||
    return (x - y + eps).pow(2).sum(-1).sqrt()


def _triplet_reference(a, p, n, margin=1.0, swap=False, distance="euclidean", soft_margin=False):
    if distance == "euclidean":
        dist = _euclidean_torch
    elif distance == "squared_euclidean":
        dist = lambda x, y: (x - y).pow(2).sum(-1)  # noqa: E731
    else:
        dist = lambda x, y: 1 - (x * y).sum(-1) / (x.norm(dim=-1) * y.norm(dim=-1))  # noqa: E731
    ap, an = dist(a, p), dist(a, n)
    if swap:
        an = torch.minimum(an, dist(p, n))
    return torch.nn.functional.softplus(ap - an) if soft_margin else (ap - an + margin).clamp(min=0)


def _labelled(gen: torch.Generator, dtype: torch.dtype):
    # 3 classes of 3: every anchor has 2 positives and 6 negatives
    x = torch.randn(9, 4, generator=gen, dtype=torch.float64).to(dtype)
    labels = torch.tensor([0, 1, 2, 2, 0, 1, 1, 2, 0])
    return x, labels


def _labelled_empty(dtype: torch.dtype):
    return torch.zeros(0, 4, dtype=dtype), torch.zeros(0, dtype=torch.long)


def _labelled_extreme(dtype: torch.dtype):
    big = 6e4 if dtype == torch.float16 else 1e4
    x = torch.tensor([[big, 0.0], [-big, 0.0], [big, 0.0], [0.0, big]], dtype=dtype)
    return x, torch.tensor([0, 0, 1, 1])


def _pairs(gen: torch.Generator, dtype: torch.dtype):
    x1 = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    x2 = x1 + 0.6 * torch.randn(8, 3, generator=gen, dtype=torch.float64)
    same = torch.tensor([True, False] * 4)
    return x1.to(dtype), x2.to(dtype), same


def _pairs_empty(dtype: torch.dtype):
    return (
        torch.zeros(0, 3, dtype=dtype),
        torch.zeros(0, 3, dtype=dtype),
        torch.zeros(0, dtype=bool),
    )


def _pairs_extreme(dtype: torch.dtype):
    big = 6e4 if dtype == torch.float16 else 1e4
    x1 = torch.tensor([[big, -big], [0.0, 0.0], [big, big]], dtype=dtype)
    x2 = torch.tensor([[-big, big], [0.0, 0.0], [big, big]], dtype=dtype)
    return x1, x2, torch.tensor([True, False, False])


def _contrastive_reference(x1, x2, same, margin=1.0, distance="euclidean"):
    d = (x1 - x2).pow(2).sum(-1).sqrt()
    if distance == "cosine":
        d = 1 - torch.nn.functional.cosine_similarity(x1, x2, dim=-1)
    y = same.to(x1.dtype)
    return 0.5 * (y * d**2 + (1 - y) * (margin - d).clamp(min=0) ** 2)


def _rows(inputs):
    return (inputs[0].shape[0],)


CASES: list[LossCase] = [
    LossCase(
        "triplet_margin",
        VF.triplet_margin_loss,
        visionloss.TripletMarginLoss,
        _triplets,
        _rows,
        reference=_triplet_reference,
        grad_inputs=(0, 1, 2),
        make_empty=_triplets_empty,
        make_extreme=_triplets_extreme,
        compile=True,
    ),
    LossCase(
        "triplet_margin_swap_cosine",
        VF.triplet_margin_loss,
        visionloss.TripletMarginLoss,
        _triplets,
        _rows,
        reference=_triplet_reference,
        options={"margin": 0.3, "swap": True, "distance": "cosine"},
        grad_inputs=(0, 1, 2),
        make_empty=_triplets_empty,
        make_extreme=_triplets_extreme,
    ),
    LossCase(
        "triplet_margin_soft_squared",
        VF.triplet_margin_loss,
        visionloss.TripletMarginLoss,
        _triplets,
        _rows,
        reference=_triplet_reference,
        options={"soft_margin": True, "distance": "squared_euclidean"},
        grad_inputs=(0, 1, 2),
        make_empty=_triplets_empty,
    ),
    LossCase(
        "batch_triplet_hard",
        VF.batch_triplet_loss,
        visionloss.BatchTripletLoss,
        _labelled,
        _rows,
        options={"margin": 0.5},
        weighted=False,
        make_empty=_labelled_empty,
        make_extreme=_labelled_extreme,
        compile=True,
    ),
    LossCase(
        "batch_triplet_hard_soft_cosine",
        VF.batch_triplet_loss,
        visionloss.BatchTripletLoss,
        _labelled,
        _rows,
        options={"soft_margin": True, "distance": "cosine"},
        weighted=False,
        make_empty=_labelled_empty,
        make_extreme=_labelled_extreme,
    ),
    LossCase(
        "contrastive",
        VF.contrastive_loss,
        visionloss.ContrastiveLoss,
        _pairs,
        _rows,
        reference=_contrastive_reference,
        grad_inputs=(0, 1),
        make_empty=_pairs_empty,
        make_extreme=_pairs_extreme,
        compile=True,
    ),
    LossCase(
        "contrastive_cosine",
        VF.contrastive_loss,
        visionloss.ContrastiveLoss,
        _pairs,
        _rows,
        reference=_contrastive_reference,
        options={"margin": 0.5, "distance": "cosine"},
        grad_inputs=(0, 1),
        make_empty=_pairs_empty,
    ),
]


# --- the softmax-contrastive losses (losses/_contrastive.py) -------------------------------------


def _views(gen: torch.Generator, dtype: torch.dtype):
    z1 = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    z2 = z1 + 0.5 * torch.randn(5, 4, generator=gen, dtype=torch.float64)
    return z1.to(dtype), z2.to(dtype)


def _views_empty(dtype: torch.dtype):
    return torch.zeros(0, 4, dtype=dtype), torch.zeros(0, 4, dtype=dtype)


def _views_extreme(dtype: torch.dtype):
    # saturated rows and an exact tie; no all-zero row: the cosine's gradient there is
    # 1 / norm floor = 1e8 (as torch's F.normalize), which a float16 input's .grad cannot hold
    big = 6e4 if dtype == torch.float16 else 1e4
    z1 = torch.tensor([[big, -big], [big, big], [-big, big]], dtype=dtype)
    z2 = torch.tensor([[big, -big], [big, big], [big, -big]], dtype=dtype)
    return z1, z2


def _cosine_matrix(x):
    unit = x / x.norm(dim=1, keepdim=True)
    return unit @ unit.T


def _nt_xent_reference(z1, z2, temperature=0.5):
    # SimCLR's algorithm 1 written as a loop over the 2N anchors
    z = torch.cat([z1, z2])
    s = _cosine_matrix(z) / temperature
    n2, n = z.shape[0], z1.shape[0]
    out = []
    for i in range(n2):
        p = (i + n) % n2
        den = sum(torch.exp(s[i, k]) for k in range(n2) if k != i)
        out.append(-torch.log(torch.exp(s[i, p]) / den))
    return torch.stack(out)


def _two_rows(inputs):
    return (2 * inputs[0].shape[0],)


def _supcon_reference(x, labels, temperature=0.1):
    s = _cosine_matrix(x) / temperature
    b = x.shape[0]
    out = []
    for i in range(b):
        den = sum(torch.exp(s[i, a]) for a in range(b) if a != i)
        pos = [p for p in range(b) if p != i and labels[p] == labels[i]]
        terms = [torch.log(torch.exp(s[i, p]) / den) for p in pos]
        out.append(-sum(terms) / len(pos) if pos else s.new_zeros(()))
    return torch.stack(out)


CASES += [
    LossCase(
        "nt_xent",
        VF.nt_xent_loss,
        visionloss.NTXentLoss,
        _views,
        _two_rows,
        reference=_nt_xent_reference,
        grad_inputs=(0, 1),
        weighted=False,
        make_empty=_views_empty,
        make_extreme=_views_extreme,
        compile=True,
    ),
    LossCase(
        "nt_xent_cold",
        VF.nt_xent_loss,
        visionloss.NTXentLoss,
        _views,
        _two_rows,
        reference=_nt_xent_reference,
        options={"temperature": 0.05},
        grad_inputs=(0, 1),
        weighted=False,
        make_empty=_views_empty,
    ),
    LossCase(
        "supervised_contrastive",
        VF.supervised_contrastive_loss,
        visionloss.SupervisedContrastiveLoss,
        _labelled,
        _rows,
        reference=_supcon_reference,
        weighted=False,
        make_empty=_labelled_empty,
        make_extreme=_labelled_extreme,
        compile=True,
    ),
    LossCase(
        "supervised_contrastive_warm",
        VF.supervised_contrastive_loss,
        visionloss.SupervisedContrastiveLoss,
        _labelled,
        _rows,
        reference=_supcon_reference,
        options={"temperature": 0.5},
        weighted=False,
        make_empty=_labelled_empty,
    ),
]


# --- the margin softmaxes (ArcFace, CosFace): embeddings, labels, class centres ------------------


def _classified(gen: torch.Generator, dtype: torch.dtype):
    centers = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    x = centers[labels] + 0.8 * torch.randn(8, 4, generator=gen, dtype=torch.float64)
    return x.to(dtype), labels, centers.to(dtype)


def _classified_empty(dtype: torch.dtype):
    return torch.zeros(0, 4, dtype=dtype), torch.zeros(0, dtype=torch.long), torch.ones(5, 4,
                                                                                     dtype=dtype)


def _classified_extreme(dtype: torch.dtype):
    # saturated rows; row 0 exactly on its centre (cos = 1: the arccos clamp), row 1 exactly
    # opposite its centre (cos = -1: ArcFace's fallback beyond pi - m)
    big = 6e4 if dtype == torch.float16 else 1e4
    centers = big * torch.tensor(
        [[1.0, 0, 0, 0], [0, 1, 0, 0], [-1, -1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    )
    x = big * torch.tensor([[1.0, 0, 0, 0], [0, -1, 0, 0], [1, 1, 0, 0]])
    return x.to(dtype), torch.tensor([0, 1, 2]), centers.to(dtype)


def _margin_reference(kind):
    def reference(x, labels, centers, margin=None, scale=64.0, num_classes=None,
                  embedding_dim=None):
        m = {"arcface": 0.5, "cosface": 0.35}[kind] if margin is None else margin
        cos = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(
            centers, dim=1).T
        out = []
        for i in range(x.shape[0]):
            y = int(labels[i])
            c = cos[i, y]
            if kind == "cosface":
                t = c - m
            else:
                theta = torch.acos(c)
                t = torch.cos(theta + m) if theta + m <= torch.pi else c - m * math.sin(m)
            logits = [scale * (t if j == y else cos[i, j]) for j in range(centers.shape[0])]
            out.append(-torch.log_softmax(torch.stack(logits), 0)[y])
        return torch.stack(out)

    return reference


_MARGIN_SHAPES = {"num_classes": 5, "embedding_dim": 4}

CASES += [
    LossCase(
        "arcface",
        VF.arcface_loss,
        visionloss.ArcFaceLoss,
        _classified,
        _rows,
        reference=_margin_reference("arcface"),
        options=_MARGIN_SHAPES,
        grad_inputs=(0, 2),
        weighted=False,
        make_empty=_classified_empty,
        make_extreme=_classified_extreme,
        compile=True,
    ),
    LossCase(
        "arcface_small_scale",
        VF.arcface_loss,
        visionloss.ArcFaceLoss,
        _classified,
        _rows,
        reference=_margin_reference("arcface"),
        options={**_MARGIN_SHAPES, "margin": 1.2, "scale": 4.0},
        grad_inputs=(0, 2),
        weighted=False,
        make_empty=_classified_empty,
        make_extreme=_classified_extreme,
    ),
    LossCase(
        "cosface",
        VF.cosface_loss,
        visionloss.CosFaceLoss,
        _classified,
        _rows,
        reference=_margin_reference("cosface"),
        options=_MARGIN_SHAPES,
        grad_inputs=(0, 2),
        weighted=False,
        make_empty=_classified_empty,
        make_extreme=_classified_extreme,
        compile=True,
    ),
]


# --- multi-similarity -----------------------------------------------------------------------------


def _multi_similarity_reference(x, labels, alpha=2.0, beta=50.0, base=0.5, epsilon=0.1,
                                mining=True):
    s = _cosine_matrix(x)
    b = x.shape[0]
    out = []
    for i in range(b):
        pos = [k for k in range(b) if k != i and labels[k] == labels[i]]
        neg = [k for k in range(b) if labels[k] != labels[i]]
        if mining:
            max_neg = max((float(s[i, k]) for k in neg), default=-math.inf)
            min_pos = min((float(s[i, k]) for k in pos), default=math.inf)
            pos_kept = [k for k in pos if float(s[i, k]) - epsilon < max_neg]
            neg_kept = [k for k in neg if float(s[i, k]) + epsilon > min_pos]
            pos, neg = pos_kept, neg_kept
        p = sum((torch.exp(-alpha * (s[i, k] - base)) for k in pos), s.new_zeros(()))
        n = sum((torch.exp(beta * (s[i, k] - base)) for k in neg), s.new_zeros(()))
        out.append(torch.log1p(p) / alpha + torch.log1p(n) / beta)
    return torch.stack(out)


CASES += [
    LossCase(
        "multi_similarity",
        VF.multi_similarity_loss,
        visionloss.MultiSimilarityLoss,
        _labelled,
        _rows,
        reference=_multi_similarity_reference,
        weighted=False,
        make_empty=_labelled_empty,
        make_extreme=_labelled_extreme,
        compile=True,
    ),
    LossCase(
        "multi_similarity_all_pairs",
        VF.multi_similarity_loss,
        visionloss.MultiSimilarityLoss,
        _labelled,
        _rows,
        reference=_multi_similarity_reference,
        options={"mining": False, "alpha": 1.0, "beta": 10.0, "base": 0.2},
        weighted=False,
        make_empty=_labelled_empty,
    ),
]


# --- CLIP's symmetric InfoNCE (losses/_clip.py): image and text embeddings of B pairs -----------


def _clip_reference(image, text, logit_scale=None, temperature=0.07, learn_temperature=False,
                    max_scale=100.0, sync=False, process_group=None):
    # open_clip's ClipLoss convention: logits = scale * img @ txt.T, labels arange(B),
    # (CE(logits) + CE(logits.T)) / 2, written per pair as a loop over the B rows and columns
    img = image / image.norm(dim=1, keepdim=True)
    txt = text / text.norm(dim=1, keepdim=True)
    logits = (img @ txt.T) / temperature
    b = image.shape[0]
    out = []
    for i in range(b):
        row = -torch.log(torch.exp(logits[i, i]) / sum(torch.exp(logits[i, j]) for j in range(b)))
        col = -torch.log(torch.exp(logits[i, i]) / sum(torch.exp(logits[j, i]) for j in range(b)))
        out.append(0.5 * (row + col))
    return torch.stack(out)


def _pairs_rows(inputs):
    return (inputs[0].shape[0],)


CASES += [
    LossCase(
        "clip",
        VF.clip_loss,
        visionloss.ClipLoss,
        _views,
        _pairs_rows,
        reference=_clip_reference,
        grad_inputs=(0, 1),
        weighted=False,
        make_empty=_views_empty,
        make_extreme=_views_extreme,
        compile=True,
    ),
    LossCase(
        "clip_warm",
        VF.clip_loss,
        visionloss.ClipLoss,
        _views,
        _pairs_rows,
        reference=_clip_reference,
        options={"temperature": 0.5},
        grad_inputs=(0, 1),
        weighted=False,
        make_empty=_views_empty,
        make_extreme=_views_extreme,
    ),
]
