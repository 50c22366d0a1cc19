"""Evidence for the guide's cards: each test checks one advantage or disadvantage that a card states.

A card names these tests by node id (``tests/test_guide_evidence.py::test_...``); if a claim were
false, its test would fail. Expected values are derived by hand in the comments; inputs are small
and deterministic, so the whole file runs in a few seconds on a CPU.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import visionloss
import visionloss.functional as VF


def _grad(fn, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    fn(x, *args, **kwargs).backward()
    assert x.grad is not None
    return x.grad


def _argmin_constant(loss, data: torch.Tensor) -> float:
    """The constant prediction that minimises ``loss`` over ``data`` (a grid search)."""
    grid = torch.linspace(float(data.min()), float(data.max()), 20001)
    values = torch.stack([loss(torch.full_like(data, float(c)), data) for c in grid])
    return float(grid[values.argmin()])


# --- regression -----------------------------------------------------------------------------------

DATA_WITH_OUTLIER = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 100.0])  # mean 18.33, median 2.5


def test_mse_outlier_pull_grows_linearly():
    # d/dx (x - y)^2 = 2 (x - y): ten times the residual, ten times the pull
    residuals = torch.tensor([1.0, 10.0, 100.0])
    grad = _grad(VF.mse_loss, residuals, torch.zeros(3), reduction="sum")
    assert torch.allclose(grad, 2 * residuals)


def test_mse_fits_the_mean_so_one_outlier_moves_it():
    best = _argmin_constant(VF.mse_loss, DATA_WITH_OUTLIER)
    assert best == pytest.approx(float(DATA_WITH_OUTLIER.mean()), abs=0.01)  # 18.33, not ~2.5


def test_mae_fits_the_median_so_one_outlier_does_not_move_it():
    best = _argmin_constant(VF.mae_loss, DATA_WITH_OUTLIER)
    assert 2.0 <= best <= 3.0  # any point between the two middle values is a median


def test_mae_gradient_does_not_shrink_near_the_target():
    # |d/dx |x - y|| = 1 at every residual: robust far away, but no slowing down close to the target
    grad = _grad(VF.mae_loss, torch.tensor([0.001, 0.1, 100.0]), torch.zeros(3), reduction="sum")
    assert torch.allclose(grad.abs(), torch.ones(3))


def test_huber_outlier_gradient_is_bounded_by_delta():
    delta = 2.0
    residuals = torch.tensor([0.5, 1.0, 3.0, 100.0, 1e4])
    grad = _grad(VF.huber_loss, residuals, torch.zeros(5), delta=delta, reduction="sum")
    assert grad.abs().max() <= delta + 1e-6
    assert torch.allclose(grad[:2], residuals[:2])  # inside delta: MSE's gradient (r)
    assert torch.allclose(grad[2:], torch.full((3,), delta))  # outside: delta * sign(r)


def test_huber_needs_delta_in_target_units():
    # the same data, rescaled by 100: with a fixed delta the loss switches regime (quadratic -> linear)
    r = torch.tensor([0.5])
    small = VF.huber_loss(r, torch.zeros(1), delta=1.0)
    large = VF.huber_loss(100 * r, torch.zeros(1), delta=1.0)
    assert small == pytest.approx(0.5 * 0.5**2)  # quadratic
    assert large == pytest.approx(50.0 - 0.5)  # linear: delta (|r| - delta / 2)
    assert float(large / small) != pytest.approx(100**2)  # not a rescaling of the same loss


def test_smooth_l1_is_huber_over_beta_with_slope_one():
    x = torch.linspace(-5, 5, 41)
    for beta in (0.5, 1.0, 2.0):
        smooth = VF.smooth_l1_loss(x, torch.zeros_like(x), beta=beta, reduction="none")
        huber = VF.huber_loss(x, torch.zeros_like(x), delta=beta, reduction="none")
        assert torch.allclose(smooth, huber / beta, atol=1e-6)
        grad = _grad(
            VF.smooth_l1_loss,
            torch.tensor([10.0, -10.0]),
            torch.zeros(2),
            beta=beta,
            reduction="sum",
        )
        assert torch.allclose(grad, torch.tensor([1.0, -1.0]))


def test_smooth_l1_on_coordinates_is_not_scale_invariant():
    # the same relative error on a box ten times bigger: Smooth L1 grows, IoU loss does not
    target = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    pred = torch.tensor([[1.0, 1.0, 11.0, 11.0]])
    assert VF.smooth_l1_loss(10 * pred, 10 * target) > 5 * VF.smooth_l1_loss(pred, target)
    assert VF.iou_loss(10 * pred, 10 * target) == pytest.approx(float(VF.iou_loss(pred, target)))


def test_log_cosh_gradient_is_tanh_smooth_and_bounded():
    r = torch.tensor([-1e4, -3.0, -1e-3, 0.0, 1e-3, 3.0, 1e4])
    grad = _grad(VF.log_cosh_loss, r, torch.zeros_like(r), reduction="sum")
    assert torch.allclose(grad, torch.tanh(r), atol=1e-6)  # d/dr log cosh r = tanh r, |.| < 1
    assert torch.isfinite(VF.log_cosh_loss(r, torch.zeros_like(r), reduction="none")).all()


def test_log_cosh_behaves_like_mse_for_small_residuals():
    r = torch.tensor([0.01, 0.05])
    assert torch.allclose(
        VF.log_cosh_loss(r, torch.zeros(2), reduction="none"), r**2 / 2, rtol=1e-3
    )


def test_charbonnier_is_smooth_at_zero_and_bounded():
    eps = 1e-3
    r = torch.tensor([-1e3, -eps, 0.0, eps, 1e3])
    grad = _grad(VF.charbonnier_loss, r, torch.zeros_like(r), eps=eps, reduction="sum")
    assert grad[2] == 0  # no kink at zero (MAE has a sign jump there)
    assert grad.abs().max() <= 1.0
    assert grad[3] == pytest.approx(1 / math.sqrt(2), rel=1e-4)  # r / sqrt(r^2 + eps^2) at r = eps


def test_charbonnier_eps_sets_where_l1_behaviour_starts():
    # below eps the loss is quadratic (gradient ~ r / eps), above it behaves as L1 (gradient ~ 1)
    eps = 0.1
    grad = _grad(
        VF.charbonnier_loss, torch.tensor([0.01, 10.0]), torch.zeros(2), eps=eps, reduction="sum"
    )
    assert grad[0] == pytest.approx(0.01 / math.sqrt(0.01**2 + eps**2), rel=1e-4)  # ~0.1
    assert grad[1] > 0.99


def test_robust_alpha_spans_l2_and_redescending_losses():
    r = torch.tensor([1.0, 10.0, 100.0])
    l2 = _grad(VF.robust_loss, r, torch.zeros(3), alpha=2.0, scale=1.0, reduction="sum")
    assert torch.allclose(l2, r)  # alpha = 2: (r / c)^2 / 2, an MSE
    welsch_like = _grad(VF.robust_loss, r, torch.zeros(3), alpha=-2.0, scale=1.0, reduction="sum")
    assert welsch_like[2] < welsch_like[1] < welsch_like[0]  # the gradient falls: outliers ignored


def test_robust_negative_alpha_is_non_convex():
    # a redescending loss has a negative second derivative far out: several minima are possible
    r = torch.linspace(0.0, 20.0, 201, requires_grad=True)
    (grad,) = torch.autograd.grad(
        VF.robust_loss(r, torch.zeros_like(r), alpha=-2.0, reduction="sum"), r, create_graph=True
    )
    (second,) = torch.autograd.grad(grad.sum(), r)
    assert (second[100:] < 0).all()


# --- classification -------------------------------------------------------------------------------


def test_focal_downweights_easy_examples_by_one_minus_pt_to_gamma():
    logits = torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0, 6.0])
    target = torch.ones(6)
    gamma = 2.0
    p_t = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    focal = VF.focal_loss(logits, target, gamma=gamma, reduction="none")
    assert torch.allclose(focal, (1 - p_t) ** gamma * ce, rtol=1e-5, atol=1e-7)


def test_focal_gamma_zero_is_cross_entropy():
    logits, target = torch.randn(20, generator=torch.Generator().manual_seed(0)), torch.ones(20)
    assert torch.allclose(
        VF.focal_loss(logits, target, gamma=0.0), F.binary_cross_entropy_with_logits(logits, target)
    )


def test_cross_entropy_many_easy_examples_outweigh_few_hard_ones():
    # 1000 easy positives (p = 0.95) and 10 hard ones (p = 0.1): under CE the easy ones carry
    # most of the loss; focal (gamma 2) hands it to the hard ones
    logits = torch.cat(
        [torch.full((1000,), math.log(0.95 / 0.05)), torch.full((10,), math.log(0.1 / 0.9))]
    )
    target = torch.ones(1010)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    focal = VF.focal_loss(logits, target, gamma=2.0, reduction="none")
    assert ce[:1000].sum() > ce[1000:].sum()
    assert focal[1000:].sum() > 10 * focal[:1000].sum()


def test_focal_is_not_calibrated_for_soft_labels():
    # expected loss under a label that is positive 90% of the time: CE is minimised at p = 0.9,
    # focal (gamma 2) at a less confident p (a proper scoring rule vs not)
    p = torch.linspace(0.5, 0.999, 5000)
    logits = torch.log(p / (1 - p))

    def expected(fn, **kw):
        return 0.9 * fn(logits, torch.ones_like(p), reduction="none", **kw) + 0.1 * fn(
            logits, torch.zeros_like(p), reduction="none", **kw
        )

    ce_best = float(p[expected(VF.binary_cross_entropy).argmin()])
    focal_best = float(p[expected(VF.focal_loss, gamma=2.0).argmin()])
    assert ce_best == pytest.approx(0.9, abs=2e-3)
    assert focal_best < 0.85


def test_class_weights_give_a_rare_class_the_pull_of_a_frequent_one():
    # 99 pixels of class 0, 1 of class 1, all predicted uniform: total gradient per class
    target = torch.tensor([0] * 99 + [1])
    logits = torch.zeros(100, 2)
    plain = _grad(VF.cross_entropy, logits, target)
    weighted = _grad(
        VF.cross_entropy,
        logits,
        target,
        class_weight=visionloss.class_weights(torch.bincount(target)),
    )
    pull = lambda g: (g[target == 0].abs().sum(), g[target == 1].abs().sum())  # noqa: E731
    frequent, rare = pull(plain)
    assert frequent > 50 * rare
    frequent, rare = pull(weighted)
    assert frequent == pytest.approx(float(rare), rel=1e-5)


def test_cross_entropy_pushes_logits_without_bound_label_smoothing_stops():
    # at a margin of 10 CE still pushes the right logit up; with label smoothing 0.1 it pulls it back
    logits = torch.tensor([[10.0, 0.0, 0.0]], dtype=torch.float64)
    target = torch.tensor([0])
    plain = _grad(VF.cross_entropy, logits, target)
    smooth = _grad(VF.cross_entropy, logits, target, label_smoothing=0.1)
    assert plain[0, 0] < 0  # descent raises the right logit further
    assert smooth[0, 0] > 0  # descent lowers it: the optimum margin is finite


def test_cross_entropy_dilutes_a_miss_in_a_larger_image():
    # CE averages over pixels: the same foreground error weighs less in a bigger image
    small = torch.zeros(1, 2, 4, 4)
    small[:, 0] = 20.0  # confident background everywhere
    target_small = torch.zeros(1, 4, 4, dtype=torch.long)
    target_small[0, 0, 0] = 1  # one foreground pixel, missed
    big = torch.zeros(1, 2, 32, 32)
    big[:, 0] = 20.0
    target_big = torch.zeros(1, 32, 32, dtype=torch.long)
    target_big[0, 0, 0] = 1
    assert VF.cross_entropy(small, target_small) > 30 * VF.cross_entropy(big, target_big)


def test_bce_treats_each_label_independently():
    # multi-label: channel 0's gradient does not depend on channel 1's logit (softmax would couple)
    target = torch.tensor([[1.0, 0.0]])
    a = _grad(VF.binary_cross_entropy, torch.tensor([[0.5, -3.0]]), target)
    b = _grad(VF.binary_cross_entropy, torch.tensor([[0.5, 3.0]]), target)
    assert a[0, 0] == b[0, 0]
    ce_a = _grad(VF.cross_entropy, torch.tensor([[0.5, -3.0]]), torch.tensor([0]))
    ce_b = _grad(VF.cross_entropy, torch.tensor([[0.5, 3.0]]), torch.tensor([0]))
    assert ce_a[0, 0] != ce_b[0, 0]


def test_bce_pos_weight_scales_the_positive_term():
    logits = torch.tensor([0.3, -0.7])
    target = torch.tensor([1.0, 0.0])
    base = VF.binary_cross_entropy(logits, target, reduction="none")
    weighted = VF.binary_cross_entropy(logits, target, pos_weight=5.0, reduction="none")
    assert weighted[0] == pytest.approx(5 * float(base[0]))
    assert weighted[1] == pytest.approx(float(base[1]))


def test_poly1_adds_pull_on_confident_examples():
    # d/dp_t of -log p_t + eps (1 - p_t) is -1/p_t - eps: at p_t near 1, CE's pull is ~1, Poly-1's 1 + eps
    logits = torch.tensor([[4.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    target = torch.tensor([0, 0])
    ce = _grad(VF.cross_entropy, logits, target)
    poly = _grad(VF.poly1_loss, logits, target, epsilon=1.0)
    assert (poly[:, 0].abs() > ce[:, 0].abs()).all()
    assert VF.poly1_loss(logits, target, epsilon=0.0) == pytest.approx(
        float(VF.cross_entropy(logits, target))
    )


# --- segmentation ---------------------------------------------------------------------------------


def _binary_case(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A 4x4 foreground square predicted half right, inside a ``size``x``size`` image of confident,
    correct background."""
    logits = torch.full((1, 1, size, size), -20.0)
    target = torch.zeros(1, 1, size, size)
    target[..., :4, :4] = 1
    logits[..., :4, :2] = 20.0  # half the square found
    return logits, target


def test_dice_insensitive_to_background_size_unlike_ce():
    small, big = _binary_case(8), _binary_case(64)
    dice_small = VF.dice_loss(*small, mode="binary")
    dice_big = VF.dice_loss(*big, mode="binary")
    assert dice_small == pytest.approx(float(dice_big), rel=1e-4)  # 1 - 2*8/(8+16) = 1/3 both
    assert dice_small == pytest.approx(1 / 3, rel=1e-4)
    ce_small = VF.binary_cross_entropy(*small)
    ce_big = VF.binary_cross_entropy(*big)
    assert ce_small > 50 * ce_big  # the same miss, diluted 64 times by extra background


def test_jaccard_insensitive_to_background_size():
    small, big = _binary_case(8), _binary_case(64)
    assert VF.jaccard_loss(*small, mode="binary") == pytest.approx(
        float(VF.jaccard_loss(*big, mode="binary")), rel=1e-4
    )


def test_dice_gradient_unstable_for_tiny_masks():
    # half-found objects (p = 0.5 on the object, confident background elsewhere): the per-pixel
    # gradient scales as 1 / size, so a 1-pixel object's pixels are pushed 64 times harder than
    # a 64-pixel object's (by hand: dL/dp = -(2/1.5 - 1/2.25) / G on the object)
    def fg_grad(pixels: int, loss=VF.dice_loss, **options) -> float:
        target = torch.zeros(1, 1, 16, 16)
        target.view(-1)[:pixels] = 1
        logits = torch.where(target > 0, 0.0, -20.0)
        g = _grad(loss, logits, target, **options)
        return float(g.view(-1)[:pixels].abs().mean())

    assert fg_grad(1, mode="binary") > 20 * fg_grad(64, mode="binary")
    # cross-entropy's per-pixel gradient is (p - y) / N whatever the object's size
    bce = VF.binary_cross_entropy
    assert fg_grad(1, bce) == pytest.approx(fg_grad(64, bce), rel=1e-6)


@pytest.mark.parametrize("name", ["dice_loss", "jaccard_loss"])
def test_overlap_loss_of_an_empty_mask_jumps_between_zero_and_one(name):
    # empty target: the loss depends only on the predicted foreground mass, and a change of the
    # probabilities from 1e-9 to 1e-3 takes it from ~0 to ~1
    target = torch.zeros(1, 1, 8, 8)
    fn = getattr(VF, name)
    low = fn(torch.full((1, 1, 8, 8), 1e-9), target, mode="binary", from_logits=False)
    high = fn(torch.full((1, 1, 8, 8), 1e-3), target, mode="binary", from_logits=False)
    assert low < 0.01 and high > 0.99


def test_jaccard_is_stricter_than_dice_on_partial_overlap():
    logits, target = _binary_case(8)
    dice = float(VF.dice_loss(logits, target, mode="binary"))
    jaccard = float(VF.jaccard_loss(logits, target, mode="binary"))
    assert jaccard > dice  # 1 - IoU = 1/2 vs 1 - Dice = 1/3
    assert jaccard == pytest.approx(1 - (1 - dice) / (1 + dice), rel=1e-4)  # J = D / (2 - D)


def _fp_fn_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A 4x4 square; one prediction misses 4 of its pixels, the other adds 4 outside it."""
    target = torch.zeros(1, 1, 8, 8)
    target[..., :4, :4] = 1
    misses = torch.where(target > 0, 20.0, -20.0)
    misses[..., 3, :] = -20.0
    extra = torch.where(target > 0, 20.0, -20.0)
    extra[..., 4, :4] = 20.0
    return target, misses, extra


def test_tversky_beta_above_alpha_penalises_misses_more():
    target, misses, extra = _fp_fn_case()
    tv = lambda x: float(VF.tversky_loss(x, target, mode="binary", alpha=0.3, beta=0.7))  # noqa: E731
    assert tv(misses) > 2.5 * tv(extra)  # 0.189 vs 0.070
    dice = lambda x: float(VF.dice_loss(x, target, mode="binary"))  # noqa: E731
    assert dice(misses) < 1.5 * dice(extra)  # 0.143 vs 0.111: Dice is only mildly asymmetric


def test_tversky_half_half_is_dice():
    target, misses, _ = _fp_fn_case()
    assert VF.tversky_loss(misses, target, mode="binary") == pytest.approx(
        float(VF.dice_loss(misses, target, mode="binary")), rel=1e-5
    )


def test_focal_tversky_gamma_below_one_amplifies_gradient_near_the_optimum():
    # d/dx TL^gamma = gamma TL^(gamma-1) dTL/dx: with gamma 0.75 the factor grows as TL -> 0
    target = torch.zeros(1, 1, 8, 8)
    target[..., :4, :4] = 1

    def ratio(margin: float) -> float:
        logits = torch.where(target > 0, margin, -margin)
        ft = _grad(VF.focal_tversky_loss, logits, target, mode="binary", gamma=0.75)
        tv = _grad(VF.tversky_loss, logits, target, mode="binary")
        return float(ft.abs().sum() / tv.abs().sum())

    # the factor 0.75 TL^-0.25 exceeds 1 once TL < 0.75^4 = 0.32, and keeps growing
    assert ratio(6.0) > ratio(3.0) > ratio(1.0)
    assert ratio(6.0) > 1.5


def test_generalized_dice_weights_a_small_class_like_a_big_one():
    # background 56 px, class 1 (4 px), class 2 (4 px); class 2 missed entirely. By hand: with
    # uniform weights (a pixel count) 1 - 120/128 = 0.0625; with inverse-square weights 0.319
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[0, 0, :4] = 1
    target[0, 7, :4] = 2
    miss_small = F.one_hot(target, 3).permute(0, 3, 1, 2).float() * 40 - 20
    miss_small[0, :, 7, :4] = torch.tensor([20.0, -20.0, -20.0])[:, None]  # class 2 -> background
    def gd(w):
        return float(
            VF.generalized_dice_loss(
                miss_small,
                target,
                mode="multiclass",
                weight_type=w,
            )
        )
    assert gd("uniform") == pytest.approx(0.0625, abs=1e-3)
    assert gd("square") == pytest.approx(0.319, abs=2e-3)


def test_generalized_dice_gradient_concentrates_on_the_rare_class():
    target = torch.zeros(1, 16, 16, dtype=torch.long)
    target[0, 0, 0] = 1  # one pixel of class 1 among 256
    g = _grad(VF.generalized_dice_loss, torch.zeros(1, 2, 16, 16), target, mode="multiclass")
    rare = g[0, :, 0, 0].abs().sum()
    common = g[0, :, 8, 8].abs().sum()
    assert rare > 100 * common


def test_lovasz_softmax_equals_one_minus_iou_on_confident_predictions():
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[0, :4, :4] = 1
    pred = target.clone()
    pred[0, 3, :] = 1  # 4 false positives for class 1, 4 misses for class 0
    logits = F.one_hot(pred, 2).permute(0, 3, 1, 2).float() * 100
    ious = []
    for c in range(2):
        p, g = pred == c, target == c
        ious.append(float((p & g).sum() / (p | g).sum()))
    expected = 1 - sum(ious) / 2
    assert VF.lovasz_softmax_loss(logits, target) == pytest.approx(expected, rel=1e-5)


def test_lovasz_hinge_equals_one_minus_iou_on_unit_margin_predictions():
    # hinge errors of +-1 logits on a binary mask are 0 or 2 ... at logits of +-1 exactly the
    # errors are 0 (right) or 2 (wrong): the loss is 2 x (1 - IoU) of the sign prediction
    target = torch.zeros(1, 8, 8)
    target[0, :4, :4] = 1
    pred = target.clone()
    pred[0, 3, :] = 1
    logits = pred * 2 - 1
    p, g = pred > 0, target > 0
    iou = float((p & g).sum() / (p | g).sum())
    assert VF.lovasz_hinge_loss(logits, target) == pytest.approx(2 * (1 - iou), rel=1e-5)


def test_lovasz_hinge_gives_no_gradient_to_pixels_beyond_the_margin():
    target = torch.zeros(1, 4, 4)
    target[0, :2] = 1
    logits = torch.where(target > 0, 3.0, -3.0)
    logits[0, 0, 0] = -0.5  # the only pixel not beyond the margin
    g = _grad(VF.lovasz_hinge_loss, logits, target)
    assert g[0, 0, 0] != 0
    assert (g.view(-1)[1:] == 0).all()


def test_compound_losses_are_the_sum_of_their_parts():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, generator=g)
    target = torch.randint(0, 3, (2, 8, 8), generator=g)
    dice = VF.dice_loss(logits, target, mode="multiclass")
    ce = VF.cross_entropy(logits, target)
    focal = VF.focal_loss(logits, target, mode="multiclass")
    assert VF.dice_ce_loss(logits, target, lambda_ce=0.5) == pytest.approx(
        float(dice + 0.5 * ce), rel=1e-4
    )
    assert VF.dice_focal_loss(logits, target) == pytest.approx(float(dice + focal), rel=1e-4)


# --- boxes ----------------------------------------------------------------------------------------

TARGET_BOX = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
DISJOINT_BOX = torch.tensor([[5.0, 5.0, 7.0, 7.0]])


@pytest.mark.parametrize("name", ["giou_loss", "diou_loss", "ciou_loss", "eiou_loss"])
def test_iou_has_no_gradient_for_disjoint_boxes_the_others_do(name):
    iou = _grad(VF.iou_loss, DISJOINT_BOX, TARGET_BOX)
    assert iou.abs().max() < 1e-6  # only eps-sized rounding
    other = _grad(getattr(VF, name), DISJOINT_BOX, TARGET_BOX)
    assert other.abs().sum() > 0
    # and the step moves the box towards its target (gradient descent lowers x1, y1)
    assert (other[0, :2] > 0).all()


def test_giou_reduces_to_iou_when_one_box_contains_the_other():
    target = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    inside = torch.tensor([[1.0, 1.0, 5.0, 5.0]])  # off centre, contained: enclosing box = target
    assert VF.giou_loss(inside, target) == pytest.approx(float(VF.iou_loss(inside, target)))
    assert VF.diou_loss(inside, target) > VF.iou_loss(inside, target)  # DIoU still sees the offset


def test_diou_cannot_tell_aspect_ratios_apart_ciou_can():
    target = torch.tensor([[-2.0, -1.0, 2.0, 1.0]])  # 4 x 2, centred
    square = torch.tensor([[-1.0, -1.0, 1.0, 1.0]])  # 2 x 2: IoU 0.5, same centre
    flat = torch.tensor([[-2.0, -0.5, 2.0, 0.5]])  # 4 x 1: IoU 0.5, same centre
    assert VF.diou_loss(square, target) == pytest.approx(float(VF.diou_loss(flat, target)))
    assert VF.ciou_loss(square, target) != pytest.approx(float(VF.ciou_loss(flat, target)))


def test_ciou_aspect_term_is_blind_to_scale_eiou_is_not():
    # a box of the right shape and centre but twice the size: CIoU's aspect term is 0
    target = torch.tensor([[-1.0, -1.0, 1.0, 1.0]])
    double = torch.tensor([[-2.0, -2.0, 2.0, 2.0]])
    assert VF.ciou_loss(double, target) == pytest.approx(float(VF.diou_loss(double, target)))
    assert VF.eiou_loss(double, target) > VF.diou_loss(double, target) + 0.1


def test_eiou_size_terms_shrink_as_boxes_move_apart():
    # the width/height terms are normalised by the enclosing box: the same size error counts
    # less when the boxes are far apart
    target = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    near = torch.tensor([[0.0, 0.0, 3.0, 3.0]])
    far = near + 20.0
    size_term = lambda p: float(VF.eiou_loss(p, target) - VF.diou_loss(p, target))  # noqa: E731
    assert size_term(far) < 0.2 * size_term(near)


def test_box_iou_is_each_kind_by_name():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(8, 2, generator=g) * 5
    b = torch.rand(8, 2, generator=g) * 5
    pred = torch.cat([a, a + 1 + torch.rand(8, 2, generator=g)], dim=1)
    target = torch.cat([b, b + 1 + torch.rand(8, 2, generator=g)], dim=1)
    for kind in ("iou", "giou", "diou", "ciou", "eiou"):
        assert VF.box_iou_loss(pred, target, kind=kind) == pytest.approx(
            float(getattr(VF, f"{kind}_loss")(pred, target)), rel=1e-6
        )


def test_iou_losses_are_scale_invariant():
    pred = torch.tensor([[1.0, 1.0, 4.0, 5.0]])
    target = torch.tensor([[0.0, 0.0, 4.0, 4.0]])
    for name in ("iou_loss", "giou_loss", "diou_loss", "ciou_loss", "eiou_loss"):
        fn = getattr(VF, name)
        assert fn(100 * pred, 100 * target) == pytest.approx(float(fn(pred, target)), rel=1e-5)


# --- embedding ------------------------------------------------------------------------------------


def test_triplet_easy_triplets_give_no_gradient():
    anchor = torch.zeros(1, 2)
    positive = torch.tensor([[0.5, 0.0]])
    negative = torch.tensor([[2.0, 0.0]])  # d_an = 2 >= d_ap + margin = 1.5
    a = anchor.clone().requires_grad_(True)
    loss = VF.triplet_margin_loss(a, positive, negative, margin=1.0)
    loss.backward()
    assert loss == 0 and a.grad is not None and (a.grad == 0).all()


def test_triplet_margin_matches_torch():
    g = torch.Generator().manual_seed(0)
    a, p, n = (torch.randn(16, 8, generator=g) for _ in range(3))
    assert VF.triplet_margin_loss(a, p, n) == pytest.approx(
        float(F.triplet_margin_loss(a, p, n)), rel=1e-5
    )


def _train_embedding(mining: str, seed: int) -> float:
    """A linear embedding of 4 heavily overlapping classes trained 200 steps; mean distance."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(128) % 4
    x = 0.5 * torch.randn(4, 16, generator=g)[labels] + torch.randn(128, 16, generator=g)
    torch.manual_seed(seed)
    net = torch.nn.Linear(16, 8)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(200):
        loss = VF.batch_triplet_loss(net(x), labels, margin=1.0, mining=mining)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        e = net(x)
        return float(torch.cdist(e, e).mean())


def test_semi_hard_mining_avoids_the_collapse_batch_hard_shows():
    # hard, overlapping classes: batch-hard drives every embedding to one point (loss = margin,
    # a stationary point); semi-hard keeps them spread
    for seed in (0, 1):
        assert _train_embedding("batch_hard", seed) < 0.1
        assert _train_embedding("semi_hard", seed) > 3.0


def test_batch_all_averages_over_every_valid_triplet():
    # batch_all is the mean of the positive triplet losses: never more than batch_hard's max
    g = torch.Generator().manual_seed(0)
    e = torch.randn(16, 4, generator=g)
    labels = torch.arange(16) % 4
    assert VF.batch_triplet_loss(e, labels, mining="batch_all") <= VF.batch_triplet_loss(
        e, labels, mining="batch_hard"
    )


def test_contrastive_pulls_positives_always_pushes_negatives_only_inside_margin():
    x1 = torch.zeros(3, 2)
    x2 = torch.tensor([[0.1, 0.0], [3.0, 0.0], [0.5, 0.0]])
    same = torch.tensor([1.0, 0.0, 0.0])  # a close positive, a far negative, a near negative
    x = x2.clone().requires_grad_(True)
    VF.contrastive_loss(x1, x, same, margin=1.0, reduction="sum").backward()
    assert x.grad is not None
    assert x.grad[0, 0] > 0  # positive: pulled in even at distance 0.1
    assert x.grad[1].abs().sum() == 0  # negative beyond the margin: ignored
    assert x.grad[2, 0] < 0  # negative inside the margin: pushed out


# --- generative -----------------------------------------------------------------------------------


def test_minimax_generator_saturates_non_saturating_does_not():
    # early in training D rejects the fakes (logit -8): minimax's gradient is ~sigmoid(-8)
    fake = torch.tensor([-8.0])
    minimax = _grad(VF.generator_loss, fake, kind="minimax")
    non_sat = _grad(VF.generator_loss, fake, kind="non_saturating")
    assert minimax.abs() < 1e-3
    assert non_sat.abs() > 0.99


def test_wasserstein_generator_loss_is_unbounded_without_a_lipschitz_critic():
    fake = torch.tensor([10.0, 1e3])
    values = VF.generator_loss(fake, kind="wasserstein", reduction="none")
    assert torch.allclose(values, -fake)  # linear in the critic's output: no floor
    assert VF.generator_loss(torch.tensor([1e3]), kind="non_saturating") >= 0


def test_hinge_discriminator_stops_pushing_beyond_the_margin():
    real = torch.tensor([0.5, 2.0], requires_grad=True)
    fake = torch.tensor([-2.0, -0.5], requires_grad=True)
    VF.discriminator_loss(real, fake, kind="hinge").backward()
    assert real.grad is not None and fake.grad is not None
    assert real.grad[1] == 0 and fake.grad[0] == 0  # beyond +-1: no gradient
    assert real.grad[0] != 0 and fake.grad[1] != 0


def test_non_saturating_discriminator_vanishes_when_it_wins():
    real = torch.tensor([12.0], requires_grad=True)
    fake = torch.tensor([-12.0], requires_grad=True)
    VF.discriminator_loss(real, fake).backward()
    assert real.grad is not None and real.grad.abs() < 1e-4


def test_gradient_penalty_is_zero_for_a_unit_slope_critic_and_trains_the_critic():
    w = torch.tensor([0.6, 0.8], requires_grad=True)  # |w| = 1
    critic = lambda x: x @ w  # noqa: E731
    real = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    fake = torch.randn(8, 2, generator=torch.Generator().manual_seed(1))
    assert VF.gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    w2 = torch.tensor([3.0, 0.0], requires_grad=True)
    penalty = VF.gradient_penalty(lambda x: x @ w2, real, fake, weight=1.0)
    assert penalty.item() == pytest.approx(4.0)  # (|w| - 1)^2 = 4
    penalty.backward()  # a double backward: the penalty reaches the critic's weights
    assert w2.grad is not None and w2.grad[0] > 0


def test_r1_penalty_needs_only_real_data_and_is_half_gamma_grad_norm_squared():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    penalty = VF.r1_penalty(x @ w, x, gamma=2.0)
    assert penalty.item() == pytest.approx(5.0)  # gamma / 2 * |w|^2 = 1 * 5
    penalty.backward()
    assert w.grad is not None and torch.allclose(w.grad, 2 * w.detach())


def test_gaussian_nll_learns_the_residual_variance():
    # d/dlogvar [ (y - mu)^2 / (2 var) + logvar / 2 ] = 0 at var = (y - mu)^2
    residual = torch.tensor([0.5, 2.0])
    logvar = torch.log(residual**2)
    g = _grad(
        lambda lv: VF.gaussian_nll_loss(torch.zeros(2), residual, lv, reduction="sum"), logvar
    )
    assert torch.allclose(g, torch.zeros(2), atol=1e-6)


def test_gaussian_nll_predicted_variance_shrinks_the_mean_gradient():
    target = torch.tensor([3.0])
    grads = [
        float(_grad(VF.gaussian_nll_loss, torch.zeros(1), target, torch.tensor([lv])))
        for lv in (0.0, 2.0, 4.0)
    ]
    assert abs(grads[0]) > abs(grads[1]) > abs(grads[2])  # scaled by 1 / var: hard targets ignored
    assert grads[2] == pytest.approx(-3.0 / math.exp(4.0), rel=1e-5)


def _images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    base = F.avg_pool2d(torch.rand(1, 1, 72, 72, generator=g), 9, stride=1)  # smooth, 64x64
    return (base - base.min()) / (base.max() - base.min()) * 0.6 + 0.2


def test_ssim_sees_structure_mse_does_not():
    # a brightness shift and random noise of the same MSE: SSIM barely minds the shift
    image = _images()
    shift = image + 0.05
    noise = image + 0.05 * torch.sign(
        torch.randn(image.shape, generator=torch.Generator().manual_seed(1))
    )
    assert VF.mse_loss(shift, image) == pytest.approx(float(VF.mse_loss(noise, image)), rel=1e-5)
    assert VF.ssim_loss(noise, image) > 10 * VF.ssim_loss(shift, image)


def test_ssim_under_penalises_a_uniform_bias():
    # a shift of 0.05 (5% of the range) costs SSIM almost nothing: pair it with an L1 term
    image = _images()
    assert VF.ssim_loss(image + 0.05, image) < 0.01


def test_ms_ssim_needs_images_large_enough_for_every_scale():
    small = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError):
        VF.ms_ssim_loss(small, small)
    big = _images()
    assert VF.ms_ssim_loss(
        big.expand(1, 1, 64, 64).repeat(1, 1, 3, 3), big.repeat(1, 1, 3, 3)
    ) == pytest.approx(0.0, abs=1e-5)


def test_ms_ssim_weighs_coarse_structure_that_ssim_misses():
    # a blur changes fine detail; MS-SSIM spreads its score over scales, so it is less harsh
    # on a blur than single-scale SSIM at the finest scale
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 1, 192, 192, generator=g)
    blurred = F.avg_pool2d(F.pad(image, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    assert VF.ms_ssim_loss(blurred, image) < VF.ssim_loss(blurred, image)


def test_kl_mean_over_elements_is_wrong_batchmean_is_right():
    g = torch.Generator().manual_seed(0)
    p_logits = torch.randn(4, 10, generator=g)
    q_logits = torch.randn(4, 10, generator=g)
    p = p_logits.softmax(1)
    true_kl = (p * (p.log() - q_logits.log_softmax(1))).sum(1).mean()  # per distribution
    ours = VF.kl_divergence(p_logits, q_logits)
    per_distribution = VF.kl_divergence(p_logits, q_logits, reduction="none")  # (4,)
    # a mean over elements (torch's kl_div reduction="mean" today, with a warning) divides by
    # C as well: 10 times too small here
    elementwise_mean = per_distribution.sum() / (4 * 10)  # the sum over 40 elements / 40
    torch_batchmean = F.kl_div(q_logits.log_softmax(1), p, reduction="batchmean")
    assert ours == pytest.approx(float(true_kl), rel=1e-5)
    assert torch_batchmean == pytest.approx(float(true_kl), rel=1e-5)
    assert elementwise_mean == pytest.approx(float(true_kl) / 10, rel=1e-5)


def test_kl_divergence_is_asymmetric():
    p = torch.tensor([[4.0, 0.0, 0.0]])
    q = torch.tensor([[0.0, 0.0, 0.0]])
    assert VF.kl_divergence(p, q) != pytest.approx(float(VF.kl_divergence(q, p)), rel=1e-2)


def test_gaussian_kl_matches_monte_carlo_and_is_zero_at_the_prior():
    mu = torch.tensor([[0.5, -1.0]])
    logvar = torch.tensor([[0.2, -0.5]])
    g = torch.Generator().manual_seed(0)
    z = mu + (0.5 * logvar).exp() * torch.randn(200000, 2, generator=g)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    prior = torch.distributions.Normal(0.0, 1.0)
    mc = (q.log_prob(z) - prior.log_prob(z)).sum(1).mean()
    assert VF.gaussian_kl(mu, logvar) == pytest.approx(float(mc), rel=2e-2)
    assert VF.gaussian_kl(torch.zeros(1, 2), torch.zeros(1, 2)) == 0  # minimised by ignoring x


def test_vae_is_reconstruction_plus_beta_kl():
    g = torch.Generator().manual_seed(0)
    recon = torch.randn(4, 6, generator=g)
    target = torch.rand(4, 6, generator=g).round()
    mu, logvar = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    rec = F.binary_cross_entropy_with_logits(recon, target, reduction="none").sum(1).mean()
    kl = VF.gaussian_kl(mu, logvar)
    for beta in (0.5, 4.0):
        assert VF.vae_loss(recon, target, mu, logvar, beta=beta) == pytest.approx(
            float(rec + beta * kl), rel=1e-5
        )


def test_vae_bce_reconstruction_has_a_floor_on_grey_targets():
    # BCE against a target of 0.5 is at least log 2 per pixel, even for a perfect reconstruction
    target = torch.full((1, 4), 0.5)
    perfect = torch.zeros(1, 4)  # sigmoid(0) = 0.5
    zero = torch.zeros(1, 2)
    assert VF.vae_loss(perfect, target, zero, zero) == pytest.approx(4 * math.log(2), rel=1e-5)


# =================================================================================================
# Issue 19, embedding losses: NT-Xent, supervised contrastive, ArcFace, CosFace (one block)
# =================================================================================================


def _ntx_views(n: int = 16, d: int = 8, noise: float = 0.1, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return z1, z1 + noise * torch.randn(n, d, generator=gen, dtype=torch.float64)


def test_nt_xent_needs_no_labels_and_falls_as_the_views_align():
    # the same batch: views far apart (noise 3) vs close (noise 0.1); no label anywhere
    far = VF.nt_xent_loss(*_ntx_views(noise=3.0))
    near = VF.nt_xent_loss(*_ntx_views(noise=0.1))
    assert near < far - 0.5


def test_nt_xent_weighs_hard_negatives_more_at_a_low_temperature():
    # anchor row 0; negatives at cosine 0.9 (hard, row 1) and 0.0 (easy, row 2). The gradient a
    # negative receives is its softmax weight times d cos / d z (sin of the angle: 0.44 vs 1):
    # at a low temperature the hard negative takes (nearly) all of it, at a high one the easy
    # negative gets more
    z1 = torch.tensor([[1.0, 0.0, 0.0], [0.9, math.sqrt(1 - 0.81), 0.0], [0.0, 0.0, 1.0]],
                      dtype=torch.float64)

    def hard_over_easy(temperature: float) -> float:
        a = z1.clone().requires_grad_(True)
        VF.nt_xent_loss(a, z1.clone(), temperature=temperature, reduction="none")[0].backward()
        return float(a.grad[1].norm() / a.grad[2].norm())

    assert hard_over_easy(0.05) > 1e6
    assert hard_over_easy(0.5) > 1.0 > hard_over_easy(5.0)


def test_nt_xent_value_grows_with_the_batch_as_log_2n_minus_1():
    # uninformative embeddings at a high temperature: every logit ~ equal, the loss is
    # log(2N - 1), so values are not comparable across batch sizes
    for n in (4, 64):
        z1, z2 = _ntx_views(n=n, d=32, noise=5.0, seed=n)
        loss = VF.nt_xent_loss(z1, z2, temperature=100.0)
        assert abs(float(loss) - math.log(2 * n - 1)) < 0.02


def _supcon_same_class_pair():
    # rows 0 and 1 are two different images of one class with close embeddings; row 2 another
    # class. Two views each (identical here).
    x = torch.tensor([[1.0, 0.1], [1.0, -0.1], [-1.0, 0.0]], dtype=torch.float64)
    return x


def _supcon_pair_cosine_after_a_step(loss_fn) -> tuple[float, float]:
    x = _supcon_same_class_pair().requires_grad_(True)
    loss_fn(x).backward()
    with torch.no_grad():
        moved = x - 0.05 * x.grad
        before = torch.nn.functional.cosine_similarity(x[0], x[1], dim=0)
        after = torch.nn.functional.cosine_similarity(moved[0], moved[1], dim=0)
    return float(before), float(after)


def test_nt_xent_pushes_apart_samples_of_the_same_class():
    before, after = _supcon_pair_cosine_after_a_step(
        lambda x: VF.nt_xent_loss(x, x.detach().clone(), temperature=0.5)
    )
    assert after < before


def test_supervised_contrastive_pulls_together_samples_of_the_same_class():
    labels = torch.tensor([0, 0, 1, 0, 0, 1])
    before, after = _supcon_pair_cosine_after_a_step(
        lambda x: VF.supervised_contrastive_loss(
            torch.cat([x, x.detach().clone()]), labels, temperature=0.5
        )
    )
    assert after > before


def _margin_pair(theta_own: float, theta_other: float):
    # a unit embedding at angle theta_own from centre 0 and theta_other from centre 1 (a plane)
    centers = torch.tensor([[1.0, 0.0], [math.cos(theta_own + theta_other),
                                         math.sin(theta_own + theta_other)]], dtype=torch.float64)
    x = torch.tensor([[math.cos(theta_own), math.sin(theta_own)]], dtype=torch.float64)
    return x, torch.tensor([0]), centers


def test_margin_losses_keep_pulling_a_sample_already_classified():
    # nearer its own centre (0.4 rad) than the other (0.6 rad): the plain normalised softmax
    # (margin 0) already ranks it right; ArcFace and CosFace still count it as on the wrong side
    # (target logit below the other) and give it a larger loss and gradient
    x, y, centers = _margin_pair(0.4, 0.6)
    for fn in (VF.arcface_loss, VF.cosface_loss):
        plain = fn(x, y, centers, margin=0.0, scale=16.0)
        with_margin = fn(x, y, centers, scale=16.0)
        assert plain < math.log(2) < with_margin


def test_margin_losses_are_per_sample_and_need_no_mining():
    # a sample's loss does not depend on the rest of the batch (unlike the batch losses)
    gen = torch.Generator().manual_seed(0)
    centers = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    x = torch.randn(10, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 6, (10,), generator=gen)
    for fn in (VF.arcface_loss, VF.cosface_loss):
        full = fn(x, y, centers, reduction="none")
        alone = torch.cat([fn(x[i : i + 1], y[i : i + 1], centers, reduction="none")
                           for i in range(10)])
        torch.testing.assert_close(full, alone)


def test_margin_losses_cannot_reach_zero_with_a_small_scale():
    # perfectly separated: each embedding on its centre, the C = 10 centres a regular simplex
    # (pairwise cosine -1/9). With s = 1 the loss stays near log(C) - 1.1; s = 64 brings it to 0
    c = 10
    centers = torch.eye(c, dtype=torch.float64) - 1.0 / c
    labels = torch.arange(c)
    for fn in (VF.arcface_loss, VF.cosface_loss):
        assert fn(centers, labels, centers, scale=1.0) > 1.0
        assert fn(centers, labels, centers, scale=64.0) < 1e-6


def test_multi_similarity_gives_hard_negatives_most_of_the_gradient():
    # anchor 0 with a positive (row 1) and negatives at cosine 0.8 (hard, row 2) and 0.0
    # (easy, row 3): with beta = 50 the hard negative takes nearly all of the push
    c = 0.8
    x = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.436, 0.0], [c, math.sqrt(1 - c * c), 0.0],
                      [0.0, 0.0, 1.0]], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 2])
    VF.multi_similarity_loss(x, labels, mining=False, reduction="none")[0].backward()
    assert x.grad[2].norm() > 1e3 * x.grad[3].norm()


def test_multi_similarity_anchors_without_a_positive_count_nothing_when_mining():
    # label 2 is alone: with mining its anchor keeps no negative, so its loss is 0
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    loss = VF.multi_similarity_loss(x, torch.tensor([0, 0, 1, 1, 2]), reduction="none")
    assert loss[4] == 0.0


def test_multi_similarity_sees_only_directions_not_norms():
    # rescaling each embedding by any positive factor leaves the loss unchanged (cosines only)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(12, 4, generator=gen, dtype=torch.float64)
    labels = torch.arange(4).repeat(3)
    scales = torch.rand(12, 1, generator=gen, dtype=torch.float64) * 10 + 0.1
    torch.testing.assert_close(VF.multi_similarity_loss(x * scales, labels),
                               VF.multi_similarity_loss(x, labels))
