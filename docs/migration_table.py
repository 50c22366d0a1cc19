"""The migration tables: each peer library's losses and options, and their visionloss form.

This module is the single source of the "Coming from ..." pages of the documentation and of the
test ``tests/peers/test_migration.py``:

* the docs extension (``docs/_ext/visionloss_docs.py``) renders :data:`PEERS` as one page per peer,
  printing each row's two expressions exactly as written here;
* the test evaluates the same two expressions on the inputs of :func:`sample` and checks that they
  give equal values (and checks that every "no equivalent" row is still missing from visionloss).

So a page cannot show a mapping that the tests do not run. An expression sees the names of
:func:`sample` (the data), ``torch``, ``F`` (``torch.nn.functional``), ``VF``
(``visionloss.functional``), ``visionloss``, and the peer's names listed in its ``names`` entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["PEERS", "SAMPLE_NAMES", "Gap", "Peer", "Row", "sample"]


@dataclass(frozen=True)
class Row:
    """One mapping: the peer's call and ours, which must give equal values on :func:`sample`."""

    topic: str  #: the peer's loss or option this row is about
    theirs: str  #: a Python expression calling the peer
    ours: str  #: the visionloss expression that equals it
    note: str = ""  #: what to know (conditions, conversions)
    rtol: float = 1e-5
    atol: float = 1e-6


@dataclass(frozen=True)
class Gap:
    """A peer loss or option with no visionloss equivalent (yet)."""

    topic: str
    note: str
    #: a ``visionloss.functional`` name whose absence the test asserts, so the page is revisited
    #: when the loss lands ("" when the gap is a convention rather than a missing loss)
    missing: str = ""


@dataclass(frozen=True)
class Peer:
    key: str  #: page and test id
    title: str  #: the library's name as its users write it
    package: str  #: the distribution name on PyPI
    checked: str  #: the version the rows were written against
    imports: str  #: the import lines the expressions assume (shown on the page)
    names: tuple[str, ...]  #: the names those imports bind, provided by the test
    intro: str
    rows: tuple[Row, ...]
    gaps: tuple[Gap, ...] = ()
    #: how the test obtains the peer: "installed" (the package itself), or "transcribed" (a
    #: re-implementation of the peer's formulas written in the test, when it cannot be imported)
    source: str = "installed"
    notes: tuple[str, ...] = field(default_factory=tuple)


# --- the inputs every expression sees ---------------------------------------------------------

#: name -> what it holds (printed on every page)
SAMPLE_NAMES: dict[str, str] = {
    "x": "multiclass logits, float64, shape (2, 4, 5, 6)",
    "labels": "class ids of x, shape (2, 5, 6); every class appears in every sample",
    "onehot": "labels as a float one-hot tensor, shape (2, 4, 5, 6)",
    "bx": "binary logits, shape (2, 1, 5, 6)",
    "by": "0/1 float targets of bx, same shape",
    "pred_boxes": "16 predicted boxes (x1, y1, x2, y2), overlapping, nested and disjoint",
    "true_boxes": "their 16 target boxes",
    "emb": "12 embeddings of dimension 4, float64",
    "emb_labels": "their labels [0, 0, 0, 1, 1, 2, 3, 3, 4, 4, 4, 5] (2 and 5 are singletons)",
    "img1": "images in [0, 1], shape (2, 3, 32, 32)",
    "img2": "noisy copies of img1, same shape",
    "big1": "images in [0, 1], shape (1, 1, 66, 67), for multi-scale SSIM",
    "big2": "noisy copies of big1",
    "vol1": "volumes in [0, 1], shape (1, 2, 12, 13, 14)",
    "vol2": "noisy copies of vol1",
    "res": "regression residuals, shape (2, 3, 8, 8), spread over [-6, 6]",
    "zeros": "zeros shaped as res",
}


def sample(seed: int = 0) -> dict[str, torch.Tensor]:
    """The inputs of every row (see :data:`SAMPLE_NAMES`)."""
    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    x = torch.randn(2, 4, 5, 6, generator=gen, dtype=f64) * 2
    labels = torch.randint(0, 4, (2, 5, 6), generator=gen)
    labels.view(2, -1)[:, :4] = torch.arange(4)  # every class present in every sample
    onehot = torch.nn.functional.one_hot(labels, 4).permute(0, 3, 1, 2).to(f64)
    bx = torch.randn(2, 1, 5, 6, generator=gen, dtype=f64) * 2
    by = (torch.rand(2, 1, 5, 6, generator=gen) < 0.4).to(f64)
    xy = torch.rand(16, 2, generator=gen, dtype=f64) * 4
    wh = torch.rand(16, 2, generator=gen, dtype=f64) * 3 + 0.5
    shift = torch.randn(16, 2, generator=gen, dtype=f64) * 1.5
    scale = torch.exp(torch.randn(16, 2, generator=gen, dtype=f64) * 0.4)
    true_boxes = torch.cat((xy, xy + wh), dim=-1)
    pred_boxes = torch.cat((xy + shift, xy + shift + wh * scale), dim=-1)
    emb = torch.randn(12, 4, generator=gen, dtype=f64)
    emb_labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 4, 4, 4, 5])

    def pair(*shape: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.rand(shape, generator=gen, dtype=f64)
        b = (a + 0.2 * torch.randn(shape, generator=gen, dtype=f64)).clamp(0, 1)
        return a, b

    img1, img2 = pair(2, 3, 32, 32)
    big1, big2 = pair(1, 1, 66, 67)
    vol1, vol2 = pair(1, 2, 12, 13, 14)
    res = torch.linspace(-6, 6, 2 * 3 * 8 * 8, dtype=f64).reshape(2, 3, 8, 8)
    return {
        "x": x, "labels": labels, "onehot": onehot, "bx": bx, "by": by,
        "pred_boxes": pred_boxes, "true_boxes": true_boxes, "emb": emb, "emb_labels": emb_labels,
        "img1": img1, "img2": img2, "big1": big1, "big2": big2, "vol1": vol1, "vol2": vol2,
        "res": res, "zeros": torch.zeros_like(res),
    }


# --- MONAI ---------------------------------------------------------------------------------------

MONAI = Peer(
    key="monai",
    title="MONAI",
    package="monai",
    checked="1.6.1",
    imports="from monai import losses as ML",
    names=("ML",),
    intro=(
        "MONAI's overlap losses take one-hot or channel targets and an activation flag; "
        "visionloss takes the target as class ids (or one-hot) and a ``mode``. Both count every "
        "class by default and add the smoothing term to numerator and denominator. MONAI "
        "computes in float32, so the rows compare to about 1e-6."
    ),
    rows=(
        Row("DiceLoss(softmax=True, to_onehot_y=True)",
            "ML.DiceLoss(softmax=True, to_onehot_y=True)(x, labels[:, None])",
            'VF.dice_loss(x, labels, mode="multiclass")',
            "smooth_nr = smooth_dr = 1e-5 is our default smooth=1e-5"),
        Row("DiceLoss(sigmoid=True)",
            "ML.DiceLoss(sigmoid=True)(x, onehot)",
            'VF.dice_loss(x, onehot, mode="multilabel")'),
        Row("include_background=False",
            "ML.DiceLoss(softmax=True, to_onehot_y=True, include_background=False)"
            "(x, labels[:, None])",
            'VF.dice_loss(x, labels, mode="multiclass", class_weight=torch.tensor([0.0, 1.0, 1.0, 1.0]))',
            "a class weight of 0 on class 0; the softmax still runs over every class, as MONAI's"),
        Row("smooth_nr=s, smooth_dr=s",
            "ML.DiceLoss(softmax=True, to_onehot_y=True, smooth_nr=1.0, smooth_dr=1.0)"
            "(x, labels[:, None])",
            'VF.dice_loss(x, labels, mode="multiclass", smooth=1.0)',
            "equal terms only: see the gap below for smooth_nr != smooth_dr"),
        Row("batch=True",
            "ML.DiceLoss(softmax=True, to_onehot_y=True, batch=True)(x, labels[:, None])",
            'VF.dice_loss(x, labels, mode="multiclass", batch_dice=True)'),
        Row("squared_pred=True",
            "ML.DiceLoss(softmax=True, to_onehot_y=True, squared_pred=True)(x, labels[:, None])",
            'VF.dice_loss(x, labels, mode="multiclass", squared=True)',
            "MONAI squares the target too: equal for 0/1 targets"),
        Row("jaccard=True",
            "ML.DiceLoss(softmax=True, to_onehot_y=True, jaccard=True)(x, labels[:, None])",
            'VF.jaccard_loss(x, labels, mode="multiclass")'),
        Row('reduction="none"',
            'ML.DiceLoss(softmax=True, to_onehot_y=True, reduction="none")'
            "(x, labels[:, None]).flatten(1)",
            'VF.dice_loss(x, labels, mode="multiclass", reduction="none")',
            "MONAI keeps singleton spatial dims, (N, C, 1, 1); ours is (N, C)"),
        Row("TverskyLoss(alpha, beta)",
            "ML.TverskyLoss(softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7)"
            "(x, labels[:, None])",
            'VF.tversky_loss(x, labels, mode="multiclass", alpha=0.3, beta=0.7)',
            "alpha weighs false positives, beta false negatives, in both"),
        Row("GeneralizedDiceLoss(w_type)",
            'ML.GeneralizedDiceLoss(softmax=True, to_onehot_y=True, w_type="simple")'
            "(x, labels[:, None])",
            'VF.generalized_dice_loss(x, labels, mode="multiclass", weight_type="simple")',
            "equal while every class is present; an absent class gets weight 0 here, the "
            "sample's largest weight in MONAI"),
        Row("DiceCELoss(lambda_dice, lambda_ce)",
            "ML.DiceCELoss(softmax=True, to_onehot_y=True, lambda_dice=0.7, lambda_ce=0.3)"
            "(x, labels[:, None])",
            'VF.dice_ce_loss(x, labels, mode="multiclass", lambda_dice=0.7, lambda_ce=0.3)'),
        Row("FocalLoss(use_softmax=False)",
            "ML.FocalLoss(gamma=2.0, alpha=0.25)(x, onehot)",
            'VF.focal_loss(x, onehot, mode="multilabel", gamma=2.0, alpha=0.25)',
            "sigmoid per channel; equal for 0/1 targets"),
        Row("FocalLoss(use_softmax=True, alpha=a)",
            'ML.FocalLoss(use_softmax=True, to_onehot_y=True, alpha=0.25, reduction="none")'
            "(x, labels[:, None]).sum(1)",
            'VF.focal_loss(x, labels, mode="multiclass", alpha=torch.tensor([0.75, 0.25, 0.25, 0.25]), '
            'reduction="none")',
            "a scalar alpha weighs class 0 by 1 - a and the others by a; MONAI's map is "
            "(N, C, H, W), 0 outside the target channel, so its mean is ours divided by C"),
        Row("SoftclDiceLoss(sigmoid=True), one channel",
            'ML.SoftclDiceLoss(sigmoid=True, reduction="none")(bx, by)',
            'VF.soft_cldice_loss(bx, by, mode="binary", reduction="none").squeeze(1)',
            "same soft skeleton and smooth=1; MONAI adds 1e-4 to the harmonic mean's "
            "denominator and pools the classes of a sample (ours is per class: equal for one "
            "channel)", rtol=1e-3, atol=2e-4),
        Row("HausdorffDTLoss(include_background=True), binary",
            'ML.HausdorffDTLoss(sigmoid=True, include_background=True, reduction="none")'
            "(bx, by).flatten()",
            'VF.hausdorff_dt_loss(bx, by, mode="binary", reduction="none").flatten()',
            "the same distance fields (MONAI's from SciPy on the host, ours exact in PyTorch "
            "on the device)"),
        Row("HausdorffDTLoss(softmax=True, include_background=False)",
            "ML.HausdorffDTLoss(softmax=True, to_onehot_y=True)(x, labels[:, None])",
            'VF.hausdorff_dt_loss(x, labels, mode="multiclass", '
            "class_weight=[0.0, 1.0, 1.0, 1.0])",
            "MONAI drops class 0 by default: class weight 0 here"),
        Row("BoxGIoULoss",
            "ML.BoxGIoULoss()(pred_boxes, true_boxes)",
            "VF.giou_loss(pred_boxes, true_boxes)",
            "xyxy boxes; eps placement differs by about 1e-7", atol=1e-6),
        Row("BoxGIoULoss, 3D boxes",
            "ML.BoxGIoULoss()(pred_boxes[:, [0, 1, 1, 2, 3, 3]], true_boxes[:, [0, 1, 1, 2, 3, 3]])",
            "VF.giou_loss(pred_boxes[:, [0, 1, 1, 2, 3, 3]], true_boxes[:, [0, 1, 1, 2, 3, 3]])",
            "MONAI's xyzxyz is our 'xyxy' read per axis (here cuboids with the y span as depth); "
            "'xywh' and 'cxcywh' are its xyzwhd and cccwhd", atol=1e-6),
        Row("ContrastiveLoss (MONAI's NT-Xent)",
            "ML.ContrastiveLoss(temperature=0.5)(emb[:6], emb[6:])",
            "VF.nt_xent_loss(emb[:6], emb[6:], temperature=0.5)",
            "the same two-view SimCLR loss, mean over the 2N rows"),
        Row("PatchAdversarialLoss(criterion='bce'), multi-scale list",
            "ML.PatchAdversarialLoss(criterion='bce')([bx, x], target_is_real=True, "
            "for_discriminator=False)",
            "VF.generator_loss([bx, x])",
            "the non-saturating loss, mean of the per-scale means; the discriminator's real and "
            "fake calls add up to `VF.discriminator_loss(reals, fakes)`; `least_squares` (with "
            "`no_activation_leastsq=True`) is twice `kind='lsgan'`; MONAI's hinge applies tanh "
            "first"),
    ),
    gaps=(
        Gap("smooth_nr != smooth_dr",
            "one `smooth` goes to numerator and denominator alike (MONAI's default, both 1e-5, "
            "is the first row); distinct terms have no equivalent yet"),
        Gap("other_act=...", "only softmax and sigmoid (or probabilities with from_logits=False)"),
        Gap("MaskedDiceLoss", "no masked Dice; with integer targets, set the masked-out pixels "
            "to `ignore_index` and they leave every sum", missing="masked_dice_loss"),
        Gap("PerceptualLoss, SSIMLoss, registration losses (BendingEnergy, LNCC, GMI)",
            "registration losses not provided; visionloss's `ssim_loss` follows pytorch-msssim's "
            "conventions; MONAI's PerceptualLoss downloads its networks (LPIPS, RadImageNet, "
            "MedicalNet), visionloss's `perceptual_loss` takes a feature extractor you supply"),
        Gap("DeepSupervisionLoss", "sum the losses of each head with `CombinedLoss` or "
            "`build_loss`"),
    ),
)

# --- segmentation_models_pytorch ----------------------------------------------------------------

SMP = Peer(
    key="smp",
    title="segmentation_models_pytorch",
    package="segmentation-models-pytorch",
    checked="0.6.0",
    imports="import segmentation_models_pytorch.losses as SL",
    names=("SL",),
    intro=(
        "smp's losses pool the batch into one set of per-class sums (our ``batch_dice=True``), "
        "use ``smooth=0`` with a clamp at ``eps=1e-7``, and set the loss of a class absent from "
        "the target to 0 before averaging. On the sample every class is present, so those "
        "conventions meet ours."
    ),
    notes=(
        "The test runs smp's own code: its ``losses`` subpackage is loaded without the package's "
        "``__init__``, which imports timm and torchvision (torchvision does not import with the "
        "CPU torch of the test environment). Set-up installs it with ``--no-deps``.",
    ),
    rows=(
        Row('DiceLoss(mode="multiclass")',
            'SL.DiceLoss(mode="multiclass")(x, labels)',
            'VF.dice_loss(x, labels, mode="multiclass", batch_dice=True, smooth=0.0)',
            "smp zeroes the loss of classes absent from the target; ours counts them"),
        Row('DiceLoss(mode="multilabel")',
            'SL.DiceLoss(mode="multilabel")(x, onehot)',
            'VF.dice_loss(x, onehot, mode="multilabel", batch_dice=True, smooth=0.0)'),
        Row('DiceLoss(mode="binary")',
            'SL.DiceLoss(mode="binary")(bx, by)',
            'VF.dice_loss(bx, by, mode="binary", batch_dice=True, smooth=0.0)'),
        Row("DiceLoss(smooth=s, log_loss=True)",
            'SL.DiceLoss(mode="multiclass", smooth=1.0, log_loss=True)(x, labels)',
            'VF.dice_loss(x, labels, mode="multiclass", batch_dice=True, smooth=2.0, '
            "log_loss=True)",
            "smp computes Dice as I / (I + FP/2 + FN/2) and adds smooth there: its s is our "
            "2 s (for Jaccard and Tversky the two smooths are the same)"),
        Row("DiceLoss(classes=[...])",
            'SL.DiceLoss(mode="multiclass", classes=[1, 2, 3])(x, labels)',
            'VF.dice_loss(x, labels, mode="multiclass", batch_dice=True, smooth=0.0, '
            "class_weight=torch.tensor([0.0, 1.0, 1.0, 1.0]))",
            "the classes kept get weight 1, the others 0"),
        Row('JaccardLoss(mode="multiclass")',
            'SL.JaccardLoss(mode="multiclass")(x, labels)',
            'VF.jaccard_loss(x, labels, mode="multiclass", batch_dice=True, smooth=0.0)'),
        Row("TverskyLoss(alpha, beta, gamma), binary",
            'SL.TverskyLoss(mode="binary", alpha=0.3, beta=0.7, gamma=0.75)(bx, by)',
            'VF.focal_tversky_loss(bx, by, mode="binary", alpha=0.3, beta=0.7, gamma=0.75, '
            "batch_dice=True, smooth=0.0)",
            "smp raises the class mean to gamma, ours each class: equal for one class"),
        Row("TverskyLoss(alpha, beta), multiclass, gamma=1",
            'SL.TverskyLoss(mode="multiclass", alpha=0.3, beta=0.7, gamma=1.0)(x, labels)',
            'VF.tversky_loss(x, labels, mode="multiclass", alpha=0.3, beta=0.7, '
            "batch_dice=True, smooth=0.0)"),
        Row('FocalLoss(mode="binary")',
            'SL.FocalLoss(mode="binary", alpha=0.25, gamma=2.0)(bx, by)',
            'VF.focal_loss(bx, by, mode="binary", alpha=0.25, gamma=2.0)'),
        Row('FocalLoss(mode="multiclass") (one-vs-all)',
            'SL.FocalLoss(mode="multiclass", gamma=2.0)(x, labels)',
            'VF.focal_loss(x, onehot, mode="multilabel", gamma=2.0)',
            "smp's multiclass focal is a sigmoid focal loss per class on the one-hot target, "
            "averaged over the classes (0.6): our multilabel mode on the one-hot target"),
        Row('LovaszLoss(mode="binary")',
            'SL.LovaszLoss(mode="binary", per_image=True)(bx.float(), by.float())',
            "VF.lovasz_hinge_loss(bx, by, per_image=True)",
            "smp's Lovasz code runs in float32 only"),
        Row('LovaszLoss(mode="multiclass")',
            'SL.LovaszLoss(mode="multiclass")(x.float(), labels)',
            'VF.lovasz_softmax_loss(x, labels, classes="present")'),
        Row("SoftBCEWithLogitsLoss(smooth_factor=s)",
            "SL.SoftBCEWithLogitsLoss(smooth_factor=0.1)(bx, by)",
            "VF.binary_cross_entropy(bx, by, label_smoothing=0.2)",
            "smp moves targets to s and 1 - s, ours to s/2 and 1 - s/2: label_smoothing = 2 s"),
        Row("MCCLoss",
            "SL.MCCLoss()(torch.sigmoid(bx), by)",
            'VF.mcc_loss(bx, by, mode="binary", batch_dice=True, smooth=0.0)',
            "smp takes probabilities, pools the batch (our batch_dice) and adds eps=1e-5 to "
            "each soft count", rtol=1e-4, atol=1e-5),
        Row("SoftCrossEntropyLoss(smooth_factor=s)",
            "SL.SoftCrossEntropyLoss(smooth_factor=0.1)(x, labels)",
            "VF.cross_entropy(x, labels, label_smoothing=0.1)"),
    ),
    gaps=(
        Gap("absent classes zeroed", "ours counts a class absent from the target (its loss is "
            "about 1 with a small smooth); drop it with class_weight if you want smp's rule"),
        Gap("FocalLoss(normalized=True, reduced_threshold=...)",
            "our `normalize=True` divides by the positive count (RetinaNet), not by the sum of "
            "focal terms; no reduced threshold"),
    ),
)

# --- kornia --------------------------------------------------------------------------------------

KORNIA = Peer(
    key="kornia",
    title="kornia",
    package="kornia",
    checked="0.9.0",
    imports="import kornia.losses as KL",
    names=("KL",),
    intro=(
        "kornia puts its ``eps`` in the denominator only (``1 - 2I / (P + G + eps)``), where "
        "visionloss adds ``smooth`` to both terms: with ``smooth=0`` the two differ by "
        "about eps / (P + G), far below float32 resolution. kornia's multiclass focal loss "
        "returns a (N, C, H, W) map, which is 0 outside the target channel."
    ),
    rows=(
        Row('dice_loss(average="macro")',
            'KL.dice_loss(x, labels, average="macro")',
            'VF.dice_loss(x, labels, mode="multiclass", smooth=0.0)',
            "per sample and class, mean over classes (every class present)"),
        Row('dice_loss(average="micro")',
            'KL.dice_loss(x, labels, average="micro")',
            'VF.generalized_dice_loss(x, labels, mode="multiclass", weight_type="uniform", '
            "smooth=0.0)",
            "the classes pooled"),
        Row("tversky_loss(alpha, beta)",
            "KL.tversky_loss(x, labels, alpha=0.3, beta=0.7)",
            'VF.tversky_loss(x, labels, mode="multiclass", alpha=0.3, beta=0.7, smooth=0.0)'),
        Row("focal_loss(alpha=a)",
            'KL.focal_loss(x, labels, alpha=0.25, gamma=2.0, reduction="none").sum(1)',
            'VF.focal_loss(x, labels, mode="multiclass", alpha=torch.tensor([0.75, 0.25, 0.25, 0.25]), '
            'gamma=2.0, reduction="none")',
            "a scalar alpha weighs class 0 by 1 - a, the others by a"),
        Row('focal_loss(weight=w, reduction="sum")',
            'KL.focal_loss(x, labels, alpha=None, weight=torch.tensor([0.5, 1.0, 2.0, 0.1], '
            'dtype=torch.float64), reduction="sum")',
            'VF.focal_loss(x, labels, mode="multiclass", alpha=torch.tensor([0.5, 1.0, 2.0, 0.1]), '
            'reduction="sum")',
            'kornia\'s "mean" divides by N C H W, ours by N H W'),
        Row("binary_focal_loss_with_logits",
            'KL.binary_focal_loss_with_logits(bx, by, alpha=0.25, gamma=2.0, reduction="mean")',
            'VF.focal_loss(bx, by, mode="binary", alpha=0.25, gamma=2.0)',
            "equal for 0/1 targets"),
        Row("lovasz_softmax_loss",
            "KL.lovasz_softmax_loss(x, labels)",
            'VF.lovasz_softmax_loss(x, labels, per_image=True, classes="all")'),
        Row("lovasz_hinge_loss",
            "KL.lovasz_hinge_loss(bx, by[:, 0].long())",
            "VF.lovasz_hinge_loss(bx, by)",
            "kornia's target has no channel dim"),
        Row('ssim_loss(padding="valid")',
            'KL.ssim_loss(img1, img2, 5, max_val=1.0, eps=0.0, padding="valid") * 2',
            "VF.ssim_loss(img1, img2, window_size=5, data_range=1.0)",
            "kornia's loss is (1 - SSIM) / 2 and pads to the input size by default; ours is "
            "1 - SSIM on the valid map", atol=1e-5),
        Row("total_variation",
            "KL.total_variation(img1).sum(-1).mean()",
            "VF.total_variation_loss(img1)",
            "kornia keeps one value per (image, channel); ours sums the channels, one per image"),
        Row('total_variation(reduction="sum")',
            'KL.total_variation(vol1.flatten(1, 2), reduction="sum").sum()',
            'VF.total_variation_loss(vol1.flatten(1, 2).unsqueeze(2), reduction="sum")',
            "kornia differences only the last two axes; ours every spatial axis of a volume, so "
            "kornia's slice-wise TV is ours over a depth of 1"),
        Row("js_div_loss_2d",
            "KL.js_div_loss_2d(x.flatten(2).softmax(-1).view_as(x), "
            "x.flip(1).flatten(2).softmax(-1).view_as(x))",
            "VF.js_divergence(x.flatten(2), x.flip(1).flatten(2), dim=-1)",
            "kornia takes spatial probability heatmaps; ours logits (or probabilities with "
            "from_logits=False) along dim: flatten H, W"),
        Row("charbonnier_loss",
            'KL.charbonnier_loss(res, zeros, reduction="mean")',
            "VF.charbonnier_loss(res, zeros, eps=1.0)",
            "kornia's is sqrt(d^2 + 1) - 1: Barron's alpha = 1"),
        Row("cauchy_loss",
            'KL.cauchy_loss(res, zeros, reduction="mean")',
            "VF.robust_loss(res, zeros, alpha=0.0)"),
        Row("geman_mcclure_loss",
            'KL.geman_mcclure_loss(res, zeros, reduction="mean")',
            "VF.robust_loss(res, zeros, alpha=-2.0)"),
        Row("welsch_loss",
            'KL.welsch_loss(res, zeros, reduction="mean")',
            'VF.robust_loss(res, zeros, alpha=float("-inf"))'),
    ),
    gaps=(
        Gap("psnr_loss", "not provided (use -10 log10(mse_loss) if needed)",
            missing="psnr_loss"),
        Gap("MS_SSIMLoss", "kornia's blends MS-SSIM with an L1 term and uses its own scales; "
            "`ms_ssim_loss` follows pytorch-msssim"),
        Gap("HausdorffERLoss", "the erosion-based variant is not provided; "
            "`hausdorff_dt_loss` is the distance-transform variant of the same paper (Karimi "
            "and Salcudean)"),
        Gap("kl_div_loss_2d, js_div_loss_2d", "no heatmap form: flatten the spatial dims and "
            "pass `dim=-1` to `kl_divergence` or `js_divergence` (see the `js_div_loss_2d` row)"),
        Gap("inverse_depth_smoothness_loss, mutual_information_loss", "not provided"),
    ),
)

# --- torchvision.ops -----------------------------------------------------------------------------

TORCHVISION = Peer(
    key="torchvision",
    title="torchvision.ops",
    package="torchvision",
    checked="0.28 (formulas transcribed)",
    imports="import torchvision.ops as tvops",
    names=("tvops",),
    source="transcribed",
    intro=(
        "torchvision's box losses take xyxy boxes and ``reduction='none'`` by default; "
        "visionloss's take ``reduction='mean'`` by default and a ``box_format``. Both compute "
        "CIoU's alpha without gradient and with no IoU > 0.5 gate."
    ),
    notes=(
        "torchvision does not import with the CPU torch of the test environment: the test checks "
        "each row against a line-by-line re-implementation of the torchvision functions, written "
        "in ``tests/peers/test_migration.py``, not against torchvision itself.",
    ),
    rows=(
        Row("sigmoid_focal_loss(alpha=0.25, gamma=2)",
            "tvops.sigmoid_focal_loss(bx, by)",
            'VF.focal_loss(bx, by, mode="binary", alpha=0.25, reduction="none")'),
        Row("sigmoid_focal_loss(alpha=-1)",
            'tvops.sigmoid_focal_loss(bx, by, alpha=-1, gamma=1.5, reduction="mean")',
            'VF.focal_loss(bx, by, mode="binary", alpha=None, gamma=1.5)',
            "alpha < 0 switches the class weighting off: alpha=None"),
        Row("generalized_box_iou_loss",
            "tvops.generalized_box_iou_loss(pred_boxes, true_boxes)",
            'VF.giou_loss(pred_boxes, true_boxes, reduction="none")',
            "eps sits in different places; equal to about 1e-7"),
        Row("distance_box_iou_loss",
            'tvops.distance_box_iou_loss(pred_boxes, true_boxes, reduction="mean")',
            "VF.diou_loss(pred_boxes, true_boxes)"),
        Row("complete_box_iou_loss",
            'tvops.complete_box_iou_loss(pred_boxes, true_boxes, reduction="sum")',
            'VF.ciou_loss(pred_boxes, true_boxes, reduction="sum")', atol=1e-5),
        Row("box_convert",
            'tvops.box_convert(true_boxes, in_fmt="xyxy", out_fmt="cxcywh")',
            'VF.box_convert(true_boxes, in_fmt="xyxy", out_fmt="cxcywh")',
            "and box_format='cxcywh' on every box loss skips the conversion"),
        Row("box_iou",
            "tvops.box_iou(pred_boxes, true_boxes)",
            "VF.box_iou(pred_boxes, true_boxes)",
            "the (N, M) matrix for matching; I / (U + 1e-7) where torchvision has I / U (two "
            "zero-area boxes: 0, not NaN); 3D boxes (N, 6) too"),
        Row("generalized_box_iou",
            "tvops.generalized_box_iou(pred_boxes, true_boxes)",
            "VF.generalized_box_iou(pred_boxes, true_boxes)",
            "the (N, M) GIoU matrix (DETR's matching cost); a box_format option skips the "
            "conversion"),
    ),
)

# --- pytorch-metric-learning ---------------------------------------------------------------------

PML = Peer(
    key="pml",
    title="pytorch-metric-learning",
    package="pytorch-metric-learning",
    checked="2.9.0",
    imports="from pytorch_metric_learning import distances, losses, miners, reducers",
    names=("distances", "losses", "miners", "reducers"),
    intro=(
        "pytorch-metric-learning splits a loss into a distance, a miner and a reducer. "
        "``LpDistance`` normalises embeddings unless told not to; visionloss never normalises "
        "(normalise first if you want it). Its default reducer, ``AvgNonZeroReducer``, averages "
        "over the triplets with a positive loss: that is our ``batch_all``; our ``batch_hard`` "
        "averages over every anchor that has a positive and a negative, as pml's ``MeanReducer``."
    ),
    rows=(
        Row("TripletMarginLoss() (all triplets, AvgNonZeroReducer)",
            "losses.TripletMarginLoss(margin=0.5, "
            "distance=distances.LpDistance(normalize_embeddings=False))(emb, emb_labels)",
            'VF.batch_triplet_loss(emb, emb_labels, margin=0.5, mining="batch_all")'),
        Row("BatchHardMiner + MeanReducer",
            "losses.TripletMarginLoss(margin=0.5, "
            "distance=distances.LpDistance(normalize_embeddings=False), "
            "reducer=reducers.MeanReducer())(emb, emb_labels, miners.BatchHardMiner("
            "distance=distances.LpDistance(normalize_embeddings=False))(emb, emb_labels))",
            'VF.batch_triplet_loss(emb, emb_labels, margin=0.5, mining="batch_hard")'),
        Row("LpDistance() (normalised, the default)",
            "losses.TripletMarginLoss(margin=0.2)(emb, emb_labels)",
            'VF.batch_triplet_loss(F.normalize(emb, dim=1), emb_labels, margin=0.2, '
            'mining="batch_all")'),
        Row("LpDistance(power=2)",
            "losses.TripletMarginLoss(margin=0.5, "
            "distance=distances.LpDistance(normalize_embeddings=False, power=2))"
            "(emb, emb_labels)",
            'VF.batch_triplet_loss(emb, emb_labels, margin=0.5, mining="batch_all", '
            'distance="squared_euclidean")'),
        Row("CosineSimilarity()",
            "losses.TripletMarginLoss(margin=0.1, distance=distances.CosineSimilarity())"
            "(emb, emb_labels)",
            'VF.batch_triplet_loss(emb, emb_labels, margin=0.1, mining="batch_all", '
            'distance="cosine")',
            "pml's margin on similarities equals ours on 1 - cos"),
        Row("smooth_loss=True (margin 0)",
            "losses.TripletMarginLoss(margin=0.0, smooth_loss=True, "
            "distance=distances.LpDistance(normalize_embeddings=False))(emb, emb_labels)",
            'VF.batch_triplet_loss(emb, emb_labels, mining="batch_all", soft_margin=True)'),
        Row("NTXentLoss (two views concatenated, labels marking the pairs)",
            "losses.NTXentLoss(temperature=0.5)(emb, torch.arange(6).repeat(2))",
            "VF.nt_xent_loss(emb[:6], emb[6:], temperature=0.5)",
            "ours takes the two views apart; pml's default temperature is 0.07, ours SimCLR's 0.5"),
        Row("SupConLoss",
            "losses.SupConLoss(temperature=0.1)(emb, emb_labels)",
            "VF.supervised_contrastive_loss(emb, emb_labels, temperature=0.1)",
            "anchors without a positive are left out of the mean in both"),
        Row("ArcFaceLoss (weight W of shape (D, C), margin in degrees)",
            "(lambda m: (setattr(m.W, 'data', torch.eye(4, 6, dtype=torch.float64)), "
            "m(emb, emb_labels))[1])(losses.ArcFaceLoss(6, 4, margin=28.6, scale=64).double())",
            "VF.arcface_loss(emb, emb_labels, torch.eye(4, 6, dtype=torch.float64).T, "
            "margin=28.6 * torch.pi / 180, scale=64.0)",
            "centers = W.T; pml's margin is in degrees (28.6 ~ 0.5 rad)"),
        Row("CosFaceLoss",
            "(lambda m: (setattr(m.W, 'data', torch.eye(4, 6, dtype=torch.float64)), "
            "m(emb, emb_labels))[1])(losses.CosFaceLoss(6, 4, margin=0.35, scale=64).double())",
            "VF.cosface_loss(emb, emb_labels, torch.eye(4, 6, dtype=torch.float64).T, "
            "margin=0.35, scale=64.0)",
            "centers = W.T"),
        Row("MultiSimilarityLoss (every pair)",
            "losses.MultiSimilarityLoss(alpha=2, beta=50, base=0.5)(emb, emb_labels)",
            "VF.multi_similarity_loss(emb, emb_labels, mining=False)"),
        Row("MultiSimilarityLoss + MultiSimilarityMiner(epsilon=0.1)",
            "losses.MultiSimilarityLoss()(emb, emb_labels, "
            "miners.MultiSimilarityMiner(epsilon=0.1)(emb, emb_labels))",
            "VF.multi_similarity_loss(emb, emb_labels, epsilon=0.1)",
            "our mining=True (the default) is pml's miner"),
    ),
    gaps=(
        Gap("ContrastiveLoss(pos_margin, neg_margin)", "ours is Hadsell et al.'s squared, halved "
            "form on explicit pairs, 0.5 [y d^2 + (1 - y) relu(m - d)^2]; pml's hinges are not "
            "squared and it mines pairs from a batch"),
        Gap("TripletMarginMiner(type_of_triplets='semihard')", "our semi_hard keeps one negative "
            "per positive pair (the closest farther one), pml every negative in the window"),
        Gap("ThresholdReducer, ClassWeightedReducer, PerAnchorReducer, DivisorReducer",
            "reduce the `reduction='none'` result yourself"),
        Gap("CircleLoss, ProxyAnchorLoss, LiftedStructureLoss and the other proxy losses",
            "not provided"),
    ),
)

# --- pytorch-msssim ------------------------------------------------------------------------------

MSSSIM = Peer(
    key="msssim",
    title="pytorch-msssim",
    package="pytorch-msssim",
    checked="1.0.0",
    imports="import pytorch_msssim",
    names=("pytorch_msssim",),
    intro=(
        "pytorch-msssim returns the similarity; visionloss returns the loss 1 - SSIM with the "
        "same Gaussian window, valid convolution and constants. The window's channels come from "
        "the input, so there is no ``channel`` argument. Its float32 window makes the two agree "
        "to about 1e-6."
    ),
    rows=(
        Row("ssim(X, Y, data_range=1)",
            "1 - pytorch_msssim.ssim(img1, img2, data_range=1.0)",
            "VF.ssim_loss(img1, img2, data_range=1.0)", atol=1e-5),
        Row("size_average=False",
            "1 - pytorch_msssim.ssim(img1, img2, data_range=1.0, size_average=False)",
            'VF.ssim_loss(img1, img2, reduction="none")', atol=1e-5),
        Row("win_size, win_sigma, K",
            "1 - pytorch_msssim.ssim(img1, img2, data_range=1.0, win_size=7, win_sigma=1.0, "
            "K=(0.02, 0.05))",
            "VF.ssim_loss(img1, img2, window_size=7, sigma=1.0, k1=0.02, k2=0.05)", atol=1e-5),
        Row("data_range=255",
            "1 - pytorch_msssim.ssim(img1 * 255, img2 * 255, data_range=255)",
            "VF.ssim_loss(img1 * 255, img2 * 255, data_range=255.0)", atol=1e-5),
        Row("SSIM(channel=3) Module",
            "1 - pytorch_msssim.SSIM(data_range=1.0, channel=3)(img1, img2)",
            "visionloss.SSIMLoss()(img1, img2)", atol=1e-5),
        Row("5D input (volumes)",
            "1 - pytorch_msssim.ssim(vol1, vol2, data_range=1.0, win_size=5)",
            "VF.ssim_loss(vol1, vol2, window_size=5)", atol=1e-5),
        Row("ms_ssim(weights=...)",
            "1 - pytorch_msssim.ms_ssim(big1, big2, data_range=1.0, win_size=5, "
            "weights=[0.2, 0.3, 0.5])",
            "VF.ms_ssim_loss(big1, big2, window_size=5, scale_weights=[0.2, 0.3, 0.5])", atol=1e-5),
        Row("MS_SSIM Module",
            "1 - pytorch_msssim.MS_SSIM(data_range=1.0, channel=1, win_size=5, "
            "weights=[0.2, 0.3, 0.5])(big1, big2)",
            "visionloss.MSSSIMLoss(window_size=5, scale_weights=[0.2, 0.3, 0.5])(big1, big2)",
            atol=1e-5),
    ),
    gaps=(
        Gap("nonnegative_ssim=True", "not provided: our SSIM keeps negative contrast terms"),
        Gap("win=<custom window>", "only the Gaussian window of `window_size` and `sigma`"),
    ),
)

#: every peer, in the order of the docs
PEERS: tuple[Peer, ...] = (MONAI, SMP, KORNIA, TORCHVISION, PML, MSSSIM)
