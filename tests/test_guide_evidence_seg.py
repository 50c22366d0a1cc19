"""Evidence for the guide's cards of the segmentation losses added in issue 19 (top-k
cross-entropy, MCC, clDice, boundary): each test checks one advantage or disadvantage a card
states. Expected values are derived by hand in the comments; inputs are small and deterministic.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import visionloss.functional as VF


def _grad(fn, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    fn(x, *args, **kwargs).backward()
    assert x.grad is not None
    return x.grad


def _few_hard_pixels() -> tuple[torch.Tensor, torch.Tensor]:
    # 100 pixels of class 0: 95 easy (logit margin 6, CE 0.0025) and 5 hard (margin -2, CE 2.13)
    x = torch.zeros(1, 2, 100, dtype=torch.float64)
    x[0, 0, :95] = 6.0
    x[0, 1, 95:] = 2.0
    return x, torch.zeros(1, 100, dtype=torch.long)


# --- top-k cross-entropy ------------------------------------------------------------------------


def test_topk_ce_is_not_diluted_by_easy_pixels():
    # CE averages the 5 hard pixels with 95 easy ones: about 0.05 * 2.13 = 0.11; top-5% keeps
    # only the hard ones, 2.13, about 19 times more
    x, t = _few_hard_pixels()
    hard = math.log1p(math.exp(2.0))
    ce = F.cross_entropy(x, t).item()
    topk = VF.topk_cross_entropy(x, t, k=0.05).item()
    assert topk == pytest.approx(hard)
    assert topk > 15 * ce


def test_topk_ce_gives_easy_pixels_no_gradient():
    x, t = _few_hard_pixels()
    grad = _grad(VF.topk_cross_entropy, x, t, k=0.05)
    assert torch.all(grad[..., :95] == 0)
    assert torch.all(grad[..., 95:].abs() > 0.1)


def test_topk_ce_with_k_one_is_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 6, 6, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 3, (1, 6, 6), generator=gen)
    torch.testing.assert_close(VF.topk_cross_entropy(x, t, k=1.0), F.cross_entropy(x, t))


def test_topk_ce_is_dominated_by_a_mislabelled_pixel():
    # every pixel confidently right (margin 6) except one whose label is wrong (margin -8):
    # with k = 0.05 of 100 pixels the loss is the mean of 5, the wrong pixel's CE 8.0003 / 5
    # = 1.6 of it, while CE gives it 1/100
    x = torch.zeros(1, 2, 100, dtype=torch.float64)
    x[0, 0] = 6.0
    t = torch.zeros(1, 100, dtype=torch.long)
    t[0, 0] = 1  # the wrong label
    wrong = math.log1p(math.exp(6.0))
    topk = VF.topk_cross_entropy(x, t, k=0.05).item()
    share = (wrong / 5) / topk
    assert share > 0.95
    assert F.cross_entropy(x, t).item() < wrong / 50


# --- MCC ----------------------------------------------------------------------------------------


def test_mcc_scores_a_constant_prediction_zero_whatever_the_foreground_share():
    # 90 of 100 pixels foreground; predict 0.9 everywhere: TP TN - FP FN = 0, so MCC is 0 (loss
    # 1), while Dice rewards it: 1 - 2 * 81 / (90 + 90) = 0.1
    target = torch.zeros(1, 1, 100, dtype=torch.long)
    target[..., :90] = 1
    probs = torch.full((1, 1, 100), 0.9, dtype=torch.float64)
    mcc = VF.mcc_loss(probs, target, mode="binary", from_logits=False).item()
    dice = VF.dice_loss(probs, target, mode="binary", from_logits=False).item()
    assert mcc == pytest.approx(1.0)
    assert dice == pytest.approx(0.1, abs=1e-6)


def test_mcc_is_symmetric_in_foreground_and_background_unlike_dice():
    gen = torch.Generator().manual_seed(3)
    probs = torch.rand(1, 1, 50, generator=gen, dtype=torch.float64)
    target = (torch.rand(1, 1, 50, generator=gen) < 0.2).long()
    kw = {"mode": "binary", "from_logits": False}
    mcc, mcc_swapped = VF.mcc_loss(probs, target, **kw), VF.mcc_loss(1 - probs, 1 - target, **kw)
    dice, dice_swapped = VF.dice_loss(probs, target, **kw), VF.dice_loss(1 - probs, 1 - target, **kw)
    torch.testing.assert_close(mcc, mcc_swapped)
    assert abs(dice.item() - dice_swapped.item()) > 0.2


def test_mcc_of_a_class_absent_from_the_target_is_constant():
    # no foreground in the target: MCC undefined, the loss is 1 and its gradient 0 whatever the
    # prediction, so an empty mask gives no signal to remove false positives
    target = torch.zeros(1, 1, 10, dtype=torch.long)
    for p in (0.01, 0.9):
        probs = torch.full((1, 1, 10), p, dtype=torch.float64)
        grad = _grad(VF.mcc_loss, probs, target, mode="binary", from_logits=False)
        assert VF.mcc_loss(probs, target, mode="binary", from_logits=False).item() == 1.0
        assert torch.all(grad == 0)


# --- soft clDice --------------------------------------------------------------------------------


def _bars() -> torch.Tensor:
    # a 5-pixel-wide bar (rows 2-6) and a 1-pixel line (row 10), 20 pixels long, in a 13 x 24 image
    target = torch.zeros(1, 1, 13, 24, dtype=torch.float64)
    target[..., 2:7, 2:22] = 1.0
    target[..., 10, 2:22] = 1.0
    return target


def test_cldice_tells_a_lost_thin_vessel_from_a_thinner_thick_one():
    # A misses the thin line (20 pixels); B misses one edge row of the thick bar (20 pixels):
    # Dice sees the same 20 missed pixels, clDice sees A lose a whole skeleton branch
    target = _bars()
    a, b = target.clone(), target.clone()
    a[..., 10, :] = 0.0
    b[..., 6, :] = 0.0
    kw = {"mode": "binary", "from_logits": False}
    dice_a, dice_b = VF.dice_loss(a, target, **kw), VF.dice_loss(b, target, **kw)
    cl_a, cl_b = VF.soft_cldice_loss(a, target, **kw), VF.soft_cldice_loss(b, target, **kw)
    torch.testing.assert_close(dice_a, dice_b)
    assert cl_a > 5 * cl_b
    assert cl_a > 0.2


def test_cldice_alone_accepts_a_prediction_of_only_the_centre_line():
    # predicting only the bar's centre row (and the thin line): its skeleton lies in the target
    # and covers the target's skeleton, so clDice is about 0 while Dice is large
    target = _bars()
    pred = torch.zeros_like(target)
    pred[..., 4, 2:22] = 1.0
    pred[..., 10, 2:22] = 1.0
    kw = {"mode": "binary", "from_logits": False}
    assert VF.soft_cldice_loss(pred, target, **kw).item() < 0.05
    # Dice: 2 * 40 / (40 + 120) = 0.5, a loss of 0.5
    assert VF.dice_loss(pred, target, **kw).item() == pytest.approx(0.5, abs=1e-6)


def test_soft_skeleton_of_a_thick_bar_needs_enough_iterations():
    # a 9-pixel-wide bar (radius 4): with fewer than 4 erosions its soft skeleton is empty, so
    # the bar leaves both ratios; with 4 it is the centre row (1 pixel wide across the bar)
    bar = torch.zeros(1, 1, 13, 30, dtype=torch.float64)
    bar[..., 2:11, 2:28] = 1.0
    for iterations in range(4):
        assert VF.soft_skeleton(bar, iterations).sum().item() == 0.0
    middle = VF.soft_skeleton(bar, 4)[0, 0, :, 15]
    assert int((middle > 0.5).sum()) == 1


# --- boundary loss ------------------------------------------------------------------------------


def _block(start: int, stop: int, length: int = 40) -> torch.Tensor:
    mask = torch.zeros(1, 1, length, dtype=torch.float64)
    mask[..., start:stop] = 1.0
    return mask


def test_boundary_loss_grows_with_the_distance_where_dice_is_flat():
    # target [2, 6); a predicted block of the same size, not overlapping, at growing offsets:
    # Dice is 1 at every offset (no overlap), the boundary loss is the mean distance, growing
    target = _block(2, 6)
    phi = VF.signed_distance_map(target, dtype=torch.float64)
    kw = {"mode": "binary", "from_logits": False}
    dice, boundary = [], []
    for start in (8, 14, 26):
        pred = _block(start, start + 4)
        dice.append(VF.dice_loss(pred, target, **kw).item())
        boundary.append(VF.boundary_loss(pred, phi, **kw).item())
    assert dice == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    assert boundary[0] < boundary[1] < boundary[2]
    # offset 8 -> 11: distances 3, 4, 5, 6 from the target's last pixel; mean over 40 positions
    assert boundary[0] == pytest.approx((3 + 4 + 5 + 6) / 40)


def test_boundary_loss_of_a_target_without_contour_is_zero():
    # an empty (or full) target has a zero distance map: no loss and no gradient whatever the
    # prediction, so the boundary term says nothing about false positives on empty images
    phi = VF.signed_distance_map(torch.zeros(1, 1, 10, 10))
    x = torch.randn(1, 1, 10, 10, generator=torch.Generator().manual_seed(0))
    grad = _grad(VF.boundary_loss, x, phi, mode="binary")
    assert VF.boundary_loss(x, phi, mode="binary").item() == 0.0
    assert torch.all(grad == 0)


def test_boundary_loss_minimum_depends_on_the_target_size():
    # a perfect prediction scores -sum of the interior depths / S: -1/40 for a 3-pixel target,
    # -(1 + 2 + 3 + 2 + 1)/40 for a 7-pixel one; the values are not comparable across images
    kw = {"mode": "binary", "from_logits": False}
    small, large = _block(5, 8), _block(5, 12)
    phi_small = VF.signed_distance_map(small, dtype=torch.float64)
    phi_large = VF.signed_distance_map(large, dtype=torch.float64)
    assert VF.boundary_loss(small, phi_small, **kw).item() == pytest.approx(-1 / 40)
    assert VF.boundary_loss(large, phi_large, **kw).item() == pytest.approx(-9 / 40)


# --- Hausdorff DT loss --------------------------------------------------------------------------


def _with_pixel(position: int, value: float) -> torch.Tensor:
    pred = _block(5, 10).unsqueeze(0)  # (1, 1, 1, 40): 2D for the loss
    pred[..., position] = value
    return pred


def test_hausdorff_dt_weighs_a_far_false_positive_by_its_squared_distance():
    # target [5, 10); one extra pixel next to it (index 10) or far away (index 20): Dice sees
    # one extra pixel either way; Hausdorff DT weighs it (d_P^2 + d_G^2): 1 + 1 against 1 + 121
    target = _block(5, 10).unsqueeze(0).long()
    kw = {"mode": "binary", "from_logits": False}
    near, far = _with_pixel(10, 1.0), _with_pixel(20, 1.0)
    hd_near = VF.hausdorff_dt_loss(near, target, **kw).item()
    hd_far = VF.hausdorff_dt_loss(far, target, **kw).item()
    assert hd_near == pytest.approx(2 / 40)
    assert hd_far == pytest.approx(122 / 40)
    torch.testing.assert_close(VF.dice_loss(near, target, **kw), VF.dice_loss(far, target, **kw))


def test_hausdorff_dt_jumps_when_a_probability_crosses_one_half():
    # the far pixel at 0.49 is outside the thresholded prediction (d_P = 11) and at 0.51 inside
    # it (d_P = 1): raising a false positive's probability lowers the loss, 0.49^2 * 242 / 40
    # -> 0.51^2 * 122 / 40, since the distance weights carry no gradient
    target = _block(5, 10).unsqueeze(0).long()
    kw = {"mode": "binary", "from_logits": False}
    below = VF.hausdorff_dt_loss(_with_pixel(20, 0.49), target, **kw).item()
    above = VF.hausdorff_dt_loss(_with_pixel(20, 0.51), target, **kw).item()
    assert below == pytest.approx(0.49**2 * 242 / 40)
    assert above == pytest.approx(0.51**2 * 122 / 40)
    assert above < 0.6 * below


def test_hausdorff_dt_grows_with_the_image_resolution():
    # the same scene at twice the resolution: distances double, so with alpha 2 the far false
    # positive's term is about 4 times larger (per position, after the mean)
    kw = {"mode": "binary", "from_logits": False}
    target = _block(5, 10).unsqueeze(0).long()
    pred = _with_pixel(20, 1.0)
    fine_target = target.repeat_interleave(2, -1)
    fine_pred = pred.repeat_interleave(2, -1)
    coarse = VF.hausdorff_dt_loss(pred, target, **kw).item()
    fine = VF.hausdorff_dt_loss(fine_pred, fine_target, **kw).item()
    assert fine > 3 * coarse
