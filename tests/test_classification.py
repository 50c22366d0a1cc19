"""Classification family: values against torch and torchvision's formula, focal-loss facts, the
fused kernels against the plain path, the RetinaNet normalisation across ranks, bad input.

The generic sweep (test_contract.py, rows in catalogue/classification.py) covers the float64
references, reductions, gradcheck, empty input, half precision, extreme logits and compile; here
are the facts specific to each loss. Expected values come from torch 2.13's own functions
(F.cross_entropy, F.binary_cross_entropy[_with_logits]), from torchvision's
``sigmoid_focal_loss`` formula written out (torchvision is not installed here), from the Poly-1
paper's code written out, or from hand derivation, as noted at each test.
"""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import visionloss
import visionloss.functional as VF
from distributed_utils import run_on_ranks
from visionloss._core import prepare_dense_target, reduce_loss
from visionloss._core.memory import saved_bytes
from visionloss.kernels import set_kernels
from visionloss.losses._dense_terms import cross_entropy_terms as _cross_entropy_terms
from visionloss.losses._dense_terms import focal_terms as _focal_terms

F64 = torch.float64


def _torchvision_sigmoid_focal(x, y, alpha=0.25, gamma=2.0):
    # torchvision.ops.sigmoid_focal_loss (v0.19), as written there, reduction="none"
    p = torch.sigmoid(x)
    ce_loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * y + (1 - alpha) * (1 - y)
        loss = alpha_t * loss
    return loss


def _grad(loss, x, grad_output=None):
    (g,) = torch.autograd.grad(loss, x, grad_output)
    return g


# --- binary cross-entropy -----------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_equals_torch_with_logits(gen, reduction):
    x = torch.randn(4, 3, 5, generator=gen, dtype=F64) * 4
    y = torch.rand(4, 3, 5, generator=gen, dtype=F64)
    pos_weight = torch.tensor([0.5, 1.0, 2.0, 3.0, 1.5], dtype=F64)
    for options in ({}, {"pos_weight": pos_weight}):
        expected = F.binary_cross_entropy_with_logits(x, y, reduction=reduction, **options)
        torch.testing.assert_close(
            VF.binary_cross_entropy(x, y, reduction=reduction, **options), expected
        )
    # label smoothing is torch's loss on the target y (1 - s) + s / 2
    got = VF.binary_cross_entropy(x, y, label_smoothing=0.2, reduction=reduction)
    expected = F.binary_cross_entropy_with_logits(x, y * 0.8 + 0.1, reduction=reduction)
    torch.testing.assert_close(got, expected)


def test_bce_probabilities_equal_torch_including_saturation():
    # torch clamps each log at -100: p in {0, 1} gives 100, and its gradient is bounded (1e12)
    p = torch.tensor([0.0, 1.0, 0.3, 1e-30, 1 - 1e-12], dtype=F64, requires_grad=True)
    y = torch.tensor([1.0, 0.0, 0.4, 1.0, 0.0], dtype=F64)
    ours = VF.binary_cross_entropy(p, y, from_logits=False, reduction="none")
    theirs = F.binary_cross_entropy(p, y, reduction="none")
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(ours[:2], torch.tensor([100.0, 100.0], dtype=F64))
    torch.testing.assert_close(_grad(ours.sum(), p), _grad(theirs.sum(), p))
    # with pos_weight: -(w y max(log p, -100) + (1 - y) max(log(1 - p), -100)), finite gradient
    w = 3.0
    got = VF.binary_cross_entropy(p, y, from_logits=False, pos_weight=w, reduction="none")
    expected = -(
        w * y * torch.clamp(torch.log(p), min=-100)
        + (1 - y) * torch.clamp(torch.log1p(-p), min=-100)
    )
    torch.testing.assert_close(got, expected)
    assert torch.isfinite(_grad(got.sum(), p)).all()


def test_bce_integer_targets_with_ignore_equal_torch_on_the_kept_elements(gen):
    x = torch.randn(6, 7, generator=gen, dtype=F64, requires_grad=True)
    y = torch.randint(0, 2, (6, 7), generator=gen)
    y[0, :3] = -100
    y[4, 5] = -100
    kept = y != -100
    got = VF.binary_cross_entropy(x, y)
    expected = F.binary_cross_entropy_with_logits(x[kept], y[kept].to(F64))
    torch.testing.assert_close(got, expected)
    grad = _grad(got, x)
    assert (grad[~kept] == 0).all()
    torch.testing.assert_close(grad[kept], _grad(expected, x)[kept])
    none = VF.binary_cross_entropy(x, y, reduction="none")
    assert (none[~kept] == 0).all()
    # bool targets are 0/1 targets
    torch.testing.assert_close(
        VF.binary_cross_entropy(x, y.clamp(min=0).bool()),
        F.binary_cross_entropy_with_logits(x, y.clamp(min=0).to(F64)),
    )


# --- cross-entropy ------------------------------------------------------------------------------

CE_OPTIONS = [
    {},
    {"class_weight": torch.tensor([0.2, 1.0, 3.0, 0.7, 1.5], dtype=F64)},
    {"ignore_index": 3},
    {"label_smoothing": 0.15},
    {
        "class_weight": torch.tensor([0.2, 1.0, 3.0, 0.7, 1.5], dtype=F64),
        "ignore_index": -100,
        "label_smoothing": 0.3,
    },
]


@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 4), (2, 5, 3, 4), (2, 5, 2, 3, 2)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("options", CE_OPTIONS, ids=["plain", "weight", "ignore", "smooth", "all"])
def test_cross_entropy_equals_torch(gen, shape, reduction, options):
    x = torch.randn(shape, generator=gen, dtype=F64, requires_grad=True)
    target = torch.randint(0, 5, (shape[0], *shape[2:]), generator=gen)
    target.view(-1)[::4] = options.get("ignore_index", -100)  # some ignored positions
    torch_options = {("weight" if k == "class_weight" else k): v for k, v in options.items()}
    expected = F.cross_entropy(x, target, reduction=reduction, **torch_options)
    got = VF.cross_entropy(x, target, reduction=reduction, **options)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    grad_output = torch.rand(expected.shape, generator=gen, dtype=F64)
    torch.testing.assert_close(
        _grad(got, x, grad_output), _grad(expected, x, grad_output), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("options", CE_OPTIONS[:2] + CE_OPTIONS[3:], ids=["plain", "w", "s", "ws"])
def test_cross_entropy_probability_targets_equal_torch(gen, reduction, options):
    x = torch.randn(3, 5, 4, generator=gen, dtype=F64, requires_grad=True)
    target = torch.softmax(torch.randn(3, 5, 4, generator=gen, dtype=F64), 1)
    options = {k: v for k, v in options.items() if k != "ignore_index"}
    torch_options = {("weight" if k == "class_weight" else k): v for k, v in options.items()}
    expected = F.cross_entropy(x, target, reduction=reduction, **torch_options)
    got = VF.cross_entropy(x, target, reduction=reduction, **options)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_grad(got.sum(), x), _grad(expected.sum(), x))


def test_cross_entropy_pixel_weight_on_top_of_class_weight(gen):
    x = torch.randn(2, 3, 4, 4, generator=gen, dtype=F64)
    target = torch.randint(0, 3, (2, 4, 4), generator=gen)
    target[0, 0] = -100
    class_weight = torch.tensor([0.5, 2.0, 1.0], dtype=F64)
    pixel = torch.rand(2, 4, 4, generator=gen, dtype=F64)
    none = F.cross_entropy(x, target, weight=class_weight, reduction="none")  # w_y * l
    w_y = class_weight[target.clamp(min=0)] * (target != -100)
    got = VF.cross_entropy(x, target, class_weight=class_weight, weight=pixel)
    torch.testing.assert_close(got, (pixel * none).sum() / (pixel * w_y).sum())
    got_none = VF.cross_entropy(
        x, target, class_weight=class_weight, weight=pixel, reduction="none"
    )
    torch.testing.assert_close(got_none, pixel * none)


@pytest.mark.parametrize("options", [{}, {"class_weight": torch.ones(4), "label_smoothing": 0.1}])
def test_cross_entropy_all_ignored_gives_zero_and_zero_grads(options):
    x = torch.randn(2, 4, 3, requires_grad=True)
    target = torch.full((2, 3), -100)
    assert torch.isnan(F.cross_entropy(x, target))  # torch: 0 / 0
    for fn in (VF.cross_entropy, VF.poly1_loss):
        loss = fn(x, target, **options)
        assert loss.item() == 0.0
        assert not _grad(loss, x).any()


def test_cross_entropy_zero_weight_class_with_smoothing_is_dropped(gen):
    # Documented difference: torch keeps the smoothing term of a position whose class has weight
    # 0 in the mean's numerator (not in its denominator); here such a position contributes 0,
    # which is torch's result with those positions ignored.
    x = torch.randn(8, 3, generator=gen, dtype=F64)
    target = torch.tensor([0, 1, 2, 1, 0, 1, 2, 2])
    class_weight = torch.tensor([1.0, 0.0, 2.0], dtype=F64)
    ignored = torch.where(target == 1, -100, target)
    for reduction in ("none", "mean", "sum"):
        got = VF.cross_entropy(
            x, target, class_weight=class_weight, label_smoothing=0.2, reduction=reduction
        )
        expected = F.cross_entropy(
            x, ignored, weight=class_weight, label_smoothing=0.2, reduction=reduction
        )
        torch.testing.assert_close(got, expected)
    # without smoothing a zero-weight class contributes 0 in torch too: no difference
    torch.testing.assert_close(
        VF.cross_entropy(x, target, class_weight=class_weight),
        F.cross_entropy(x, target, weight=class_weight),
    )


def test_cross_entropy_low_precision_matches_torch_in_float32(gen):
    x = torch.randn(4, 6, 5, generator=gen).to(torch.bfloat16)
    target = torch.randint(0, 6, (4, 5), generator=gen)
    got = VF.cross_entropy(x, target, label_smoothing=0.1)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, F.cross_entropy(x.float(), target, label_smoothing=0.1))


@pytest.mark.parametrize("options", CE_OPTIONS, ids=["plain", "weight", "ignore", "smooth", "all"])
def test_cross_entropy_fused_equals_plain_values_and_grads(gen, options):
    x = torch.randn(3, 5, 4, 2, generator=gen, dtype=F64) * 3
    x[0, :, 0, 0] = torch.tensor([40.0, -40.0, 0.0, 1.0, 2.0])
    target = torch.randint(0, 5, (3, 4, 2), generator=gen)
    target[1, 1] = options.get("ignore_index", -100)
    results = []
    for fused in (True, False):
        set_kernels(fused)
        xr = x.clone().requires_grad_(True)
        loss = VF.cross_entropy(xr, target, reduction="none", **options)
        grad_output = torch.rand(loss.shape, generator=torch.Generator().manual_seed(3), dtype=F64)
        results.append((loss, _grad(loss, xr, grad_output)))
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=1e-14)


def test_cross_entropy_fused_keeps_as_much_as_torch(gen):
    # torch keeps the (N, C, *) log-softmax (4x19x32x32 float32: 311 kB); the fused path keeps
    # exp(x - max) instead, the same size, plus one sum per position (16 kB), the class ids with
    # ignored ones replaced (prepare_dense_target, int64) and the reduction's bool mask and count
    x = torch.randn(4, 19, 32, 32, generator=gen, requires_grad=True)
    ids = torch.randint(0, 19, (4, 32, 32), generator=gen)
    torch_bytes = saved_bytes(lambda: F.cross_entropy(x, ids), [x, ids])
    assert torch_bytes == x.numel() * 4 + 4  # log-softmax and its total weight
    # the default on CPU is F.cross_entropy itself (its "sum" over the count of positions kept,
    # a float32 scalar saved by the division)
    assert saved_bytes(lambda: VF.cross_entropy(x, ids), [x, ids]) == torch_bytes + 4
    positions = 4 * 32 * 32
    set_kernels("fused")
    try:
        fused = saved_bytes(lambda: VF.cross_entropy(x, ids), [x, ids])
    finally:
        set_kernels("auto")
    assert fused == x.numel() * 4 + positions * (4 + 8 + 1) + 4


def test_cross_entropy_core_from_log_probs_reproduces_the_loss(gen):
    # the private core the segmentation family calls with its own (shared) log-softmax
    x = torch.randn(2, 4, 3, 3, generator=gen, dtype=F64)
    target = torch.randint(0, 4, (2, 3, 3), generator=gen)
    target[1, 1] = -100
    class_weight = torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=F64)
    dense = prepare_dense_target(x, target, "multiclass", ignore_index=-100)
    loss, weight, valid = _cross_entropy_terms(
        x.log_softmax(1), dense, class_weight=class_weight, label_smoothing=0.1
    )
    for reduction in ("none", "mean", "sum"):
        torch.testing.assert_close(
            reduce_loss(loss, reduction, weight=weight, valid=valid),
            F.cross_entropy(
                x, target, weight=class_weight, label_smoothing=0.1, reduction=reduction
            ),
        )


# --- focal loss ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_focal_binary_equals_torchvision_sigmoid_focal_loss(gen, reduction):
    x = torch.randn(50, 8, generator=gen, dtype=F64) * 4
    y = (torch.rand(50, 8, generator=gen) < 0.1).to(F64)
    expected = _torchvision_sigmoid_focal(x, y, alpha=0.25, gamma=2.0)
    expected = {"none": expected, "mean": expected.mean(), "sum": expected.sum()}[reduction]
    got = VF.focal_loss(x, y, mode="binary", alpha=0.25, reduction=reduction)
    torch.testing.assert_close(got, expected)


def test_focal_soft_targets_interpolate_like_torchvision(gen):
    x = torch.randn(4, 3, 6, generator=gen, dtype=F64) * 3
    y = torch.rand(4, 3, 6, generator=gen, dtype=F64)
    for alpha, gamma in ((0.25, 2.0), (0.8, 0.5), (0.5, 3.0)):
        torch.testing.assert_close(
            VF.focal_loss(x, y, mode="multilabel", alpha=alpha, gamma=gamma, reduction="none"),
            _torchvision_sigmoid_focal(x, y, alpha=alpha, gamma=gamma),
        )


def test_focal_gamma_zero_is_exactly_bce_and_ce(gen):
    x = torch.randn(3, 4, 5, generator=gen, dtype=F64) * 3
    y = torch.rand(3, 4, 5, generator=gen, dtype=F64)
    ids = torch.randint(0, 4, (3, 5), generator=gen)
    ids[0, 0] = -100
    probs = torch.softmax(torch.randn(3, 4, 5, generator=gen, dtype=F64), 1)
    for fused in (True, False):
        set_kernels(fused)
        for reduction in ("none", "mean", "sum"):
            # the sigmoid form is BCE-with-logits itself at gamma 0: equal to the last bit
            assert torch.equal(
                VF.focal_loss(x, y, gamma=0.0, reduction=reduction),
                F.binary_cross_entropy_with_logits(x, y, reduction=reduction),
            )
            torch.testing.assert_close(
                VF.focal_loss(x, ids, mode="multiclass", gamma=0.0, reduction=reduction),
                F.cross_entropy(x, ids, reduction=reduction),
                rtol=1e-14,
                atol=1e-14,
            )
            torch.testing.assert_close(
                VF.focal_loss(x, probs, mode="multiclass", gamma=0.0, reduction=reduction),
                F.cross_entropy(x, probs, reduction=reduction),
                rtol=1e-14,
                atol=1e-14,
            )


def test_focal_modulating_factor_at_pt_0_9_is_100x_smaller_than_ce():
    # p_t = 0.9: (1 - p_t)^2 = 0.01, so focal = CE / 100 (hand derivation)
    x = torch.tensor([math.log(9.0)], dtype=F64)  # sigmoid(log 9) = 0.9
    y = torch.ones(1, dtype=F64)
    focal = VF.focal_loss(x, y, gamma=2.0)
    ce = VF.binary_cross_entropy(x, y)
    torch.testing.assert_close(ce, torch.tensor(-math.log(0.9), dtype=F64))
    torch.testing.assert_close(ce / focal, torch.tensor(100.0, dtype=F64))
    # softmax: logits log(0.9), log(0.1) give p = (0.9, 0.1)
    logits = torch.tensor([[math.log(0.9), math.log(0.1)]], dtype=F64)
    target = torch.tensor([0])
    focal = VF.focal_loss(logits, target, mode="multiclass", gamma=2.0)
    torch.testing.assert_close(
        VF.cross_entropy(logits, target) / focal, torch.tensor(100.0, dtype=F64)
    )
    # a hard example (p_t = 0.1) keeps 81% of its CE
    hard = VF.focal_loss(-x, y, gamma=2.0) / VF.binary_cross_entropy(-x, y)
    torch.testing.assert_close(hard, torch.tensor(0.81, dtype=F64))


def test_focal_alpha_conventions(gen):
    x = torch.randn(3, 4, 5, generator=gen, dtype=F64)
    ids = torch.randint(0, 4, (3, 5), generator=gen)
    plain = VF.focal_loss(x, ids, mode="multiclass", reduction="none")
    # multiclass: a (C,) alpha is indexed by the target class, a number multiplies every term
    alpha = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64)
    got = VF.focal_loss(x, ids, mode="multiclass", alpha=alpha, reduction="none")
    torch.testing.assert_close(got, alpha[ids] * plain)
    got = VF.focal_loss(x, ids, mode="multiclass", alpha=2.5, reduction="none")
    torch.testing.assert_close(got, 2.5 * plain)
    # multilabel: a (C,) alpha gives each channel its own positive weight (1 - alpha_c negatives)
    y = (torch.rand(3, 4, 5, generator=gen) > 0.5).to(F64)
    got = VF.focal_loss(x, y, mode="multilabel", alpha=alpha, reduction="none")
    for c in range(4):
        torch.testing.assert_close(
            got[:, c], _torchvision_sigmoid_focal(x[:, c], y[:, c], alpha=float(alpha[c]))
        )


@pytest.mark.parametrize("fused", [True, False])
def test_focal_ignore_index_equals_slicing(gen, fused):
    set_kernels(fused)
    x = torch.randn(4, 3, 6, generator=gen, dtype=F64, requires_grad=True)
    ids = torch.randint(0, 3, (4, 6), generator=gen)
    ids[1, 2:] = -100
    kept = ids != -100
    got = VF.focal_loss(x, ids, mode="multiclass", alpha=torch.tensor([0.2, 0.3, 0.5], dtype=F64))
    flat_x = x.movedim(1, -1)[kept]  # (K, C) logits of the kept positions
    expected = VF.focal_loss(
        flat_x, ids[kept], mode="multiclass", alpha=torch.tensor([0.2, 0.3, 0.5], dtype=F64)
    )
    torch.testing.assert_close(got, expected)
    assert not _grad(got, x).movedim(1, -1)[~kept].any()
    # multilabel integer targets
    y = torch.randint(0, 2, (4, 3, 6), generator=gen)
    y[0] = -100
    got = VF.focal_loss(x, y, mode="multilabel", alpha=0.25)
    expected = _torchvision_sigmoid_focal(x[1:], y[1:].to(F64)).mean()
    torch.testing.assert_close(got, expected)


FUSED_CASES = [
    ("binary soft", "binary", "soft", {"alpha": 0.25, "gamma": 2.0}),
    ("binary gamma 0.5", "binary", "soft", {"alpha": 0.6, "gamma": 0.5}),
    ("binary int+ignore", "binary", "int", {"alpha": 0.25, "gamma": 1.5}),
    ("multilabel alpha tensor", "multilabel", "soft", {"alpha": "tensor", "gamma": 2.0}),
    ("multiclass ids", "multiclass", "ids", {"alpha": "tensor", "gamma": 0.7}),
    ("multiclass ids scalar alpha", "multiclass", "ids", {"alpha": 0.3, "gamma": 2.0}),
    ("multiclass probs", "multiclass", "probs", {"alpha": "tensor", "gamma": 2.0}),
]


@pytest.mark.parametrize("case", FUSED_CASES, ids=[c[0] for c in FUSED_CASES])
def test_focal_fused_equals_plain_values_and_grads(gen, case):
    _, mode, kind, options = case
    x = torch.randn(3, 4, 2, 5, generator=gen, dtype=F64) * 3
    x[0, 0, 0, :2] = torch.tensor([40.0, -40.0])  # saturated sigmoids / softmax
    if kind == "soft":
        y = torch.rand(3, 4, 2, 5, generator=gen, dtype=F64)
        y[0, 0, 0, :2] = 1.0
    elif kind == "int":
        y = torch.randint(0, 2, (3, 4, 2, 5), generator=gen)
        y[1, 1] = -100
    elif kind == "ids":
        y = torch.randint(0, 4, (3, 2, 5), generator=gen)
        y[2, 1, 1:] = -100
    else:
        y = torch.softmax(torch.randn(3, 4, 2, 5, generator=gen, dtype=F64), 1)
    if options["alpha"] == "tensor":
        options = {**options, "alpha": torch.tensor([0.1, 0.4, 0.2, 0.9], dtype=F64)}
    results = []
    for fused in (True, False):
        set_kernels(fused)
        xr = x.clone().requires_grad_(True)
        yr = y.clone().requires_grad_(True) if y.is_floating_point() else y
        loss = VF.focal_loss(xr, yr, mode=mode, reduction="none", **options)
        grad_output = torch.rand(loss.shape, generator=torch.Generator().manual_seed(3), dtype=F64)
        inputs = [xr] + ([yr] if yr.requires_grad else [])
        results.append((loss, torch.autograd.grad(loss, inputs, grad_output)))
    (fused_loss, fused_grads), (plain_loss, plain_grads) = results
    torch.testing.assert_close(fused_loss, plain_loss, rtol=1e-12, atol=1e-14)
    for a, b in zip(fused_grads, plain_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-14)


def test_focal_fused_keeps_only_inputs_and_small_stats(gen):
    # numbers at this size (float32): sigmoid 2000x80, fused 0 B vs plain 8 tensors of 640 kB;
    # softmax 4x19x32x32, fused two (N, *) statistics (2 x 16 kB) vs plain > 1 MB
    x = torch.randn(2000, 80, generator=gen, requires_grad=True)
    y = (torch.rand(2000, 80, generator=gen) < 0.02).float()
    xm = torch.randn(4, 19, 32, 32, generator=gen, requires_grad=True)
    ids = torch.randint(0, 19, (4, 32, 32), generator=gen)
    probs = torch.softmax(torch.randn(4, 19, 32, 32, generator=gen), 1)
    logits_bytes, positions_bytes = x.numel() * 4, 4 * 32 * 32 * 4
    measured = {}
    for fused in (True, False):
        # "fused" forced: on CPU, auto takes softmax focal's reference (the CPU rule)
        set_kernels("fused" if fused else "reference")
        measured[fused] = (
            saved_bytes(lambda: VF.focal_loss(x, y, alpha=0.25), [x, y]),
            saved_bytes(lambda: VF.focal_loss(xm, ids, mode="multiclass"), [xm, ids]),
            saved_bytes(lambda: VF.focal_loss(xm, probs, mode="multiclass"), [xm, probs]),
        )
    sigmoid, ids_saved, probs_saved = measured[True]
    assert sigmoid == 0
    # two (N, *) statistics (max, log-sum); the reduction keeps its (N, *) bool validity mask
    # and the count
    assert ids_saved == 2 * positions_bytes + 4 * 32 * 32 + 4
    assert probs_saved == 2 * positions_bytes
    plain_sigmoid, plain_ids, plain_probs = measured[False]
    assert plain_sigmoid >= 5 * logits_bytes  # sigmoids, BCE, 1 - p_t, its power, products
    assert plain_ids >= xm.numel() * 4  # at least the (N, C, *) log-softmax
    assert plain_probs >= 3 * xm.numel() * 4


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("gamma", [0.1, 0.5, 0.9])
def test_focal_gamma_below_one_has_finite_gradient_at_pt_one(fused, gamma):
    # sigmoid(1e4) and softmax([1e4, 0]) are exactly 1 in float32: (1 - p_t)^gamma has an
    # infinite derivative there, the loss a zero one
    set_kernels(fused)
    x = torch.tensor([1e4, -1e4, 0.0], requires_grad=True)
    y = torch.tensor([1.0, 0.0, 1.0])
    grad = _grad(VF.focal_loss(x, y, gamma=gamma, reduction="sum"), x)
    assert torch.isfinite(grad).all()
    assert grad[0] == 0 and grad[1] == 0
    logits = torch.tensor([[1e4, 0.0, -1e4], [1.0, 2.0, 3.0]], requires_grad=True)
    grad = _grad(
        VF.focal_loss(logits, torch.tensor([0, 2]), mode="multiclass", gamma=gamma), logits
    )
    assert torch.isfinite(grad).all()
    assert not grad[0].any()


def test_focal_gradcheck_near_saturation_for_small_gamma():
    x = torch.tensor([12.0, -12.0, 25.0, 0.3], dtype=F64, requires_grad=True)
    y = torch.tensor([1.0, 0.0, 1.0, 0.7], dtype=F64)
    for fused in (True, False):
        set_kernels(fused)
        assert torch.autograd.gradcheck(
            lambda x: VF.focal_loss(x, y, gamma=0.3, reduction="sum"), (x,)
        )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("fused", [True, False])
def test_focal_extreme_logits_low_precision(dtype, fused):
    set_kernels(fused)
    big = 65504.0 if dtype == torch.float16 else 1e4
    x = torch.tensor([[big, -big, 0.0], [-big, big, big]], dtype=dtype, requires_grad=True)
    for gamma in (0.0, 0.5, 2.0):
        for loss in (
            VF.focal_loss(
                x, torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=dtype), gamma=gamma
            ),
            VF.focal_loss(x, torch.tensor([1, 0]), mode="multiclass", gamma=gamma),
            VF.focal_loss(x, torch.eye(3, dtype=dtype)[:2], mode="multiclass", gamma=gamma),
        ):
            assert loss.dtype == torch.float32 and torch.isfinite(loss)
            grad = _grad(loss, x)
            assert grad.dtype == dtype and torch.isfinite(grad).all()


@pytest.mark.parametrize("mode", ["multiclass", "multilabel", "binary"])
def test_focal_all_ignored_gives_zero_and_zero_grads(mode):
    x = torch.randn(2, 3, 4, requires_grad=True)
    target = torch.full((2, 4) if mode == "multiclass" else (2, 3, 4), -100)
    for fused in (True, False):
        set_kernels(fused)
        loss = VF.focal_loss(x, target, mode=mode, normalize=mode != "multiclass")
        assert loss.item() == 0.0
        assert not _grad(loss, x).any()


def test_focal_normalize_divides_by_the_positive_count(gen):
    x = torch.randn(40, 5, generator=gen, dtype=F64)
    y = (torch.rand(40, 5, generator=gen) < 0.1).to(F64)
    y[0, 0] = 1.0
    none = VF.focal_loss(x, y, alpha=0.25, reduction="none")
    got = VF.focal_loss(x, y, alpha=0.25, normalize=True)
    torch.testing.assert_close(got, none.sum() / y.sum())
    # "sum" and "none" are unchanged; no positive at all: divided by 1
    torch.testing.assert_close(
        VF.focal_loss(x, y, alpha=0.25, normalize=True, reduction="sum"), none.sum()
    )
    negatives = torch.zeros_like(y)
    torch.testing.assert_close(
        VF.focal_loss(x, negatives, normalize=True), VF.focal_loss(x, negatives, reduction="sum")
    )
    # ignored elements count neither in the sum nor as positives
    ids = y.long()
    ids[:10] = -100
    got = VF.focal_loss(x, ids, alpha=0.25, normalize=True)
    torch.testing.assert_close(got, none[10:].sum() / y[10:].sum())
    # sync=True without a process group is the single-process loss
    torch.testing.assert_close(VF.focal_loss(x, ids, alpha=0.25, normalize=True, sync=True), got)


def _focal_sync_rank(rank: int, world_size: int, x: torch.Tensor, y: torch.Tensor):
    rows = x.shape[0] // world_size
    shard = x[rank * rows : (rank + 1) * rows].clone().requires_grad_(True)
    loss = VF.focal_loss(
        shard, y[rank * rows : (rank + 1) * rows], alpha=0.25, normalize=True, sync=True
    )
    loss.backward()
    return loss.detach(), shard.grad


def test_focal_normalize_sync_on_two_ranks_equals_one_process(gen):
    x = torch.randn(12, 6, generator=gen, dtype=F64) * 2
    y = (torch.rand(12, 6, generator=gen) < 0.15).to(F64)
    y[0, 0] = y[11, 5] = 1.0  # positives on both shards, unequal counts
    full = x.clone().requires_grad_(True)
    expected = VF.focal_loss(full, y, alpha=0.25, normalize=True)
    (expected_grad,) = torch.autograd.grad(expected, full)
    results = run_on_ranks(_focal_sync_rank, 2, x, y)
    for rank, (loss, grad) in enumerate(results):
        torch.testing.assert_close(loss, expected.detach())  # the whole batch's loss, every rank
        # DDP convention: K = 2 times the single-process gradient of the shard
        torch.testing.assert_close(grad, 2 * expected_grad[rank * 6 : (rank + 1) * 6])


def test_focal_core_from_log_probs_reproduces_the_loss(gen):
    # the private core dice_focal_loss calls with its own (shared) log-softmax / logits
    x = torch.randn(2, 4, 3, 3, generator=gen, dtype=F64)
    ids = torch.randint(0, 4, (2, 3, 3), generator=gen)
    ids[0, 0, 0] = -100
    alpha = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64)
    dense = prepare_dense_target(x, ids, "multiclass", ignore_index=-100)
    loss, valid = _focal_terms(x.log_softmax(1), dense, alpha=alpha, gamma=1.5)
    torch.testing.assert_close(
        reduce_loss(loss, "mean", valid=valid),
        VF.focal_loss(x, ids, mode="multiclass", alpha=alpha, gamma=1.5),
    )
    y = (torch.rand(2, 4, 3, 3, generator=gen) > 0.5).to(F64)
    dense = prepare_dense_target(x, y, "multilabel")
    loss, valid = _focal_terms(x, dense, alpha=0.25, gamma=2.0)
    torch.testing.assert_close(loss, _torchvision_sigmoid_focal(x, y))
    assert valid is None


# --- Poly-1 -------------------------------------------------------------------------------------


def test_poly1_hand_value_and_epsilon_zero_is_cross_entropy(gen):
    # logits (2, 0, -1), class 0: p_0 = e^2 / (e^2 + 1 + e^-1); Poly-1 = -log p_0 + (1 - p_0)
    logits = torch.tensor([[2.0, 0.0, -1.0]], dtype=F64)
    p0 = math.exp(2) / (math.exp(2) + 1 + math.exp(-1))
    got = VF.poly1_loss(logits, torch.tensor([0]))
    torch.testing.assert_close(got, torch.tensor(-math.log(p0) + 1 - p0, dtype=F64))
    x = torch.randn(3, 5, 4, generator=gen, dtype=F64)
    ids = torch.randint(0, 5, (3, 4), generator=gen)
    for options in CE_OPTIONS:
        ids[0, 0] = options.get("ignore_index", -100)
        torch.testing.assert_close(
            VF.poly1_loss(x, ids, epsilon=0.0, **options), VF.cross_entropy(x, ids, **options)
        )


def test_poly1_with_class_weight_weighs_the_whole_term(gen):
    x = torch.randn(6, 3, generator=gen, dtype=F64)
    ids = torch.tensor([0, 1, 2, 2, -100, 1])
    class_weight = torch.tensor([0.5, 2.0, 1.0], dtype=F64)
    kept = ids != -100
    p_t = torch.softmax(x, 1)[torch.arange(6), ids.clamp(min=0)]
    per = F.cross_entropy(x, ids, reduction="none") + 1.5 * (1 - p_t) * kept  # unweighted
    w_y = class_weight[ids.clamp(min=0)] * kept
    got = VF.poly1_loss(x, ids, epsilon=1.5, class_weight=class_weight, reduction="none")
    torch.testing.assert_close(got, w_y * per)
    got = VF.poly1_loss(x, ids, epsilon=1.5, class_weight=class_weight)
    torch.testing.assert_close(got, (w_y * per).sum() / w_y.sum())


def test_poly1_smoothed_pt_for_ids_equals_the_paper_with_one_hot(gen):
    # the paper's code smooths a one-hot label; for class ids p_t = (1 - s) p_y + s / C
    x = torch.randn(5, 4, generator=gen, dtype=F64)
    ids = torch.randint(0, 4, (5,), generator=gen)
    one_hot = F.one_hot(ids, 4).to(F64)
    torch.testing.assert_close(
        VF.poly1_loss(x, ids, label_smoothing=0.2, reduction="none"),
        VF.poly1_loss(x, one_hot, label_smoothing=0.2, reduction="none"),
    )


# --- properties ---------------------------------------------------------------------------------

logit = st.floats(-30, 30, allow_nan=False)


# (the bounds allow float64 rounding: torch's BCE for an easy negative loses ~|x| eps absolute)
@given(
    st.lists(st.tuples(logit, logit, logit), min_size=1, max_size=8),
    st.lists(st.integers(0, 2), min_size=8, max_size=8),
    st.floats(0.0, 5.0),
)
def test_focal_is_between_zero_and_ce_and_decreases_with_gamma(rows, labels, gamma):
    x = torch.tensor(rows, dtype=F64)
    ids = torch.tensor(labels[: len(rows)])
    ce = F.cross_entropy(x, ids, reduction="none")
    focal = VF.focal_loss(x, ids, mode="multiclass", gamma=gamma, reduction="none")
    more = VF.focal_loss(x, ids, mode="multiclass", gamma=gamma + 1, reduction="none")
    assert (focal >= 0).all() and (focal <= ce * (1 + 1e-9) + 1e-13).all()
    assert (more <= focal * (1 + 1e-9) + 1e-13).all()
    y = (ids == 0).to(F64)
    bce = F.binary_cross_entropy_with_logits(x[:, 0], y, reduction="none")
    sigmoid_focal = VF.focal_loss(x[:, 0], y, gamma=gamma, reduction="none")
    assert (sigmoid_focal >= 0).all() and (sigmoid_focal <= bce * (1 + 1e-9) + 1e-13).all()


@given(st.integers(2, 6), st.floats(0.0, 1.0))
def test_uniform_class_weight_equals_none(num_classes, smoothing):
    gen = torch.Generator().manual_seed(num_classes)
    x = torch.randn(5, num_classes, 3, generator=gen, dtype=F64)
    ids = torch.randint(0, num_classes, (5, 3), generator=gen)
    uniform = torch.full((num_classes,), 2.5, dtype=F64)
    for fn in (VF.cross_entropy, VF.poly1_loss):
        torch.testing.assert_close(
            fn(x, ids, class_weight=uniform, label_smoothing=smoothing),
            fn(x, ids, label_smoothing=smoothing),
        )


# --- bad input ----------------------------------------------------------------------------------


class TestBadInput:
    def test_class_ids_out_of_range(self):
        x = torch.randn(2, 4, 3)
        bad = torch.tensor([[0, 1, 4], [2, 3, 0]])
        message = r"target: expected class ids in \[0, 3\] \(or ignore_index=-100\), got values in \[4, 4\]"
        for fn, kw in (
            (VF.cross_entropy, {}),
            (VF.poly1_loss, {}),
            (VF.focal_loss, {"mode": "multiclass"}),
        ):
            with pytest.raises(ValueError, match=message):
                fn(x, bad, **kw)
        with pytest.raises(
            ValueError, match=r"target: expected class ids in \[0, 1\], got values in \[2, 2\]"
        ):
            VF.binary_cross_entropy(torch.zeros(3), torch.tensor([0, 1, 2]))

    def test_non_probability_targets(self):
        x = torch.randn(2, 3)
        message = r"target: expected probabilities in \[0, 1\], got values in \[1.5, 1.5\]"
        for fn, kw in (
            (VF.cross_entropy, {}),
            (VF.binary_cross_entropy, {}),
            (VF.focal_loss, {"mode": "multilabel"}),
            (VF.poly1_loss, {}),
        ):
            with pytest.raises(ValueError, match=message):
                fn(x, torch.tensor([[0.5, 1.5, 0.0], [0.0, 0.0, 1.0]]), **kw)
        with pytest.raises(
            ValueError,
            match=r"input: expected probabilities in \[0, 1\], got values in \[-0.5, -0.5\]",
        ):
            VF.binary_cross_entropy(torch.tensor([0.5, -0.5]), torch.ones(2), from_logits=False)

    def test_checks_off_do_not_change_a_result(self, gen):
        x = torch.randn(3, 4, 5, generator=gen)
        ids = torch.randint(0, 4, (3, 5), generator=gen)
        ids[0, 0] = -100
        y = torch.rand(3, 4, 5, generator=gen)
        alpha = torch.tensor([0.1, 0.2, 0.3, 0.4])

        def losses():
            return torch.stack(
                [
                    VF.cross_entropy(x, ids, class_weight=alpha, label_smoothing=0.1),
                    VF.focal_loss(x, ids, mode="multiclass", alpha=alpha),
                    VF.focal_loss(x, y, mode="multilabel", alpha=0.25, normalize=True),
                    VF.poly1_loss(x, ids),
                    VF.binary_cross_entropy(x, y, pos_weight=2.0),
                ]
            )

        on = losses()
        visionloss.set_checks(False)
        assert torch.equal(losses(), on)
        # what the checks exist for: off, a bad class id is no longer reported by visionloss
        with pytest.raises((IndexError, RuntimeError)):
            VF.cross_entropy(x, torch.full((3, 5), 7))

    def test_shapes(self):
        with pytest.raises(ValueError, match=r"target: expected class ids of shape \(2, 3\)"):
            VF.cross_entropy(torch.randn(2, 4, 3), torch.zeros(2, 4, dtype=torch.long))
        with pytest.raises(ValueError, match=r"target: expected the same shape as input \(2, 3\)"):
            VF.binary_cross_entropy(torch.randn(2, 3), torch.zeros(2))
        with pytest.raises(
            ValueError, match=r"input: expected shape \(N, C, \*\) for mode='multiclass'"
        ):
            VF.focal_loss(torch.randn(4), torch.zeros(4, dtype=torch.long), mode="multiclass")
        with pytest.raises(
            ValueError,
            match=r"class_weight: expected shape \(4,\), one weight per class, got \(3,\)",
        ):
            VF.cross_entropy(
                torch.randn(2, 4), torch.zeros(2, dtype=torch.long), class_weight=torch.ones(3)
            )
        with pytest.raises(
            ValueError,
            match=r"alpha: expected a number or a tensor of shape \(4,\), one value per class, got \(3,\)",
        ):
            VF.focal_loss(
                torch.randn(2, 4),
                torch.zeros(2, dtype=torch.long),
                mode="multiclass",
                alpha=torch.ones(3),
            )
        with pytest.raises(
            ValueError,
            match=r"pos_weight: expected a shape broadcastable to input \(2, 3\), got \(2,\)",
        ):
            VF.binary_cross_entropy(torch.randn(2, 3), torch.ones(2, 3), pos_weight=torch.ones(2))
        with pytest.raises(
            ValueError,
            match=r"weight: expected a shape broadcastable to the unreduced loss \(2,\), got \(3,\)",
        ):
            VF.cross_entropy(
                torch.randn(2, 4), torch.zeros(2, dtype=torch.long), weight=torch.ones(3)
            )

    def test_options(self):
        x, ids = torch.randn(2, 4), torch.zeros(2, dtype=torch.long)
        with pytest.raises(
            ValueError,
            match="mode: expected one of 'binary', 'multilabel', 'multiclass', got 'softmax'",
        ):
            VF.focal_loss(x, ids, mode="softmax")
        with pytest.raises(ValueError, match=r"gamma: expected a value in \[0.0, inf\], got -1.0"):
            visionloss.FocalLoss(gamma=-1.0)
        with pytest.raises(ValueError, match=r"alpha: expected a value in \[0.0, 1.0\], got 1.5"):
            VF.focal_loss(x, torch.ones(2, 4), alpha=1.5)
        with pytest.raises(
            TypeError, match="alpha: expected a real number or None for mode='binary'"
        ):
            VF.focal_loss(x, torch.ones(2, 4), alpha=torch.ones(4))
        with pytest.raises(
            ValueError, match="alpha: expected non-negative values, got a minimum of -1"
        ):
            VF.focal_loss(x, ids, mode="multiclass", alpha=torch.tensor([1.0, -1.0, 0.0, 0.0]))
        with pytest.raises(ValueError, match="normalize: expected False for mode='multiclass'"):
            VF.focal_loss(x, ids, mode="multiclass", normalize=True)
        with pytest.raises(TypeError, match="normalize: expected a bool, got 'yes'"):
            visionloss.FocalLoss(normalize="yes")
        with pytest.raises(TypeError, match="from_logits: expected a bool, got 1"):
            VF.binary_cross_entropy(x, torch.ones(2, 4), from_logits=1)
        with pytest.raises(
            ValueError, match=r"label_smoothing: expected a value in \[0.0, 1.0\], got 1.5"
        ):
            visionloss.CrossEntropyLoss(label_smoothing=1.5)
        with pytest.raises(TypeError, match="ignore_index: expected an int or None, got 'none'"):
            VF.cross_entropy(x, ids, ignore_index="none")
        with pytest.raises(
            ValueError, match=r"epsilon: expected a value in \[-1.0, inf\], got -2.0"
        ):
            VF.poly1_loss(x, ids, epsilon=-2.0)
        with pytest.raises(
            TypeError, match="class_weight: expected a floating-point tensor, got dtype torch.int64"
        ):
            visionloss.CrossEntropyLoss(class_weight=torch.ones(4, dtype=torch.long))
        with pytest.raises(ValueError, match="class_weight: expected non-negative values"):
            VF.cross_entropy(x, ids, class_weight=torch.tensor([1.0, -1.0, 1.0, 1.0]))
        with pytest.raises(
            TypeError, match="input: expected a floating-point tensor, got dtype torch.int64"
        ):
            VF.cross_entropy(ids.view(2, 1), ids)


# --- Modules and compile ------------------------------------------------------------------------


def test_modules_keep_tensor_options_as_buffers(gen):
    ce = visionloss.CrossEntropyLoss(
        class_weight=torch.tensor([1.0, 2.0, 3.0]), label_smoothing=0.1
    )
    focal = visionloss.FocalLoss(mode="multiclass", alpha=torch.tensor([0.2, 0.3, 0.5]))
    bce = visionloss.BCELoss(pos_weight=torch.tensor([2.0]))
    assert set(dict(ce.named_buffers())) == {"class_weight"}
    assert set(dict(focal.named_buffers())) == {"alpha"}
    assert set(dict(bce.named_buffers())) == {"pos_weight"}
    assert "class_weight=[1.0, 2.0, 3.0]" in repr(ce) and "label_smoothing=0.1" in repr(ce)
    assert "mode='multiclass'" in repr(focal)
    x = torch.randn(4, 3, generator=gen, dtype=F64)
    ids = torch.tensor([0, 1, 2, 1])
    ce = ce.to(F64)  # buffers follow the module
    torch.testing.assert_close(
        ce(x, ids), F.cross_entropy(x, ids, weight=ce.class_weight, label_smoothing=0.1)
    )
    pixel = torch.rand(4, generator=gen, dtype=F64)
    torch.testing.assert_close(
        visionloss.Poly1Loss()(x, ids, pixel), VF.poly1_loss(x, ids, weight=pixel)
    )


def test_compile_with_inductor():
    # the sweep compiles the representatives with aot_eager; one real inductor build here
    torch._dynamo.reset()
    x = torch.randn(2, 5, 4, 4)
    ids = torch.randint(0, 5, (2, 4, 4))
    ids[0, 0] = -100
    alpha = torch.tensor([0.1, 0.2, 0.3, 0.2, 0.2])

    def fn(x):
        return VF.focal_loss(x, ids, mode="multiclass", alpha=alpha) + VF.cross_entropy(
            x, ids, label_smoothing=0.1
        )

    compiled = torch.compile(fn, fullgraph=True)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    got, expected = compiled(xa), fn(xb)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(_grad(got, xa), _grad(expected, xb))


@pytest.mark.parametrize("gamma", [0.5, 2.0, 3.0])
@pytest.mark.parametrize("alpha", [None, 0.25])
def test_sigmoid_focal_blockwise_path_equals_reference(monkeypatch, gamma, alpha):
    # the CPU kernel runs in blocks of _BLOCK elements; shrink the block so that a small input
    # (with a ragged last block) takes that path, and compare with the plain composition
    from visionloss.kernels import focal as focal_kernels
    from visionloss.kernels import set_kernels

    monkeypatch.setattr(focal_kernels, "_BLOCK", 37)
    gen = torch.Generator().manual_seed(3)
    x = (torch.randn(7, 50, generator=gen, dtype=torch.float64) * 4).requires_grad_(True)
    y = (torch.rand(7, 50, generator=gen, dtype=torch.float64) < 0.3).to(torch.float64)
    grad_out = torch.rand(7, 50, generator=gen, dtype=torch.float64)
    assert len(focal_kernels._blocks(x, alpha)) > 1
    results = []
    for fused in (True, False):
        set_kernels(fused)
        loss = VF.focal_loss(x, y, mode="binary", alpha=alpha, gamma=gamma, reduction="none")
        (grad,) = torch.autograd.grad(loss, x, grad_out)
        results.append((loss, grad))
    torch.testing.assert_close(results[0], results[1])


# --- options declared once: lists for tensor options, checks at construction, specs -------------


LIST_CASES = [
    # (id, function, Module, options with a list or tuple, target kind)
    # pos_weight broadcasts as torch's: a (5,) list along the last dim of (4, 3, 5)
    ("bce pos_weight", VF.binary_cross_entropy, visionloss.BCELoss, {"pos_weight": [2.0, 0.5, 1.0, 3.0, 0.0]}, "binary"),
    ("ce class_weight", VF.cross_entropy, visionloss.CrossEntropyLoss, {"class_weight": [1.0, 2.0, 0.5]}, "ids"),
    ("ce class_weight smooth", VF.cross_entropy, visionloss.CrossEntropyLoss, {"class_weight": (1.0, 2.0, 0.5), "label_smoothing": 0.1}, "probs"),
    ("poly1 class_weight", VF.poly1_loss, visionloss.Poly1Loss, {"class_weight": [1.0, 2.0, 0.5]}, "ids"),
    ("focal multiclass alpha", VF.focal_loss, visionloss.FocalLoss, {"mode": "multiclass", "alpha": [0.2, 0.3, 0.5]}, "ids"),
    ("focal multilabel alpha", VF.focal_loss, visionloss.FocalLoss, {"mode": "multilabel", "alpha": (0.2, 0.3, 0.5)}, "binary"),
]


@pytest.mark.parametrize("case", LIST_CASES, ids=[c[0] for c in LIST_CASES])
def test_lists_are_accepted_for_tensor_options(gen, case):
    # DESIGN.md: tensor options also accept lists and tuples of numbers (a YAML configuration);
    # the list gives the value of the float32 tensor, in the function and in the Module
    _, function, module, options, kind = case
    x = torch.randn(4, 3, 5, generator=gen)
    if kind == "binary":
        y = (torch.rand(4, 3, 5, generator=gen) > 0.5).float()
    elif kind == "ids":
        y = torch.randint(0, 3, (4, 5), generator=gen)
    else:
        y = torch.softmax(torch.randn(4, 3, 5, generator=gen), 1)
    as_tensor = {k: torch.tensor(v) if isinstance(v, list | tuple) else v for k, v in options.items()}
    expected = function(x, y, **as_tensor)
    torch.testing.assert_close(function(x, y, **options), expected, rtol=0, atol=0)
    loss = module(**options)
    name = next(k for k, v in options.items() if isinstance(v, list | tuple))
    assert name in dict(loss.named_buffers())  # a buffer, as a tensor option given as a tensor
    assert loss.opts.as_dict()[name].dtype == torch.float32
    torch.testing.assert_close(loss(x, y), expected, rtol=0, atol=0)
    # the buffer follows the Module to another dtype
    x64, y64 = x.double(), (y.double() if y.is_floating_point() else y)
    torch.testing.assert_close(loss.to(F64)(x64, y64), function(x64, y64, **as_tensor))


def test_invalid_options_raise_when_the_module_is_built():
    # the options object checks itself when it is built: a Module never holds a bad option
    cases = [
        (TypeError, "alpha: expected a real number or None for mode='binary'",
         lambda: visionloss.FocalLoss(mode="binary", alpha=torch.ones(3))),
        (TypeError, "alpha: expected a real number or None for mode='binary'",
         lambda: visionloss.FocalLoss(alpha=[0.25])),
        (ValueError, r"alpha: expected a value in \[0.0, 1.0\], got 1.5",
         lambda: visionloss.FocalLoss(mode="multilabel", alpha=1.5)),
        (ValueError, "alpha: expected non-negative values",
         lambda: visionloss.FocalLoss(mode="multiclass", alpha=[1.0, -1.0])),
        (ValueError, r"alpha: expected a number or a tensor of shape \(C,\), got \(2, 2\)",
         lambda: visionloss.FocalLoss(mode="multiclass", alpha=torch.ones(2, 2))),
        (ValueError, "normalize: expected False for mode='multiclass'",
         lambda: visionloss.FocalLoss(mode="multiclass", normalize=True)),
        (ValueError, "mode: expected one of 'binary', 'multilabel', 'multiclass', got 'softmax'",
         lambda: visionloss.FocalLoss(mode="softmax")),
        (TypeError, "sync: expected a bool, got 1", lambda: visionloss.FocalLoss(sync=1)),
        (TypeError, "ignore_index: expected an int or None, got 1.5",
         lambda: visionloss.FocalLoss(ignore_index=1.5)),
        (ValueError, r"pos_weight: expected a value in \[0.0, inf\], got -1.0",
         lambda: visionloss.BCELoss(pos_weight=-1.0)),
        (ValueError, "pos_weight: expected non-negative values",
         lambda: visionloss.BCELoss(pos_weight=[1.0, -2.0])),
        (TypeError, "pos_weight: expected a tensor or a list of numbers, got",
         lambda: visionloss.BCELoss(pos_weight=["2"])),
        (ValueError, r"label_smoothing: expected a value in \[0.0, 1.0\], got -0.1",
         lambda: visionloss.BCELoss(label_smoothing=-0.1)),
        (ValueError, "class_weight: expected non-negative values",
         lambda: visionloss.CrossEntropyLoss(class_weight=[1.0, -1.0])),
        (ValueError, r"class_weight: expected shape \(C,\), one weight per class, got \(2, 2\)",
         lambda: visionloss.CrossEntropyLoss(class_weight=torch.ones(2, 2))),
        (TypeError, "class_weight: expected a tensor or a list of numbers, got",
         lambda: visionloss.Poly1Loss(class_weight=[[1.0], [2.0]])),
        (ValueError, r"epsilon: expected a value in \[-1.0, inf\], got -2.0",
         lambda: visionloss.Poly1Loss(epsilon=-2.0)),
        (ValueError, r"label_smoothing: expected a value in \[0.0, 1.0\], got 2.0",
         lambda: visionloss.Poly1Loss(label_smoothing=2.0)),
        (ValueError, "reduction: expected one of 'none', 'mean', 'sum', got 'avg'",
         lambda: visionloss.CrossEntropyLoss(reduction="avg")),
    ]
    for error, message, build in cases:
        with pytest.raises(error, match=message):
            build()


def test_call_time_checks_need_the_input():
    # what the options cannot know before the input: the number of classes
    x, ids = torch.randn(2, 4), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match=r"class_weight: expected shape \(4,\), one weight per class, got \(3,\)"):
        visionloss.CrossEntropyLoss(class_weight=[1.0, 1.0, 1.0])(x, ids)
    with pytest.raises(ValueError, match=r"class_weight: expected shape \(4,\), one weight per class, got \(3,\)"):
        visionloss.Poly1Loss(class_weight=[1.0, 1.0, 1.0])(x, ids)
    with pytest.raises(ValueError, match=r"alpha: expected a number or a tensor of shape \(4,\), one value per class, got \(3,\)"):
        visionloss.FocalLoss(mode="multiclass", alpha=[1.0, 1.0, 1.0])(x, ids)
    with pytest.raises(ValueError, match=r"pos_weight: expected a shape broadcastable to input \(2, 4\), got \(2,\)"):
        visionloss.BCELoss(pos_weight=[1.0, 1.0])(x, torch.ones(2, 4))


def test_specs_declare_the_family():
    from visionloss.losses import classification

    names = {spec.name: spec for spec in classification.SPECS}
    assert list(names) == [
        "binary_cross_entropy",
        "cross_entropy",
        "focal",
        "poly1",
        "varifocal",
        "quality_focal",
        "distribution_focal",
    ]
    for spec in classification.SPECS:
        assert spec.family == "classification" and spec.module is not None
        assert spec.module.spec is spec
        # the Module's docstring is the function's, its signature the options'
        assert spec.module.__doc__.startswith(inspect.cleandoc(spec.function.__doc__))
        params = inspect.signature(spec.module).parameters
        assert set(params) == set(spec.options.names())
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
        # the function's keyword defaults are the options' defaults
        function_defaults = {
            name: p.default
            for name, p in inspect.signature(spec.function).parameters.items()
            if name in spec.defaults
        }
        assert function_defaults == spec.defaults
        assert "forward" in vars(spec.module) and "__init__" not in vars(spec.module)
    assert names["focal"].paper.endswith("arXiv:1708.02002")
    assert names["poly1"].paper.endswith("arXiv:2204.12511")


@pytest.mark.parametrize("backend", ["fused", "reference"])
def test_kernel_ops_dispatch_to_their_reference_or_fused_function(gen, backend):
    # each op chooses in one place (backend_for): "reference" runs the plain composition that
    # its kernel file owns, "fused" the autograd.Function; same values and gradients (grad_out
    # != 1) either way
    from visionloss.kernels import cross_entropy as ce_kernels
    from visionloss.kernels import focal as focal_kernels

    x = torch.randn(3, 4, 5, generator=gen, dtype=F64) * 3
    ids = torch.randint(0, 4, (3, 5), generator=gen)
    ids[0, 0] = -100
    soft = torch.rand(3, 4, 5, generator=gen, dtype=F64)
    alpha = torch.tensor([0.1, 0.4, 0.2, 0.9], dtype=F64)
    ops = [
        ("_SigmoidFocal", focal_kernels.sigmoid_focal, focal_kernels.sigmoid_focal_reference,
         soft, {"alpha": 0.25, "gamma": 1.5, "ignore_index": None}),
        ("_SoftmaxFocal", focal_kernels.softmax_focal, focal_kernels.softmax_focal_reference,
         ids, {"alpha": alpha, "gamma": 2.0, "ignore_index": -100}),
        ("_SoftmaxFocal", focal_kernels.softmax_focal, focal_kernels.softmax_focal_reference,
         torch.softmax(soft, 1), {"alpha": None, "gamma": 0.5, "ignore_index": -100}),
        ("_CrossEntropyIds", ce_kernels.cross_entropy_ids, ce_kernels.cross_entropy_ids_reference,
         ids.clamp_min(0), {"class_weight": alpha, "label_smoothing": 0.1}),
    ]
    set_kernels(backend)
    for function_name, op, reference, target, options in ops:
        xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        got, expected = op(xa, target, **options), reference(xb, target, **options)
        fused = type(got.grad_fn).__name__.startswith(function_name)
        assert fused == (backend == "fused"), (function_name, type(got.grad_fn).__name__)
        grad_out = torch.rand(got.shape, generator=torch.Generator().manual_seed(5), dtype=F64)
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(
            _grad(got, xa, grad_out), _grad(expected, xb, grad_out), rtol=1e-10, atol=1e-14
        )


# --- issue 14: tensor options that require grad, second derivatives of the fused ops ------------


def _grads_by_backend(backend, loss_fn, tensors):
    """Gradients of ``loss_fn(*leaves)`` w.r.t. fresh leaves of ``tensors`` under ``backend``."""
    set_kernels(backend)
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    return torch.autograd.grad(loss_fn(*leaves), leaves)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_class_weight_that_requires_grad_gets_its_gradient(gen, label_smoothing):
    # the fused path treats class_weight as a constant: a class_weight that requires grad takes
    # the reference (one dispatch point), so its gradient is the reference's, never dropped
    x = torch.randn(3, 4, 5, generator=gen, dtype=F64) * 3
    ids = torch.randint(0, 4, (3, 5), generator=gen)
    ids[0, 0] = -100
    cw = torch.tensor([0.5, 1.0, 2.0, 0.25], dtype=F64)

    def loss(x, cw):
        return VF.cross_entropy(x, ids, class_weight=cw, label_smoothing=label_smoothing)

    got = _grads_by_backend("auto", loss, [x, cw])
    expected = _grads_by_backend("reference", loss, [x, cw])
    assert got[1].abs().sum() > 0
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-14)
    assert torch.autograd.gradcheck(loss, (x.requires_grad_(), cw.requires_grad_()), eps=1e-6)


def _hessian_vector(loss_fn, x, v):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(x), x, create_graph=True)
    (hv,) = torch.autograd.grad(g, x, v)
    return hv


@pytest.mark.parametrize(
    "call",
    [
        lambda x, ids, soft: VF.cross_entropy(x, ids),
        lambda x, ids, soft: VF.cross_entropy(
            x, ids, class_weight=[0.5, 1.0, 2.0, 0.25], label_smoothing=0.1
        ),
        lambda x, ids, soft: VF.focal_loss(x, ids, mode="multiclass", alpha=[0.1, 0.4, 0.2, 0.9]),
        lambda x, ids, soft: VF.focal_loss(x, soft, mode="multiclass", gamma=0.5),
        lambda x, ids, soft: VF.focal_loss(x, soft, mode="multilabel", alpha=0.25, gamma=1.5),
    ],
    ids=["ce", "ce_weight_smoothing", "focal_ids_alpha", "focal_probs", "focal_sigmoid"],
)
def test_fused_second_derivative_equals_the_reference(gen, call):
    # the fused backward used to be once-differentiable in effect (a graph-less gradient: the
    # Hessian term through the softmax was dropped, 0.06 off here for cross_entropy); a
    # differentiated backward now returns the reference's gradient as a graph
    x = torch.randn(3, 4, 5, generator=gen, dtype=F64) * 2
    ids = torch.randint(0, 4, (3, 5), generator=gen)
    ids[1, 2] = -100
    soft = torch.softmax(torch.randn(3, 4, 5, generator=gen, dtype=F64), 1)
    v = torch.randn(3, 4, 5, generator=gen, dtype=F64)

    def loss(x):
        return call(x, ids, soft)

    set_kernels("fused")
    got = _hessian_vector(loss, x, v)
    set_kernels("reference")
    expected = _hessian_vector(loss, x, v)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


# --- softmax focal on CPU through torch's nll_loss (kernels/focal_cpu.py) ----------------------


@pytest.mark.parametrize("alpha", [None, 0.25, [0.1, 0.2, 0.3, 0.4]])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("ignore_index", [None, -100, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_softmax_focal_cpu_path_equals_the_general_path(
    monkeypatch, alpha, gamma, ignore_index, reduction
):
    from visionloss.kernels import focal_cpu, set_kernels

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    ids = torch.randint(0, 4, (2, 5, 3), generator=gen)
    ids[0, 0, 0] = -100  # ignored under -100; an out-of-range id otherwise (not used then)
    if ignore_index != -100:
        ids[0, 0, 0] = 1
    taken = []
    real = focal_cpu.softmax_focal_torch
    monkeypatch.setattr(focal_cpu, "softmax_focal_torch", lambda *a, **k: taken.append(1) or real(*a, **k))
    kwargs = dict(mode="multiclass", alpha=alpha, gamma=gamma, ignore_index=ignore_index)
    value = VF.focal_loss(x, ids, reduction=reduction, **kwargs)
    (grad,) = torch.autograd.grad(value.sum(), x)
    # auto on CPU takes torch's nll_loss path, except without an ignore_index (see below)
    assert bool(taken) == (ignore_index is not None)
    set_kernels("reference")
    expected = VF.focal_loss(x, ids, reduction=reduction, **kwargs)
    (expected_grad,) = torch.autograd.grad(expected.sum(), x)
    torch.testing.assert_close(value, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=1e-12)


def test_softmax_focal_cpu_path_edge_cases():
    x = torch.randn(2, 3, 4, requires_grad=True)
    all_ignored = torch.full((2, 4), -100)
    value = VF.focal_loss(x, all_ignored, mode="multiclass")
    (grad,) = torch.autograd.grad(value, x)
    assert value.item() == 0.0 and not grad.any()
    empty = torch.randn(0, 3, 4, requires_grad=True)
    assert VF.focal_loss(empty, torch.zeros(0, 4, dtype=torch.long), mode="multiclass").item() == 0
    with pytest.raises(ValueError, match=r"target: expected class ids in \[0, 2\]"):
        VF.focal_loss(x, torch.full((2, 4), 3), mode="multiclass")
    nan = x.detach().clone()
    nan[0, :, 1] = float("nan")
    assert VF.focal_loss(nan, torch.zeros(2, 4, dtype=torch.long), mode="multiclass").isnan()


@pytest.mark.parametrize("loss", ["cross_entropy", "focal"])
def test_without_ignore_index_torchs_default_ignore_value_is_refused(loss):
    """torch's own kernels always ignore some id (-100): with ignore_index=None the CPU paths
    that call them must not silently skip a -100, which is an id out of range."""
    x = torch.randn(2, 3, 4)
    ids = torch.tensor([[0, 1, 2, -100], [0, 0, 0, 0]])
    with pytest.raises(ValueError, match=r"target: expected class ids in \[0, 2\]"):
        if loss == "cross_entropy":
            VF.cross_entropy(x, ids, ignore_index=None)
        else:
            VF.focal_loss(x, ids, mode="multiclass", ignore_index=None)
