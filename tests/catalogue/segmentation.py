"""Catalogue rows of the segmentation family, with float64 references written from the formulas.

The references are deliberately naive: an explicit float one-hot, the sums written out, Berman's
per-class loop for Lovász. They share no code with the implementation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

import visionloss
import visionloss.functional as VF

from . import LossCase

N, C, H, W = 2, 3, 4, 5
IGNORE = -100


# --- sample inputs ----------------------------------------------------------------------------


def _labels(gen: torch.Generator) -> torch.Tensor:
    # every class present in every image, and two ignored pixels in the first image
    t = torch.randint(0, C, (N, H, W), generator=gen)
    t[:, 0, :C] = torch.arange(C)
    t[0, 3, 3:] = IGNORE
    return t


def _multiclass(gen: torch.Generator, dtype: torch.dtype):
    x = torch.randn(N, C, H, W, generator=gen, dtype=torch.float64) * 2
    return x.to(dtype), _labels(gen)


def _multiclass_probs(gen: torch.Generator, dtype: torch.dtype):
    x = torch.randn(N, C, H, W, generator=gen, dtype=torch.float64) * 2
    y = torch.randn(N, C, H, W, generator=gen, dtype=torch.float64).softmax(1)
    return x.to(dtype), y.to(dtype)


def _multilabel(gen: torch.Generator, dtype: torch.dtype):
    x = torch.randn(N, C, H, W, generator=gen, dtype=torch.float64) * 2
    y = torch.randint(0, 2, (N, C, H, W), generator=gen)
    y[0, 1, 0, :2] = IGNORE
    return x.to(dtype), y


def _binary_soft(gen: torch.Generator, dtype: torch.dtype):
    x = torch.randn(N, 1, H, W, generator=gen, dtype=torch.float64) * 2
    y = torch.rand(N, 1, H, W, generator=gen, dtype=torch.float64)
    return x.to(dtype), y.to(dtype)


def _binary_hard(gen: torch.Generator, dtype: torch.dtype):
    x = torch.randn(N, 1, H, W, generator=gen, dtype=torch.float64) * 2
    y = torch.randint(0, 2, (N, 1, H, W), generator=gen)
    y[0, 0, 0, :3] = IGNORE
    return x.to(dtype), y


def _empty_multiclass(dtype: torch.dtype):
    return torch.zeros(0, C, H, W, dtype=dtype), torch.zeros(0, H, W, dtype=torch.long)


def _empty_dense(dtype: torch.dtype):
    return torch.zeros(0, C, H, W, dtype=dtype), torch.zeros(0, C, H, W, dtype=torch.long)


def _empty_binary(dtype: torch.dtype):
    return torch.zeros(0, 1, H, W, dtype=dtype), torch.zeros(0, 1, H, W, dtype=dtype)


def _big(dtype: torch.dtype) -> float:
    return 6e4 if dtype == torch.float16 else 1e4


def _extreme_multiclass(dtype: torch.dtype):
    x = torch.full((N, C, H, W), -_big(dtype), dtype=dtype)
    x[:, 0] = _big(dtype)  # saturated softmax, wrong on most pixels
    x[1, 1, :2] = _big(dtype)  # ties between two saturated classes
    return x, _labels(torch.Generator().manual_seed(3))


def _extreme_dense(dtype: torch.dtype):
    x = torch.full((N, C, H, W), _big(dtype), dtype=dtype)
    x[:, :, ::2] = -_big(dtype)
    return x, torch.randint(0, 2, (N, C, H, W), generator=torch.Generator().manual_seed(4))


def _extreme_binary(dtype: torch.dtype):
    x = torch.full((N, 1, H, W), _big(dtype), dtype=dtype)
    x[:, :, 1::2] = -_big(dtype)
    return x, torch.randint(0, 2, (N, 1, H, W), generator=torch.Generator().manual_seed(5))


# --- float64 references -------------------------------------------------------------------------


def ref_stats(x, t, *, mode, squared=False, from_logits=True, ignore_index=IGNORE):
    """(I, P, G) per sample and class, from an explicit float one-hot. Returns (N, C) each.

    With ``squared``: P = sum p^2 and G = sum g^2 (V-Net, Milletari et al. 2016)."""
    x = x.double()
    if mode == "multiclass":
        p = x.softmax(1) if from_logits else x
        if t.is_floating_point():
            g, v = t.double(), torch.ones_like(p)
        else:
            v = (t != ignore_index).unsqueeze(1).double().expand_as(p)
            g = F.one_hot(t.clamp(min=0), x.shape[1]).movedim(-1, 1).double() * v
    else:
        if mode == "binary":
            x, t = x.reshape(x.shape[0], 1, -1), t.reshape(t.shape[0], 1, -1)
        p = torch.sigmoid(x) if from_logits else x
        if t.is_floating_point():
            g, v = t.double(), torch.ones_like(p)
        else:
            v = (t != ignore_index).double()
            g = t.clamp(min=0).double() * v
    dims = tuple(range(2, p.dim()))
    inter = (p * g * v).sum(dims)
    pred = ((p**2 if squared else p) * v).sum(dims)
    # squared: V-Net's P = sum p^2 and G = sum g^2 (g^2 = g for 0/1 targets)
    tgt = ((g**2 if squared else g) * v).sum(dims)
    return inter, pred, tgt


def _stats_options(options):
    keys = ("mode", "squared", "from_logits", "ignore_index")
    return {k: options[k] for k in keys if k in options}


def ref_dice(x, t, *, smooth=1e-5, log_loss=False, batch_dice=False, **options):
    inter, pred, tgt = ref_stats(x, t, **_stats_options(options))
    if batch_dice:
        inter, pred, tgt = inter.sum(0), pred.sum(0), tgt.sum(0)
    score = (2 * inter + smooth) / (pred + tgt + smooth)
    return -torch.log(score) if log_loss else 1 - score


def ref_jaccard(x, t, *, smooth=1e-5, log_loss=False, **options):
    inter, pred, tgt = ref_stats(x, t, **_stats_options(options))
    score = (inter + smooth) / (pred + tgt - inter + smooth)
    return -torch.log(score) if log_loss else 1 - score


def ref_tversky(x, t, *, alpha=0.5, beta=0.5, smooth=1e-5, gamma=1.0, **options):
    inter, pred, tgt = ref_stats(x, t, **_stats_options(options))
    # FP = sum p (1 - g), FN = sum (1 - p) g, written out from their definitions
    fp, fn = pred - inter, tgt - inter
    return (1 - (inter + smooth) / (inter + alpha * fp + beta * fn + smooth)) ** gamma


def ref_generalized_dice(x, t, *, weight_type="square", smooth=1e-5, **options):
    inter, pred, tgt = ref_stats(x, t, **_stats_options(options))
    if weight_type == "uniform":
        w = torch.ones_like(tgt)
    else:
        w = tgt ** (-2.0 if weight_type == "square" else -1.0)
        w[tgt == 0] = 0
    return 1 - (2 * (w * inter).sum(1) + smooth) / ((w * (pred + tgt)).sum(1) + smooth)


def _lovasz_grad(gt_sorted):
    # Berman et al.'s reference code, verbatim in spirit
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1].clone()
    return jaccard


def _lovasz_softmax_flat(probas, labels, classes):
    # probas (P, C) of the valid pixels, labels (P,); Berman's loop over classes
    losses = []
    for c in range(probas.shape[1]):
        fg = (labels == c).double()
        if classes == "present" and fg.sum() == 0:
            continue
        errors = (fg - probas[:, c]).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        losses.append(torch.dot(errors_sorted, _lovasz_grad(fg[perm])))
    return torch.stack(losses)


def ref_lovasz_softmax(x, t, *, classes="present", per_image=False, ignore_index=IGNORE):
    """Per class (C,) for per_image=False (0 for the classes not counted), per image (N,)."""
    probas = x.double().softmax(1)
    c = probas.shape[1]

    def flat(p, lab):
        p = p.reshape(c, -1).t() if p.dim() > 1 else p
        lab = lab.reshape(-1)
        keep = lab != ignore_index
        return p[keep], lab[keep]

    if per_image:
        return torch.stack(
            [
                _lovasz_softmax_flat(*flat(p, lab), classes).mean()
                for p, lab in zip(probas, t, strict=True)
            ]
        )
    p = probas.movedim(1, -1).reshape(-1, c)
    lab = t.reshape(-1)
    keep = lab != ignore_index
    losses = _lovasz_softmax_flat(p[keep], lab[keep], "all")
    if classes == "present":
        present = torch.stack([(lab[keep] == k).any() for k in range(c)])
        losses = torch.where(present, losses, 0.0)
    return losses


def ref_lovasz_hinge(x, t, *, per_image=True, ignore_index=IGNORE):
    def flat(logits, labels):
        logits, labels = logits.reshape(-1).double(), labels.reshape(-1)
        keep = labels != ignore_index
        logits, labels = logits[keep], labels[keep].double()
        errors = 1.0 - logits * (2.0 * labels - 1.0)
        errors_sorted, perm = torch.sort(errors, descending=True)
        return torch.dot(F.relu(errors_sorted), _lovasz_grad(labels[perm]))

    if per_image:
        return torch.stack([flat(a, b) for a, b in zip(x, t, strict=True)])
    return flat(x, t)


def ref_dice_ce(x, t, *, lambda_dice=1.0, lambda_ce=1.0, smooth=1e-5, **options):
    dice = ref_dice(x, t, smooth=smooth, mode="multiclass").mean(1)
    ce = torch.stack(
        [
            F.cross_entropy(a[None].double(), b[None], ignore_index=IGNORE)
            for a, b in zip(x, t, strict=True)
        ]
    )
    return lambda_dice * dice + lambda_ce * ce


def ref_dice_focal(x, t, *, lambda_dice=1.0, lambda_focal=1.0, gamma=2.0, **options):
    # multilabel: sigmoid focal loss (Lin et al.) written out, mean over each sample's valid
    # elements
    dice = ref_dice(x, t, mode="multilabel").mean(1)
    v = (t != IGNORE).double()
    y = t.clamp(min=0).double()
    p = torch.sigmoid(x.double())
    ce = F.binary_cross_entropy_with_logits(x.double(), y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    focal = ((1 - p_t) ** gamma * ce * v).flatten(1).sum(1) / v.flatten(1).sum(1)
    return lambda_dice * dice + lambda_focal * focal


def ref_topk_cross_entropy(x, t, *, k=0.1, class_weight=None, label_smoothing=0.0, **options):
    # per sample: torch's unreduced CE of the valid pixels, sorted, the first ceil(k V) averaged
    cw = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float64)
    losses = []
    for a, b in zip(x, t, strict=True):
        ce = F.cross_entropy(
            a[None].double(), b[None], weight=cw, ignore_index=IGNORE,
            label_smoothing=label_smoothing, reduction="none",
        ).reshape(-1)
        ce = ce[b.reshape(-1) != IGNORE]
        kept = math.ceil(round(k * ce.numel(), 9))
        losses.append(torch.sort(ce, descending=True).values[:kept].mean())
    return torch.stack(losses)


def ref_dice_topk(
    x, t, *, mode="multiclass", lambda_dice=1.0, lambda_topk=1.0, k=0.1, class_weight=None,
    label_smoothing=0.0, smooth=1e-5, **options,
):
    # the two terms computed separately: the class-weighted mean of the per-class Dice, and the
    # top-k CE (multiclass: the reference above; sigmoid modes: the BCE of every valid element
    # of the sample, times the channel's weight, sorted, the first ceil(k V) averaged)
    cw = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float64)
    dice = ref_dice(x, t, smooth=smooth, mode=mode)
    dice = dice.mean(1) if cw is None else (dice * cw).sum(1) / cw.sum()
    if mode == "multiclass":
        topk = ref_topk_cross_entropy(x, t, k=k, class_weight=cw, label_smoothing=label_smoothing)
    else:
        assert label_smoothing == 0.0
        bce = F.binary_cross_entropy_with_logits(
            x.double(), t.clamp(min=0).double(), reduction="none"
        )
        if cw is not None:
            bce = bce * cw.view(1, -1, *([1] * (x.dim() - 2)))
        losses = []
        for b, y in zip(bce, t, strict=True):
            b = b.reshape(-1)[y.reshape(-1) != IGNORE]
            kept = math.ceil(round(k * b.numel(), 9))
            losses.append(torch.sort(b, descending=True).values[:kept].mean())
        topk = torch.stack(losses)
    return lambda_dice * dice + lambda_topk * topk


def ref_mcc(x, t, *, smooth=1e-5, mode, **options):
    # Matthews's formula on the soft counts: TN = V - TP - FP - FN
    inter, pred, tgt = ref_stats(x, t, mode=mode)
    if mode == "multiclass":
        count = (t != IGNORE).flatten(1).sum(1, keepdim=True).double()
    else:
        count = (t != IGNORE).reshape(t.shape[0], t.shape[1] if mode != "binary" else 1, -1)
        count = count.sum(-1).double()
    tp, fp, fn = inter, pred - inter, tgt - inter
    tn = count - tp - fp - fn
    num = tp * tn - fp * fn
    den = ((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)).sqrt()
    return 1 - num / (den + smooth)


def _shifts(x, fill, reduce, offsets):
    # min or max over the given neighbour offsets, borders padded with `fill`
    dims = x.dim() - 2
    padded = F.pad(x, (1, 1) * dims, value=fill)
    out = None
    for off in offsets:
        index = [slice(None), slice(None)] + [
            slice(1 + o, 1 + o + n) for o, n in zip(off, x.shape[2:], strict=True)
        ]
        part = padded[tuple(index)]
        out = part if out is None else reduce(out, part)
    return out


def _ref_skeleton(x, iterations):
    dims = x.dim() - 2
    cross = [tuple(0 for _ in range(dims))] + [
        tuple(s if d == a else 0 for d in range(dims)) for a in range(dims) for s in (-1, 1)
    ]
    cube = [tuple(o) for o in torch.cartesian_prod(*[torch.tensor([-1, 0, 1])] * dims).tolist()]
    if dims == 1:
        cube = [(o,) for o in cube]

    def erode(a):
        return _shifts(a, math.inf, torch.minimum, cross)

    def opening(a):
        return _shifts(erode(a), -math.inf, torch.maximum, cube)

    skel = (x - opening(x)).clamp(min=0)
    for _ in range(iterations):
        x = erode(x)
        delta = (x - opening(x)).clamp(min=0)
        skel = skel + (delta - skel * delta).clamp(min=0)
    return skel


def ref_soft_cldice(x, t, *, mode, iterations=3, smooth=1.0, **options):
    x = x.double()
    if mode == "multiclass":
        p = x.softmax(1)
        v = (t != IGNORE).unsqueeze(1).double().expand_as(p)
        g = F.one_hot(t.clamp(min=0), x.shape[1]).movedim(-1, 1).double() * v
    else:
        p = torch.sigmoid(x)
        v = (t != IGNORE).double()
        g = t.clamp(min=0).double() * v
    sp, sg = _ref_skeleton(p, iterations), _ref_skeleton(g, iterations)
    dims = tuple(range(2, p.dim()))
    prec = ((sp * g).sum(dims) + smooth) / ((sp * v).sum(dims) + smooth)
    sens = ((sg * p * v).sum(dims) + smooth) / (sg.sum(dims) + smooth)
    return 1 - 2 * prec * sens / (prec + sens)


def _ref_signed_distance(mask):
    # brute force over every pair of positions: distance to the nearest position of the other
    # kind; Kervadec's convention (outside: d(fg); inside: -(d(bg) - 1); 0 without a contour)
    out = torch.zeros(mask.shape, dtype=torch.float64)
    for n in range(mask.shape[0]):
        for c in range(mask.shape[1]):
            m = mask[n, c].bool()
            if m.all() or not m.any():
                continue
            coords = torch.stack(torch.meshgrid(
                *[torch.arange(k, dtype=torch.float64) for k in m.shape], indexing="ij"
            ), -1).reshape(-1, m.dim())
            d = torch.cdist(coords, coords)
            flat = m.reshape(-1)
            to_fg = d[:, flat].min(1).values
            to_bg = d[:, ~flat].min(1).values
            out[n, c] = torch.where(flat, 1 - to_bg, to_fg).reshape(m.shape)
    return out


def _boundary_multiclass(gen: torch.Generator, dtype: torch.dtype):
    x = torch.randn(N, C, H, W, generator=gen, dtype=torch.float64) * 2
    t = torch.randint(0, C, (N, H, W), generator=gen)
    phi = _ref_signed_distance(F.one_hot(t, C).movedim(-1, 1))
    return x.to(dtype), phi.to(dtype)


def _boundary_binary(gen: torch.Generator, dtype: torch.dtype):
    x = torch.randn(N, 1, H, W, generator=gen, dtype=torch.float64) * 2
    phi = _ref_signed_distance(torch.rand(N, 1, H, W, generator=gen) < 0.4)
    return x.to(dtype), phi.to(dtype)


def _empty_boundary(dtype: torch.dtype):
    return torch.zeros(0, C, H, W, dtype=dtype), torch.zeros(0, C, H, W, dtype=dtype)


def _extreme_boundary(dtype: torch.dtype):
    x, _ = _extreme_multiclass(dtype)
    phi = _ref_signed_distance(F.one_hot(_labels(torch.Generator().manual_seed(3)).clamp(min=0), C)
                               .movedim(-1, 1))
    return x, phi.to(dtype)


def ref_boundary(x, phi, *, mode="multiclass", class_weight=None, **options):
    x = x.double()
    p = x.softmax(1) if mode == "multiclass" else torch.sigmoid(x)
    return p * phi.double()


def _ref_unsigned_distance(mask):
    # brute force: inside the mask the distance to the nearest background position, outside to
    # the nearest foreground one; 0 for a mask without a contour
    out = torch.zeros(mask.shape, dtype=torch.float64)
    for n in range(mask.shape[0]):
        for c in range(mask.shape[1]):
            m = mask[n, c].bool()
            if m.all() or not m.any():
                continue
            coords = torch.stack(torch.meshgrid(
                *[torch.arange(k, dtype=torch.float64) for k in m.shape], indexing="ij"
            ), -1).reshape(-1, m.dim())
            d = torch.cdist(coords, coords)
            flat = m.reshape(-1)
            other = torch.where(flat.unsqueeze(1), (~flat).unsqueeze(0), flat.unsqueeze(0))
            out[n, c] = d.masked_fill(~other, math.inf).min(1).values.reshape(m.shape)
    return out


def ref_hausdorff_dt(x, t, *, mode, alpha=2.0, **options):
    x = x.double()
    if mode == "multiclass":
        p = x.softmax(1)
        v = (t != IGNORE).unsqueeze(1).double().expand_as(p)
        g = F.one_hot(t.clamp(min=0), x.shape[1]).movedim(-1, 1).double() * v
    else:
        p = torch.sigmoid(x)
        v = (t != IGNORE).double()
        g = t.clamp(min=0).double() * v
    field = _ref_unsigned_distance(p > 0.5) ** alpha + _ref_unsigned_distance(g > 0.5) ** alpha
    dims = tuple(range(2, p.dim()))
    return ((p - g) ** 2 * field * v).sum(dims) / v.sum(dims)


# --- the rows -----------------------------------------------------------------------------------


def _nc(inputs):
    return (inputs[0].shape[0], inputs[0].shape[1])


def _n(inputs):
    return (inputs[0].shape[0],)


def _c(inputs):
    return (inputs[0].shape[1],)


_tol = (1e-7, 1e-9)

CASES: list[LossCase] = [
    LossCase(
        "dice_multiclass",
        VF.dice_loss,
        visionloss.DiceLoss,
        _multiclass,
        _nc,
        reference=ref_dice,
        options={"mode": "multiclass"},
        make_empty=_empty_multiclass,
        make_extreme=_extreme_multiclass,
        compile=True,
    ),
    LossCase(
        "dice_multiclass_probs_squared_log",
        VF.dice_loss,
        visionloss.DiceLoss,
        _multiclass_probs,
        _nc,
        reference=ref_dice,
        options={"mode": "multiclass", "squared": True, "log_loss": True, "smooth": 1.0},
        make_empty=lambda dtype: (torch.zeros(0, C, H, W, dtype=dtype),) * 2,
    ),
    LossCase(
        "dice_multilabel_batch",
        VF.dice_loss,
        visionloss.DiceLoss,
        _multilabel,
        _c,
        reference=ref_dice,
        options={"mode": "multilabel", "batch_dice": True},
        make_empty=_empty_dense,
        make_extreme=_extreme_dense,
    ),
    LossCase(
        "dice_binary_soft",
        VF.dice_loss,
        visionloss.DiceLoss,
        _binary_soft,
        lambda inputs: (inputs[0].shape[0], 1),
        reference=ref_dice,
        options={"mode": "binary"},
        make_empty=_empty_binary,
        make_extreme=_extreme_binary,
    ),
    LossCase(
        "jaccard_multilabel",
        VF.jaccard_loss,
        visionloss.JaccardLoss,
        _multilabel,
        _nc,
        reference=ref_jaccard,
        options={"mode": "multilabel"},
        make_empty=_empty_dense,
        make_extreme=_extreme_dense,
    ),
    LossCase(
        "tversky_multiclass",
        VF.tversky_loss,
        visionloss.TverskyLoss,
        _multiclass,
        _nc,
        reference=ref_tversky,
        options={"mode": "multiclass", "alpha": 0.3, "beta": 0.7},
        make_empty=_empty_multiclass,
        make_extreme=_extreme_multiclass,
        compile=True,
    ),
    LossCase(
        "focal_tversky_binary",
        VF.focal_tversky_loss,
        visionloss.FocalTverskyLoss,
        _binary_hard,
        lambda inputs: (inputs[0].shape[0], 1),
        reference=ref_tversky,
        options={"mode": "binary", "alpha": 0.7, "beta": 0.3, "gamma": 0.75},
        make_empty=_empty_binary,
        make_extreme=_extreme_binary,
    ),
    LossCase(
        "generalized_dice_multiclass",
        VF.generalized_dice_loss,
        visionloss.GeneralizedDiceLoss,
        _multiclass,
        _n,
        reference=ref_generalized_dice,
        options={"mode": "multiclass", "weight_type": "square"},
        make_empty=_empty_multiclass,
        make_extreme=_extreme_multiclass,
        compile=True,
    ),
    LossCase(
        "generalized_dice_simple",
        VF.generalized_dice_loss,
        visionloss.GeneralizedDiceLoss,
        _multiclass,
        _n,
        reference=ref_generalized_dice,
        options={"mode": "multiclass", "weight_type": "simple"},
    ),
    LossCase(
        "lovasz_softmax",
        VF.lovasz_softmax_loss,
        visionloss.LovaszSoftmaxLoss,
        _multiclass,
        _c,
        reference=ref_lovasz_softmax,
        make_empty=_empty_multiclass,
        make_extreme=_extreme_multiclass,
        compile=True,
        multiclass=True,
    ),
    LossCase(
        "lovasz_softmax_per_image_all",
        VF.lovasz_softmax_loss,
        visionloss.LovaszSoftmaxLoss,
        _multiclass,
        _n,
        reference=ref_lovasz_softmax,
        options={"per_image": True, "classes": "all"},
        make_empty=_empty_multiclass,
        multiclass=True,
    ),
    LossCase(
        "lovasz_hinge",
        VF.lovasz_hinge_loss,
        visionloss.LovaszHingeLoss,
        _binary_hard,
        _n,
        reference=ref_lovasz_hinge,
        make_empty=_empty_binary,
        make_extreme=_extreme_binary,
        compile=True,
    ),
    LossCase(
        "dice_ce",
        VF.dice_ce_loss,
        visionloss.DiceCELoss,
        _multiclass,
        _n,
        reference=ref_dice_ce,
        options={"lambda_dice": 0.7, "lambda_ce": 1.3},
        make_empty=_empty_multiclass,
        make_extreme=_extreme_multiclass,
        compile=True,
    ),
    LossCase(
        "dice_focal_multilabel",
        VF.dice_focal_loss,
        visionloss.DiceFocalLoss,
        _multilabel,
        _n,
        reference=ref_dice_focal,
        options={"mode": "multilabel", "lambda_focal": 2.0, "gamma": 2.0},
        make_empty=_empty_dense,
        make_extreme=_extreme_dense,
    ),
    LossCase(
        "dice_topk",
        VF.dice_topk_loss,
        visionloss.DiceTopKLoss,
        _multiclass,
        _n,
        reference=ref_dice_topk,
        options={"lambda_dice": 0.6, "lambda_topk": 1.4, "k": 0.3, "label_smoothing": 0.1},
        make_empty=_empty_multiclass,
        make_extreme=_extreme_multiclass,
        compile=True,
    ),
    LossCase(
        "dice_topk_multilabel_class_weight",
        VF.dice_topk_loss,
        visionloss.DiceTopKLoss,
        _multilabel,
        _n,
        reference=ref_dice_topk,
        options={"mode": "multilabel", "k": 0.2, "class_weight": [1.0, 2.0, 0.5]},
        make_empty=_empty_dense,
        make_extreme=_extreme_dense,
    ),
    LossCase(
        "topk_cross_entropy",
        VF.topk_cross_entropy,
        visionloss.TopKCrossEntropyLoss,
        _multiclass,
        _n,
        reference=ref_topk_cross_entropy,
        options={"k": 0.3, "label_smoothing": 0.1},
        make_empty=_empty_multiclass,
        make_extreme=_extreme_multiclass,
        compile=True,
        multiclass=True,
    ),
    LossCase(
        "topk_cross_entropy_class_weight",
        VF.topk_cross_entropy,
        visionloss.TopKCrossEntropyLoss,
        _multiclass,
        _n,
        reference=ref_topk_cross_entropy,
        options={"k": 0.5, "class_weight": [1.0, 2.0, 0.5]},
        multiclass=True,
    ),
    LossCase(
        "mcc_multiclass",
        VF.mcc_loss,
        visionloss.MCCLoss,
        _multiclass,
        _nc,
        reference=ref_mcc,
        options={"mode": "multiclass"},
        make_empty=_empty_multiclass,
        make_extreme=_extreme_multiclass,
        compile=True,
    ),
    LossCase(
        "mcc_binary",
        VF.mcc_loss,
        visionloss.MCCLoss,
        _binary_hard,
        lambda inputs: (inputs[0].shape[0], 1),
        reference=ref_mcc,
        options={"mode": "binary"},
        make_empty=_empty_binary,
        make_extreme=_extreme_binary,
    ),
    LossCase(
        "soft_cldice_multiclass",
        VF.soft_cldice_loss,
        visionloss.SoftClDiceLoss,
        _multiclass,
        _nc,
        reference=ref_soft_cldice,
        options={"mode": "multiclass", "iterations": 2},
        make_empty=_empty_multiclass,
        make_extreme=_extreme_multiclass,
        compile=True,
    ),
    LossCase(
        "soft_cldice_binary",
        VF.soft_cldice_loss,
        visionloss.SoftClDiceLoss,
        _binary_hard,
        lambda inputs: (inputs[0].shape[0], 1),
        reference=ref_soft_cldice,
        options={"mode": "binary", "smooth": 0.5},
        make_empty=_empty_binary,
        make_extreme=_extreme_binary,
    ),
    LossCase(
        "boundary_multiclass",
        VF.boundary_loss,
        visionloss.BoundaryLoss,
        _boundary_multiclass,
        lambda inputs: tuple(inputs[0].shape),
        reference=ref_boundary,
        make_empty=_empty_boundary,
        make_extreme=_extreme_boundary,
        compile=True,
    ),
    LossCase(
        "boundary_binary",
        VF.boundary_loss,
        visionloss.BoundaryLoss,
        _boundary_binary,
        lambda inputs: tuple(inputs[0].shape),
        reference=ref_boundary,
        options={"mode": "binary"},
        make_empty=_empty_binary,
    ),
    LossCase(
        "hausdorff_dt_multiclass",
        VF.hausdorff_dt_loss,
        visionloss.HausdorffDTLoss,
        _multiclass,
        _nc,
        reference=ref_hausdorff_dt,
        options={"mode": "multiclass"},
        make_empty=_empty_multiclass,
        make_extreme=_extreme_multiclass,
        compile=True,
    ),
    LossCase(
        "hausdorff_dt_binary",
        VF.hausdorff_dt_loss,
        visionloss.HausdorffDTLoss,
        _binary_hard,
        lambda inputs: (inputs[0].shape[0], 1),
        reference=ref_hausdorff_dt,
        options={"mode": "binary", "alpha": 1.0},
        make_empty=_empty_binary,
        make_extreme=_extreme_binary,
    ),
]
