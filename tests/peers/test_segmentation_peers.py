"""Segmentation family against MONAI and kornia (written against monai 1.6.1 and kornia 0.9.0).

Where their conventions meet ours:

* MONAI ``DiceLoss``/``TverskyLoss``/``GeneralizedDiceLoss``: ``1 - (2 I + smooth_nr) /
  (P + G + smooth_dr)``, both 1e-5 by default, per sample and class, every class counted
  (``include_background=True``), ``batch=True`` is our ``batch_dice``, ``squared_pred`` our
  ``squared`` (both square the target too, V-Net's form, so soft targets agree as well). Its generalized Dice gives
  an absent class the largest weight of the sample, ours 0: compared where every class is present.
* kornia ``dice_loss``: no smoothing on the numerator and ``eps=1e-8`` on the denominator;
  ``average="macro"`` averages over the classes present in each sample (ours with ``smooth=0``
  and every class present), ``"micro"`` pools the classes (our generalized Dice with
  ``weight_type="uniform"``). ``tversky_loss``: the same, ``I / (I + a FP + b FN + eps)``.
  ``lovasz_softmax_loss``: per image, every class (our ``per_image=True, classes="all"``);
  ``lovasz_hinge_loss``: per image, target without the channel dim.
"""

from __future__ import annotations

import pytest
import torch

import visionloss.functional as VF
from visionloss._core.memory import saved_bytes
from visionloss.kernels import set_kernels

monai = pytest.importorskip("monai")
kornia = pytest.importorskip("kornia")
import kornia.losses as KL  # noqa: E402
from monai.losses import (  # noqa: E402
    DiceCELoss,
    DiceFocalLoss,
    DiceLoss,
    GeneralizedDiceLoss,
    TverskyLoss,
)


def _batch(seed, n=3, c=4, spatial=(6, 7), all_present=True, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, c, *spatial, generator=gen) * 2).to(dtype)
    t = torch.randint(0, c, (n, *spatial), generator=gen)
    if all_present:
        t.view(n, -1)[:, :c] = torch.arange(c)
    return x, t


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ({}, {}),
        ({"batch_dice": True}, {"batch": True}),
        ({"squared": True}, {"squared_pred": True}),
        ({"smooth": 1.0}, {"smooth_nr": 1.0, "smooth_dr": 1.0}),
    ],
)
def test_dice_matches_monai(fused, ours, theirs):
    set_kernels(fused)
    x, t = _batch(0, all_present=False)
    got = VF.dice_loss(x, t, mode="multiclass", reduction="none", **ours)
    expected = DiceLoss(softmax=True, to_onehot_y=True, reduction="none", **theirs)(
        x, t.unsqueeze(1)
    )
    torch.testing.assert_close(got, expected.reshape(got.shape), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fused", [True, False])
def test_squared_dice_with_soft_targets_matches_monai(fused):
    # MONAI's squared_pred: sum p^2 + sum g^2 in the denominator, as ours since the V-Net change
    set_kernels(fused)
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(2, 3, 5, 6, generator=gen) * 2
    y = torch.rand(2, 3, 5, 6, generator=gen)
    got = VF.dice_loss(x, y, mode="multilabel", squared=True, reduction="none")
    expected = DiceLoss(sigmoid=True, squared_pred=True, reduction="none")(x, y)
    torch.testing.assert_close(got, expected.reshape(got.shape), rtol=1e-5, atol=1e-6)
    y = y.softmax(1)
    got = VF.dice_loss(x, y, mode="multiclass", squared=True, reduction="none")
    expected = DiceLoss(softmax=True, squared_pred=True, reduction="none")(x, y)
    torch.testing.assert_close(got, expected.reshape(got.shape), rtol=1e-5, atol=1e-6)


def test_dice_3d_multilabel_and_jaccard_match_monai():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 4, 5, 6, generator=gen)  # a 3D volume
    y = torch.randint(0, 2, (2, 3, 4, 5, 6), generator=gen)
    got = VF.dice_loss(x, y, mode="multilabel", reduction="none")
    expected = DiceLoss(sigmoid=True, reduction="none")(x, y.float())
    torch.testing.assert_close(got, expected.reshape(got.shape), rtol=1e-5, atol=1e-6)
    got = VF.jaccard_loss(x, y, mode="multilabel")
    expected = DiceLoss(sigmoid=True, jaccard=True)(x, y.float())
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("alpha", "beta"), [(0.5, 0.5), (0.3, 0.7), (0.9, 0.1)])
def test_tversky_matches_monai(alpha, beta):
    x, t = _batch(2, all_present=False)
    got = VF.tversky_loss(x, t, mode="multiclass", alpha=alpha, beta=beta, reduction="none")
    expected = TverskyLoss(
        softmax=True, to_onehot_y=True, alpha=alpha, beta=beta, reduction="none"
    )(x, t.unsqueeze(1))
    torch.testing.assert_close(got, expected.reshape(got.shape), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("weight_type", ["square", "simple", "uniform"])
@pytest.mark.parametrize("batch", [False, True])
def test_generalized_dice_matches_monai_when_every_class_is_present(weight_type, batch):
    x, t = _batch(3)
    got = VF.generalized_dice_loss(
        x, t, mode="multiclass", weight_type=weight_type, batch_dice=batch
    )
    expected = GeneralizedDiceLoss(softmax=True, to_onehot_y=True, w_type=weight_type, batch=batch)(
        x, t.unsqueeze(1)
    )
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_dice_and_tversky_match_kornia():
    x, t = _batch(4)
    # kornia: 1 - 2 I / (P + G + 1e-8), mean over the (all present) classes, then the batch
    torch.testing.assert_close(
        VF.dice_loss(x, t, mode="multiclass", smooth=0.0),
        KL.dice_loss(x, t, average="macro"),
        rtol=1e-5,
        atol=1e-6,
    )
    # "micro": the classes pooled, our generalized Dice with uniform weights
    torch.testing.assert_close(
        VF.generalized_dice_loss(x, t, mode="multiclass", weight_type="uniform", smooth=0.0),
        KL.dice_loss(x, t, average="micro"),
        rtol=1e-5,
        atol=1e-6,
    )
    torch.testing.assert_close(
        VF.tversky_loss(x, t, mode="multiclass", alpha=0.3, beta=0.7, smooth=0.0),
        KL.tversky_loss(x, t, alpha=0.3, beta=0.7),
        rtol=1e-5,
        atol=1e-6,
    )


def test_lovasz_matches_kornia():
    x, t = _batch(5, all_present=False)
    torch.testing.assert_close(
        VF.lovasz_softmax_loss(x, t, per_image=True, classes="all"),
        KL.lovasz_softmax_loss(x, t),
        rtol=1e-5,
        atol=1e-6,
    )
    logits = x[:, :1]
    labels = (t > 1).long()
    torch.testing.assert_close(
        VF.lovasz_hinge_loss(logits, labels.unsqueeze(1)),
        KL.lovasz_hinge_loss(logits, labels),
        rtol=1e-5,
        atol=1e-6,
    )


def test_lovasz_gradients_match_kornia():
    x, t = _batch(6, all_present=False)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    VF.lovasz_softmax_loss(x1, t, per_image=True, classes="all").backward()
    KL.lovasz_softmax_loss(x2, t).backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=1e-7)


def test_dice_ce_and_dice_focal_match_monai():
    x, t = _batch(7, all_present=False)
    torch.testing.assert_close(
        VF.dice_ce_loss(x, t, lambda_dice=0.4, lambda_ce=1.5),
        DiceCELoss(softmax=True, to_onehot_y=True, lambda_dice=0.4, lambda_ce=1.5)(
            x, t.unsqueeze(1)
        ),
        rtol=1e-5,
        atol=1e-6,
    )
    y = torch.randint(0, 2, x.shape, generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(
        VF.dice_focal_loss(x, y, mode="multilabel", gamma=2.0, lambda_focal=0.7),
        DiceFocalLoss(sigmoid=True, gamma=2.0, lambda_focal=0.7)(x, y.float()),
        rtol=1e-5,
        atol=1e-6,
    )


def test_saved_bytes_at_least_5x_below_monai():
    # the case: 8x6x128x128 logits, integer targets
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 6, 128, 128, generator=gen, requires_grad=True)
    t = torch.randint(0, 6, (8, 128, 128), generator=gen)
    ours = saved_bytes(lambda: VF.dice_loss(x, t, mode="multiclass"), [x, t])
    monai_loss = DiceLoss(softmax=True, to_onehot_y=True)
    target = t.unsqueeze(1)
    theirs = saved_bytes(lambda: monai_loss(x, target), [x, t, target])
    print(f"\nsaved for backward: visionloss {ours} B, MONAI {theirs} B")
    assert theirs >= x.numel() * 4  # MONAI keeps at least the softmax (and its one-hot products)
    assert ours * 5 <= theirs


@pytest.mark.parametrize("spatial", [(9, 10), (6, 7, 8)])
def test_soft_skeleton_and_cldice_match_monai(spatial):
    # the skeleton is the same composition of pools: equal to rounding; the loss differs by
    # MONAI's 1e-4 in the harmonic mean's denominator
    from monai.losses import SoftclDiceLoss
    from monai.losses.cldice import soft_skel

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 1, *spatial, generator=gen, dtype=torch.float64) * 2
    y = (torch.rand(3, 1, *spatial, generator=gen) < 0.4).double()
    p = torch.sigmoid(x)
    torch.testing.assert_close(VF.soft_skeleton(p, 3), soft_skel(p, 3))
    theirs = SoftclDiceLoss(sigmoid=True, reduction="none")(x, y)
    ours = VF.soft_cldice_loss(x, y, mode="binary", reduction="none").squeeze(1)
    torch.testing.assert_close(ours, theirs, rtol=1e-3, atol=2e-4)
    # one class of a multiclass input: MONAI pools the classes, so compare class by class
    xm, tm = _batch(1, c=3, spatial=spatial)
    onehot = torch.nn.functional.one_hot(tm, 3).movedim(-1, 1).float()
    ours = VF.soft_cldice_loss(xm, tm, mode="multiclass", iterations=2, reduction="none")
    probs = xm.softmax(1)
    for c in range(3):
        theirs = SoftclDiceLoss(iter_=2, reduction="none")(probs[:, c : c + 1], onehot[:, c : c + 1])
        torch.testing.assert_close(ours[:, c], theirs, rtol=1e-3, atol=2e-4)


@pytest.mark.parametrize("spatial", [(9, 10), (5, 6, 7)])
def test_hausdorff_dt_matches_monai(spatial):
    # MONAI computes the distance fields with SciPy on the host; ours are exact in PyTorch
    from monai.losses import HausdorffDTLoss

    x, t = _batch(2, c=3, spatial=spatial, dtype=torch.float64)
    onehot = torch.nn.functional.one_hot(t, 3).movedim(-1, 1).double()
    theirs = HausdorffDTLoss(softmax=True, include_background=True, reduction="none")(x, onehot)
    ours = VF.hausdorff_dt_loss(x, t, mode="multiclass", reduction="none")
    torch.testing.assert_close(ours, theirs.reshape(ours.shape))
    theirs = HausdorffDTLoss(sigmoid=True, alpha=1.0, reduction="none")(x, onehot)
    ours = VF.hausdorff_dt_loss(x, onehot, mode="multilabel", alpha=1.0, reduction="none")
    torch.testing.assert_close(ours[:, 1:], theirs.reshape(ours[:, 1:].shape))
