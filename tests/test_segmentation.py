"""Segmentation family: fused vs reference, memory kept, empty-mask policy, properties, Lovász,
Dice+CE/focal, checks, compile and the 2-rank sync.

The generic sweep (test_contract.py) covers the float64 references (tests/catalogue/segmentation.py),
reductions, weights, gradcheck, precision and compile of the forward; here are the facts specific
to this family. Expected values are derived by hand in the comments or come from the naive
one-hot references of the catalogue.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import visionloss
import visionloss.functional as VF
from catalogue.segmentation import (
    ref_dice,
    ref_generalized_dice,
    ref_jaccard,
    ref_lovasz_softmax,
    ref_stats,
    ref_tversky,
)
from distributed_utils import run_on_ranks
from visionloss._core.memory import saved_storages
from visionloss.kernels import set_kernels

OVERLAP = [
    VF.dice_loss,
    VF.jaccard_loss,
    VF.tversky_loss,
    VF.focal_tversky_loss,
    VF.generalized_dice_loss,
]


def _logits(gen, *shape, scale=2.0, dtype=torch.float64):
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def _labels(gen, n, c, *spatial, ignore=0):
    t = torch.randint(0, c, (n, *spatial), generator=gen)
    if ignore:
        flat = t.view(-1)
        flat[torch.randperm(flat.numel(), generator=gen)[:ignore]] = -100
    return t


def _both_paths(fn, x, *args, grad_out=None, **kwargs):
    """(value, grad) with the fused kernel and with the plain reference."""
    out = {}
    for fused in (True, False):
        set_kernels(fused)
        xi = x.detach().clone().requires_grad_(True)
        loss = fn(xi, *args, **kwargs)
        g = torch.ones_like(loss) if grad_out is None else grad_out
        (grad,) = torch.autograd.grad(loss, xi, g)
        out[fused] = (loss.detach(), grad)
    set_kernels(True)
    return out[True], out[False]


# --- fused kernel == plain reference ------------------------------------------------------------


CONFIGS = [
    # (mode, target kind, options)
    ("multiclass", "index", {}),
    ("multiclass", "index", {"squared": True, "batch_dice": True}),
    ("multiclass", "index", {"from_logits": False}),
    ("multiclass", "probs", {}),
    ("multiclass", "probs", {"squared": True}),
    ("multilabel", "index01", {}),
    ("multilabel", "probs", {"squared": True}),
    ("binary", "index01", {"from_logits": False}),
    ("binary", "probs", {"batch_dice": True}),
]


def _inputs(gen, mode, kind, shape=(3, 4, 5, 6), from_logits=True):
    n, c, *spatial = shape
    if mode == "binary":
        c = 1
    x = _logits(gen, n, c, *spatial)
    if not from_logits:
        x = x.softmax(1) if mode == "multiclass" else torch.sigmoid(x)
    if kind == "index":
        t = _labels(gen, n, c, *spatial, ignore=7)
    elif kind == "index01":
        t = torch.randint(0, 2, (n, c, *spatial), generator=gen)
        t.view(-1)[:5] = -100
    else:
        t = torch.rand(n, c, *spatial, generator=gen, dtype=torch.float64)
        if mode == "multiclass":
            t = t / t.sum(1, keepdim=True)
    return x, t


@pytest.mark.parametrize(("mode", "kind", "options"), CONFIGS)
@pytest.mark.parametrize("fn", [VF.dice_loss, VF.tversky_loss, VF.generalized_dice_loss])
def test_fused_equals_reference_values_and_grads(gen, mode, kind, options, fn):
    if fn is VF.tversky_loss and options.get("squared"):
        options = {k: v for k, v in options.items() if k != "squared"}
    x, t = _inputs(gen, mode, kind, from_logits=options.get("from_logits", True))
    none = fn(x, t, mode=mode, reduction="none", **options)
    grad_out = torch.rand(none.shape, generator=gen, dtype=torch.float64) + 0.5  # != 1
    fused, plain = _both_paths(fn, x, t, mode=mode, reduction="none", grad_out=grad_out, **options)
    torch.testing.assert_close(fused[0], plain[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused[1], plain[1], rtol=1e-10, atol=1e-12)


def test_fused_equals_reference_3d_volume_and_against_float64_formula(gen):
    # a 3D volume (N, C, D, H, W), float32 through the kernel, float64 through the naive
    # one-hot formula differentiated by autograd
    x = _logits(gen, 2, 3, 4, 5, 6, dtype=torch.float32)
    t = _labels(gen, 2, 3, 4, 5, 6, ignore=9)
    fused, plain = _both_paths(VF.dice_loss, x, t, mode="multiclass")
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-6)
    x64 = x.double().requires_grad_(True)
    expected = ref_dice(x64, t, mode="multiclass").mean()
    (g64,) = torch.autograd.grad(expected, x64)
    torch.testing.assert_close(fused[0], expected.float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fused[1], g64.float(), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    ("fn", "ref", "options"),
    [
        (VF.jaccard_loss, ref_jaccard, {}),
        (VF.tversky_loss, ref_tversky, {"alpha": 0.2, "beta": 0.9}),
        (VF.focal_tversky_loss, ref_tversky, {"gamma": 0.75}),
        (VF.generalized_dice_loss, ref_generalized_dice, {"weight_type": "simple"}),
        (VF.dice_loss, ref_dice, {"squared": True, "log_loss": True}),
    ],
)
def test_gradients_match_autograd_of_float64_formula(gen, fn, ref, options):
    x = _logits(gen, 2, 4, 6, 5)
    t = _labels(gen, 2, 4, 6, 5, ignore=4)
    x1 = x.clone().requires_grad_(True)
    (got,) = torch.autograd.grad(fn(x1, t, mode="multiclass", reduction="sum", **options), x1)
    x2 = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(ref(x2, t, mode="multiclass", **options).sum(), x2)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


# --- memory kept for backward -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "kind"), [("multiclass", "index"), ("multiclass", "probs"), ("multilabel", "index01")]
)
def test_fused_keeps_only_input_target_and_small_statistics(gen, mode, kind):
    x, t = _inputs(gen, mode, kind, shape=(2, 5, 16, 16))
    x = x.float().requires_grad_(True)
    t = t.float() if t.is_floating_point() else t
    image_bytes = x.numel() * 4
    for fn in (VF.dice_loss, VF.tversky_loss, VF.generalized_dice_loss):
        fused = saved_storages(lambda fn=fn: fn(x, t, mode=mode), [x, t])
        # only (N, C)-sized statistics besides the caller's own tensors
        assert sum(fused.values()) <= 64 * x.shape[0] * x.shape[1] * 8, fn.__name__
        set_kernels(False)
        plain = saved_storages(lambda fn=fn: fn(x, t, mode=mode), [x, t])
        set_kernels(True)
        assert sum(plain.values()) >= image_bytes  # the composition keeps the softmax


def test_integer_targets_are_never_one_hot_expanded(gen):
    # every tensor of the input's size that forward and backward create is a float derived from
    # the logits (softmax, its masked copy, the gradient): none comes from the class ids
    from torch.utils._python_dispatch import TorchDispatchMode

    x = _logits(gen, 2, 7, 8, 8, dtype=torch.float32).requires_grad_(True)
    t = _labels(gen, 2, 7, 8, 8, ignore=5)
    big = []

    class Watch(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for o in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(o, torch.Tensor) and o.numel() >= x.numel():
                    big.append((str(func), o.dtype))
            return out

    with Watch():
        VF.dice_loss(x, t, mode="multiclass").backward()
    assert big and all(dtype == torch.float32 for _, dtype in big), big
    assert not any("one_hot" in f or "eq." in f for f, _ in big), big


# --- the empty-mask policy ----------------------------------------------------------------------


@pytest.mark.parametrize("fn", [VF.dice_loss, VF.jaccard_loss, VF.tversky_loss])
def test_empty_mask_policy(fn):
    # 3 classes on 4 pixels; class 2 is absent from the target
    t = torch.tensor([[0, 0, 1, 1]])
    confident = torch.tensor([[[20.0, 20, -20, -20], [-20, -20, 20, 20], [-20, -20, -20, -20]]])
    loss = fn(confident, t, mode="multiclass", reduction="none")
    # absent and not predicted: P ~ 4e-9, loss ~ P / (P + smooth) ~ 4e-4 -> about 0
    assert loss[0, 2] < 1e-3
    # absent but predicted (class 2 takes pixel 0): s / (P + s) ~ 1e-5 -> about 1
    wrong = confident.clone()
    wrong[0, 2, 0] = 40.0
    loss = fn(wrong, t, mode="multiclass", reduction="none")
    assert loss[0, 2] > 0.99


@pytest.mark.parametrize("fn", OVERLAP)
def test_fully_ignored_image_gives_zero_and_leaves_the_mean(gen, fn):
    x = _logits(gen, 2, 3, 4, 4)
    t = _labels(gen, 2, 3, 4, 4)
    t[1] = -100
    x.requires_grad_(True)
    none = fn(x, t, mode="multiclass", reduction="none")
    assert (none[1] == 0).all()
    mean = fn(x, t, mode="multiclass")
    alone = fn(x[:1], t[:1], mode="multiclass")
    torch.testing.assert_close(mean, alone)  # the ignored image is not counted
    (grad,) = torch.autograd.grad(mean, x)
    assert (grad[1] == 0).all() and grad[0].abs().sum() > 0
    # a batch that is entirely ignored: 0, not NaN, zero gradients
    t[:] = -100
    for fused in (True, False):
        set_kernels(fused)
        loss = fn(x, t, mode="multiclass")
        (grad,) = torch.autograd.grad(loss, x)
        assert loss.item() == 0.0 and not grad.any()


def test_smooth_zero_never_divides_by_zero():
    x = torch.zeros(1, 2, 3, requires_grad=True)
    t = torch.full((1, 3), -100)
    loss = VF.dice_loss(x, t, mode="multiclass", smooth=0.0, log_loss=True)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(x.grad).all()


def test_ignore_equals_removing_the_pixels(gen):
    x = _logits(gen, 2, 3, 4, 6)
    t = _labels(gen, 2, 3, 4, 6)
    masked = t.clone()
    masked[..., 3:] = -100
    for fn in OVERLAP:
        torch.testing.assert_close(
            fn(x, masked, mode="multiclass", reduction="none"),
            fn(x[..., :3], t[..., :3], mode="multiclass", reduction="none"),
        )
    # multilabel integer targets: elementwise ignore equals the reference's masking
    t01 = torch.randint(0, 2, (2, 3, 4, 6), generator=gen)
    t01[0, 1, :, :2] = -100
    torch.testing.assert_close(
        VF.dice_loss(x, t01, mode="multilabel", reduction="none"),
        ref_dice(x, t01, mode="multilabel"),
    )


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(2, 4),
    s=st.integers(1, 9),
    seed=st.integers(0, 2**16),
    smooth=st.sampled_from([0.0, 1e-5, 1.0]),
)
def test_tversky_half_half_is_dice_and_one_one_is_jaccard(n, c, s, seed, smooth):
    gen = torch.Generator().manual_seed(seed)
    x = _logits(gen, n, c, s, scale=3.0)
    t = _labels(gen, n, c, s)
    dice = VF.dice_loss(x, t, mode="multiclass", smooth=smooth, reduction="none")
    # smooth enters Tversky once and Dice twice: 1 - (I + s) / ((P + G) / 2 + s) = Dice with 2s
    tversky = VF.tversky_loss(x, t, mode="multiclass", smooth=smooth / 2, reduction="none")
    torch.testing.assert_close(tversky, dice, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(
        VF.tversky_loss(x, t, mode="multiclass", alpha=1.0, beta=1.0, smooth=smooth),
        VF.jaccard_loss(x, t, mode="multiclass", smooth=smooth),
    )
    torch.testing.assert_close(
        VF.focal_tversky_loss(x, t, mode="multiclass", gamma=1.0, alpha=0.3, beta=0.7),
        VF.tversky_loss(x, t, mode="multiclass", alpha=0.3, beta=0.7),
    )
    for fn in OVERLAP:
        loss = fn(x, t, mode="multiclass", smooth=smooth, reduction="none")
        assert ((loss >= -1e-12) & (loss <= 1 + 1e-12)).all()


def test_tversky_default_equals_dice_with_default_smooth(gen):
    # the brief's property with every default: Dice's 2I + s over P + G + s vs Tversky's
    # I + s over (P + G)/2 + s differ by O(s) only
    x, t = _logits(gen, 2, 3, 5, 5), _labels(gen, 2, 3, 5, 5)
    torch.testing.assert_close(
        VF.tversky_loss(x, t, mode="multiclass"),
        VF.dice_loss(x, t, mode="multiclass"),
        rtol=0,
        atol=1e-6,
    )


def test_perfect_prediction_gives_zero(gen):
    t = _labels(gen, 2, 3, 4, 4)
    probs = F.one_hot(t, 3).movedim(-1, 1).double()
    for fn in OVERLAP:
        loss = fn(probs, t, mode="multiclass", from_logits=False, smooth=0.0)
        assert loss.abs().item() < 1e-12, fn.__name__
    assert VF.lovasz_softmax_loss(probs, t, from_logits=False).item() == 0.0


def test_class_weight_is_weight_along_classes(gen):
    x, t = _logits(gen, 2, 3, 4, 4), _labels(gen, 2, 3, 4, 4)
    cw = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)
    for fn in (VF.dice_loss, VF.jaccard_loss, VF.tversky_loss, VF.focal_tversky_loss):
        torch.testing.assert_close(
            fn(x, t, mode="multiclass", class_weight=cw),
            fn(x, t, mode="multiclass", weight=cw.expand(2, 3)),
        )
        # uniform class weights change nothing
        torch.testing.assert_close(
            fn(x, t, mode="multiclass", class_weight=torch.full((3,), 3.0, dtype=torch.float64)),
            fn(x, t, mode="multiclass"),
        )


def test_batch_dice_sums_over_the_batch(gen):
    x, t = _logits(gen, 3, 3, 4, 4), _labels(gen, 3, 3, 4, 4, ignore=5)
    inter, pred, tgt = (s.sum(0) for s in ref_stats(x, t, mode="multiclass"))
    expected = 1 - (2 * inter + 1e-5) / (pred + tgt + 1e-5)
    got = VF.dice_loss(x, t, mode="multiclass", batch_dice=True, reduction="none")
    assert got.shape == (3,)
    torch.testing.assert_close(got, expected)
    # equal to one image made of the batch side by side
    wide_x = x.permute(1, 2, 0, 3).reshape(1, 3, 4, 12)
    wide_t = t.permute(1, 0, 2).reshape(1, 4, 12)
    torch.testing.assert_close(
        got, VF.dice_loss(wide_x, wide_t, mode="multiclass", reduction="none")[0]
    )


def test_generalized_dice_weights(gen):
    x = _logits(gen, 2, 3, 4, 4)
    t = _labels(gen, 2, 3, 4, 4)
    t[0][t[0] == 2] = 1  # class 2 absent from image 0: weight 0, finite loss
    loss = VF.generalized_dice_loss(x, t, mode="multiclass", reduction="none")
    assert torch.isfinite(loss).all()
    torch.testing.assert_close(loss, ref_generalized_dice(x, t, mode="multiclass"))
    # "uniform" is one Dice over all classes pooled (kornia's "micro")
    inter, pred, tgt = ref_stats(x, t, mode="multiclass")
    pooled = 1 - (2 * inter.sum(1) + 1e-5) / ((pred + tgt).sum(1) + 1e-5)
    torch.testing.assert_close(
        VF.generalized_dice_loss(x, t, mode="multiclass", weight_type="uniform", reduction="none"),
        pooled,
    )
    # batch_dice: weights from the batch's class sizes, one value
    got = VF.generalized_dice_loss(x, t, mode="multiclass", batch_dice=True, reduction="none")
    inter, pred, tgt = inter.sum(0), pred.sum(0), tgt.sum(0)
    w = 1 / tgt**2
    expected = 1 - (2 * (w * inter).sum() + 1e-5) / ((w * (pred + tgt)).sum() + 1e-5)
    assert got.shape == ()
    torch.testing.assert_close(got, expected)
    # class_weight multiplies the Sudre weights: zeroing a class equals its absence from w
    cw = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    w = torch.where(tgt > 0, 1 / tgt**2, 0.0) * cw
    expected = 1 - (2 * (w * inter).sum() + 1e-5) / ((w * (pred + tgt)).sum() + 1e-5)
    torch.testing.assert_close(
        VF.generalized_dice_loss(x, t, mode="multiclass", batch_dice=True, class_weight=cw),
        expected,
    )


def test_binary_mode_accepts_any_shape(gen):
    x = _logits(gen, 3, 7)
    y = torch.randint(0, 2, (3, 7), generator=gen)
    torch.testing.assert_close(
        VF.dice_loss(x, y, mode="binary", reduction="none"),
        VF.dice_loss(x.unsqueeze(1), y.unsqueeze(1), mode="binary", reduction="none"),
    )
    assert VF.dice_loss(x, y, mode="binary", reduction="none").shape == (3, 1)
    # binary = multilabel with one channel = two-class softmax on (0, x)
    two = torch.stack((torch.zeros_like(x), x), 1)
    torch.testing.assert_close(
        VF.dice_loss(x, y, mode="binary", reduction="none")[:, 0],
        VF.dice_loss(two, y, mode="multiclass", reduction="none")[:, 1],
    )


# --- precision ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("fused", [True, False])
def test_extreme_low_precision_logits_are_finite(dtype, fused):
    set_kernels(fused)
    big = 65504.0 if dtype == torch.float16 else 1e4
    x = torch.full((2, 3, 4, 4), -big, dtype=dtype)
    x[:, 1] = big
    x[0, 2, :2] = big  # exact ties between saturated classes
    x.requires_grad_(True)
    t = torch.randint(0, 3, (2, 4, 4), generator=torch.Generator().manual_seed(0))
    for fn in OVERLAP:
        loss = fn(x, t, mode="multiclass")
        (grad,) = torch.autograd.grad(loss, x)
        assert loss.dtype == torch.float32 and torch.isfinite(loss), fn.__name__
        assert grad.dtype == dtype and torch.isfinite(grad).all(), fn.__name__
        # the same as the float32 computation on the same (rounded) logits
        torch.testing.assert_close(loss, fn(x.detach().float(), t, mode="multiclass"))
    for fn, kwargs in (
        (VF.lovasz_softmax_loss, {}),
        (VF.dice_ce_loss, {}),
        (VF.lovasz_hinge_loss, {}),
    ):
        inp = x[:, :1] if fn is VF.lovasz_hinge_loss else x
        tgt = (t > 0).long().unsqueeze(1) if fn is VF.lovasz_hinge_loss else t
        loss = fn(inp, tgt, **kwargs)
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(loss) and torch.isfinite(grad).all(), fn.__name__


# --- Lovász -------------------------------------------------------------------------------------


def test_lovasz_softmax_options(gen):
    x = _logits(gen, 3, 4, 5, 5)
    t = _labels(gen, 3, 4, 5, 5, ignore=10)
    t[1][t[1] == 3] = 0  # class 3 absent from image 1
    per_class = VF.lovasz_softmax_loss(x, t, classes="all", reduction="none")
    torch.testing.assert_close(
        per_class, ref_lovasz_softmax(x, t, classes="all"), rtol=1e-10, atol=1e-12
    )
    # a list of classes is the mean over those classes
    torch.testing.assert_close(
        VF.lovasz_softmax_loss(x, t, classes=[1, 3]), per_class[[1, 3]].mean()
    )
    # per image: Berman's mean over images of the mean over present classes
    torch.testing.assert_close(
        VF.lovasz_softmax_loss(x, t, per_image=True, reduction="none"),
        ref_lovasz_softmax(x, t, per_image=True),
        rtol=1e-10,
        atol=1e-12,
    )
    # the "present" mean leaves out a class absent from the whole batch
    t2 = t.clone()
    t2[t2 == 2] = 0
    none = VF.lovasz_softmax_loss(x, t2, reduction="none")
    assert none[2] == 0
    torch.testing.assert_close(VF.lovasz_softmax_loss(x, t2), none[[0, 1, 3]].mean())


def test_lovasz_fully_ignored_and_hinge_options(gen):
    x = _logits(gen, 2, 3, 4, 4).requires_grad_(True)
    t = torch.full((2, 4, 4), -100)
    for per_image in (True, False):
        loss = VF.lovasz_softmax_loss(x, t, per_image=per_image)
        (grad,) = torch.autograd.grad(loss, x)
        assert loss.item() == 0.0 and not grad.any()
    logits = _logits(gen, 3, 1, 4, 4)
    y = torch.randint(0, 2, (3, 1, 4, 4), generator=gen)
    # per_image=False: the batch as one image
    torch.testing.assert_close(
        VF.lovasz_hinge_loss(logits, y, per_image=False),
        VF.lovasz_hinge_loss(logits.reshape(1, -1), y.reshape(1, -1)),
    )
    # hand example: logits (2, -1, 0.5, -3), labels (1, 0, 0, 0): errors (-1, 0, 1.5, -2);
    # only 1.5 is positive, first in the order, with weight J_1 = 1 - 1/2 -> 0.75
    got = VF.lovasz_hinge_loss(torch.tensor([[2.0, -1.0, 0.5, -3.0]]), torch.tensor([[1, 0, 0, 0]]))
    assert got.item() == pytest.approx(0.75)
    # ignoring a pixel equals removing it
    y[0, 0, 0, 0] = -100
    torch.testing.assert_close(
        VF.lovasz_hinge_loss(logits[:1], y[:1], reduction="none"),
        VF.lovasz_hinge_loss(logits[:1].reshape(1, -1)[:, 1:], y[:1].reshape(1, -1)[:, 1:]).reshape(
            1
        ),
    )


def test_lovasz_is_vectorised_no_per_pixel_python():
    # a 64x64 batch of 4 images and 8 classes runs in one sort per (image, class)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 8, 64, 64, generator=gen, requires_grad=True)
    t = torch.randint(0, 8, (4, 64, 64), generator=gen)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        VF.lovasz_softmax_loss(x, t, per_image=True).backward()
    sorts = [e for e in prof.key_averages() if e.key == "aten::sort"]
    assert sorts and sorts[0].count == 1


# --- Dice + CE / focal --------------------------------------------------------------------------


def test_dice_ce_is_the_sum_of_its_parts(gen):
    x, t = _logits(gen, 2, 3, 4, 4), _labels(gen, 2, 3, 4, 4)
    got = VF.dice_ce_loss(x, t, lambda_dice=0.3, lambda_ce=1.7)
    expected = 0.3 * VF.dice_loss(x, t, mode="multiclass") + 1.7 * VF.cross_entropy(x, t)
    torch.testing.assert_close(got, expected)
    # with class weights, each sample's CE is torch's weighted mean within the sample
    cw = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    got = VF.dice_ce_loss(x, t, class_weight=cw, reduction="none")
    for n in range(2):
        expected = VF.dice_loss(
            x[n : n + 1], t[n : n + 1], mode="multiclass", class_weight=cw
        ) + F.cross_entropy(x[n : n + 1], t[n : n + 1], weight=cw)
        torch.testing.assert_close(got[n], expected)
    # gamma = 0 focal is cross-entropy
    torch.testing.assert_close(
        VF.dice_focal_loss(x, t, gamma=0.0), VF.dice_ce_loss(x, t), rtol=1e-12, atol=1e-12
    )
    # binary: Dice + BCE with logits
    xb = _logits(gen, 2, 1, 4, 4)
    yb = torch.randint(0, 2, (2, 1, 4, 4), generator=gen)
    torch.testing.assert_close(
        VF.dice_ce_loss(xb, yb, mode="binary"),
        VF.dice_loss(xb, yb, mode="binary") + F.binary_cross_entropy_with_logits(xb, yb.double()),
    )


def test_dice_ce_shares_one_softmax_and_keeps_one_image_sized_tensor(gen):
    x = _logits(gen, 2, 5, 16, 16, dtype=torch.float32).requires_grad_(True)
    t = _labels(gen, 2, 5, 16, 16, ignore=3)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        VF.dice_ce_loss(x, t).backward()
    names = [e.key for e in prof.key_averages()]
    assert "aten::_log_softmax" in names and "aten::_softmax" not in names
    saved = saved_storages(lambda: VF.dice_ce_loss(x, t), [x, t])
    big = [b for b in saved.values() if b >= x.numel() * 4]
    assert len(big) == 1  # the log-probabilities, kept by log_softmax and the Dice kernel alike


def test_dice_ce_fully_ignored_sample_leaves_the_mean(gen):
    x, t = _logits(gen, 2, 3, 4, 4), _labels(gen, 2, 3, 4, 4)
    t[0] = -100
    torch.testing.assert_close(VF.dice_ce_loss(x, t), VF.dice_ce_loss(x[1:], t[1:]))
    t[:] = -100
    x.requires_grad_(True)
    loss = VF.dice_focal_loss(x, t)
    (grad,) = torch.autograd.grad(loss, x)
    assert loss.item() == 0.0 and not grad.any()


# --- compile ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [VF.dice_loss, VF.tversky_loss])
def test_compile_fullgraph_forward_and_backward(gen, fn):
    torch._dynamo.reset()
    x = _logits(gen, 2, 3, 8, 8, dtype=torch.float32)
    t = _labels(gen, 2, 3, 8, 8, ignore=6)

    def step(x, t):
        return fn(x, t, mode="multiclass", batch_dice=True)

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    la, lb = compiled(xa, t), step(xb, t)
    la.backward()
    lb.backward()
    torch.testing.assert_close(la, lb)
    torch.testing.assert_close(xa.grad, xb.grad)


def test_compile_with_inductor():
    torch._dynamo.reset()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, 8, generator=gen)
    t = torch.randint(0, 3, (2, 8, 8), generator=gen)
    compiled = torch.compile(lambda a, b: VF.dice_loss(a, b, mode="multiclass"), fullgraph=True)
    torch.testing.assert_close(compiled(x, t), VF.dice_loss(x, t, mode="multiclass"))


# --- bad input ----------------------------------------------------------------------------------


class TestBadInput:
    x = torch.zeros(2, 3, 4)
    t = torch.zeros(2, 4, dtype=torch.long)

    @pytest.mark.parametrize("fn", OVERLAP)
    def test_mode(self, fn):
        with pytest.raises(
            ValueError,
            match="mode: expected one of 'binary', 'multilabel', 'multiclass', got 'softmax'",
        ):
            fn(self.x, self.t, mode="softmax")
        with pytest.raises(TypeError, match="mode"):
            fn(self.x, self.t)  # mode is required

    @pytest.mark.parametrize("fn", OVERLAP)
    def test_shapes_and_dtypes(self, fn):
        with pytest.raises(ValueError, match=r"target: expected class ids of shape \(2, 4\)"):
            fn(self.x, torch.zeros(2, 5, dtype=torch.long), mode="multiclass")
        with pytest.raises(ValueError, match=r"target: expected the same shape as input"):
            fn(self.x, self.t, mode="multilabel")
        with pytest.raises(TypeError, match="input: expected a floating-point tensor"):
            fn(self.t, self.t, mode="binary")
        with pytest.raises(ValueError, match=r"target: expected class ids in \[0, 2\]"):
            fn(self.x, self.t + 3, mode="multiclass")
        with pytest.raises(ValueError, match=r"input: expected probabilities in \[0, 1\]"):
            fn(self.x - 1, self.t, mode="multiclass", from_logits=False)

    def test_options(self):
        with pytest.raises(ValueError, match=r"smooth: expected a value in \[0.0, inf\], got -1.0"):
            VF.dice_loss(self.x, self.t, mode="multiclass", smooth=-1.0)
        with pytest.raises(TypeError, match="squared: expected a bool, got 1"):
            VF.dice_loss(self.x, self.t, mode="multiclass", squared=1)
        with pytest.raises(TypeError, match="sync: expected a bool, got 'yes'"):
            visionloss.DiceLoss(mode="multiclass", sync="yes")
        with pytest.raises(TypeError, match="ignore_index: expected an int or None, got 1.5"):
            VF.jaccard_loss(self.x, self.t, mode="multiclass", ignore_index=1.5)
        with pytest.raises(
            ValueError,
            match=r"class_weight: expected shape \(3,\), one weight per class, got \(2,\)",
        ):
            VF.dice_loss(self.x, self.t, mode="multiclass", class_weight=torch.ones(2))
        with pytest.raises(ValueError, match="class_weight: expected non-negative values"):
            VF.tversky_loss(self.x, self.t, mode="multiclass", class_weight=-torch.ones(3))
        with pytest.raises(ValueError, match=r"alpha: expected a value in \[0.0, inf\], got -0.5"):
            visionloss.TverskyLoss(mode="binary", alpha=-0.5)
        with pytest.raises(ValueError, match=r"gamma: expected a value in \(0.0, inf\], got 0.0"):
            VF.focal_tversky_loss(self.x, self.t, mode="multiclass", gamma=0.0)
        with pytest.raises(
            ValueError,
            match="weight_type: expected one of 'square', 'simple', 'uniform', got 'cube'",
        ):
            visionloss.GeneralizedDiceLoss(mode="multiclass", weight_type="cube")
        with pytest.raises(ValueError, match=r"weight: expected a shape broadcastable to"):
            VF.dice_loss(self.x, self.t, mode="multiclass", weight=torch.ones(5))
        with pytest.raises(ValueError, match=r"lambda_ce: expected a value in \[0.0, inf\]"):
            VF.dice_ce_loss(self.x, self.t, lambda_ce=-1.0)

    def test_lovasz(self):
        with pytest.raises(
            ValueError, match="classes: expected one of 'present', 'all', got 'some'"
        ):
            VF.lovasz_softmax_loss(self.x, self.t, classes="some")
        with pytest.raises(ValueError, match=r"classes: expected class ids in \[0, 2\], got \[5\]"):
            VF.lovasz_softmax_loss(self.x, self.t, classes=[5])
        with pytest.raises(TypeError, match="classes: expected 'present', 'all' or a non-empty"):
            visionloss.LovaszSoftmaxLoss(classes=[])
        with pytest.raises(TypeError, match="target: expected integer class ids"):
            VF.lovasz_softmax_loss(self.x, self.x.softmax(1))
        with pytest.raises(ValueError, match=r"target: expected the same shape as input"):
            VF.lovasz_hinge_loss(torch.zeros(2, 1, 4), torch.zeros(2, 4, dtype=torch.long))
        with pytest.raises(TypeError, match="per_image: expected a bool"):
            visionloss.LovaszHingeLoss(per_image=None)


def test_module_buffers_and_repr():
    module = visionloss.DiceLoss(mode="multiclass", class_weight=torch.tensor([1.0, 2.0]))
    assert set(dict(module.named_buffers())) == {"class_weight"}
    assert "mode='multiclass'" in repr(module) and "class_weight=[1.0, 2.0]" in repr(module)
    x, t = torch.randn(2, 2, 3), torch.randint(0, 2, (2, 3))
    torch.testing.assert_close(
        module(x, t), VF.dice_loss(x, t, mode="multiclass", class_weight=torch.tensor([1.0, 2.0]))
    )


# --- several processes --------------------------------------------------------------------------

K, B = 2, 3


def _global_batch():
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(K * B, 3, 4, 5, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 3, (K * B, 4, 5), generator=gen)
    t[0, 0] = -100
    return x, t


SYNCED = [
    ("dice", VF.dice_loss, {"mode": "multiclass"}),
    ("dice_batch", VF.dice_loss, {"mode": "multiclass", "batch_dice": True}),
    ("tversky_sum", VF.tversky_loss, {"mode": "multiclass", "reduction": "sum"}),
    ("gdl_batch", VF.generalized_dice_loss, {"mode": "multiclass", "batch_dice": True}),
    ("dice_ce_batch", VF.dice_ce_loss, {"batch_dice": True}),
]


def _synced_losses(rank: int, world_size: int):
    x, t = _global_batch()
    shard = slice(rank * B, (rank + 1) * B)
    out = {}
    for name, fn, options in SYNCED:
        xs = x[shard].clone().requires_grad_(True)
        loss = fn(xs, t[shard], sync=True, **options)
        loss.backward()
        out[name] = (loss.detach(), xs.grad)
    return out


def test_sync_on_two_ranks_equals_one_process_with_the_whole_batch():
    results = run_on_ranks(_synced_losses, K)
    x, t = _global_batch()
    for name, fn, options in SYNCED:
        xg = x.clone().requires_grad_(True)
        loss = fn(xg, t, sync=True, **options)  # no process group here: sync is a no-op
        loss.backward()
        for rank, result in enumerate(results):
            value, grad = result[name]
            torch.testing.assert_close(value, loss.detach(), msg=name)
            # DDP's convention: each rank's shard gets K times the single-process gradient
            torch.testing.assert_close(grad, K * xg.grad[rank * B : (rank + 1) * B], msg=name)
    assert math.isfinite(loss.item())


# --- options: one frozen object, checked when built -----------------------------------------------


def test_lists_are_accepted_for_tensor_options(gen):
    x, t = _logits(gen, 2, 3, 4, 4), _labels(gen, 2, 3, 4, 4)
    as_tensor = torch.tensor([0.5, 2.0, 1.0])
    for fn, module in (
        (VF.dice_loss, visionloss.DiceLoss),
        (VF.jaccard_loss, visionloss.JaccardLoss),
        (VF.tversky_loss, visionloss.TverskyLoss),
        (VF.focal_tversky_loss, visionloss.FocalTverskyLoss),
        (VF.generalized_dice_loss, visionloss.GeneralizedDiceLoss),
    ):
        expected = fn(x, t, mode="multiclass", class_weight=as_tensor)
        torch.testing.assert_close(
            fn(x, t, mode="multiclass", class_weight=[0.5, 2, 1.0]), expected
        )
        loss = module(mode="multiclass", class_weight=(0.5, 2.0, 1.0))
        assert isinstance(loss.class_weight, torch.Tensor)  # a buffer
        assert "class_weight" in dict(loss.named_buffers())
        torch.testing.assert_close(loss(x, t), expected)
    for fn, module in (
        (VF.dice_ce_loss, visionloss.DiceCELoss),
        (VF.dice_focal_loss, visionloss.DiceFocalLoss),
    ):
        expected = fn(x, t, class_weight=as_tensor)
        torch.testing.assert_close(fn(x, t, class_weight=[0.5, 2.0, 1.0]), expected)
        torch.testing.assert_close(module(class_weight=[0.5, 2.0, 1.0])(x, t), expected)
    # the focal term's per-class alpha, as a list too
    expected = VF.dice_focal_loss(x, t, alpha=torch.tensor([0.2, 0.3, 0.5]))
    torch.testing.assert_close(VF.dice_focal_loss(x, t, alpha=[0.2, 0.3, 0.5]), expected)
    torch.testing.assert_close(visionloss.DiceFocalLoss(alpha=[0.2, 0.3, 0.5])(x, t), expected)
    with pytest.raises(TypeError, match="class_weight: expected a tensor or a list of numbers"):
        visionloss.DiceLoss(mode="multiclass", class_weight=["a", "b"])


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: visionloss.DiceLoss(mode="softmax"), ValueError, "mode: expected one of"),
        (lambda: visionloss.DiceLoss(mode="binary", smooth=-1.0), ValueError, "smooth"),
        (lambda: visionloss.DiceLoss(mode="binary", squared=1), TypeError, "squared"),
        (lambda: visionloss.JaccardLoss(mode="binary", log_loss="no"), TypeError, "log_loss"),
        (lambda: visionloss.DiceLoss(mode="binary", ignore_index=1.5), TypeError, "ignore_index"),
        (lambda: visionloss.DiceLoss(mode="binary", from_logits=None), TypeError, "from_logits"),
        (
            lambda: visionloss.DiceLoss(mode="multiclass", class_weight=-torch.ones(3)),
            ValueError,
            "class_weight: expected non-negative values",
        ),
        (lambda: visionloss.TverskyLoss(mode="binary", beta=-1.0), ValueError, "beta"),
        (lambda: visionloss.FocalTverskyLoss(mode="binary", gamma=0.0), ValueError, "gamma"),
        (
            lambda: visionloss.GeneralizedDiceLoss(mode="binary", weight_type="cube"),
            ValueError,
            "weight_type",
        ),
        (lambda: visionloss.LovaszSoftmaxLoss(classes="some"), ValueError, "classes"),
        (lambda: visionloss.LovaszSoftmaxLoss(per_image=1), TypeError, "per_image"),
        (lambda: visionloss.LovaszHingeLoss(ignore_index="x"), TypeError, "ignore_index"),
        (lambda: visionloss.DiceCELoss(lambda_dice=-1.0), ValueError, "lambda_dice"),
        (lambda: visionloss.DiceCELoss(label_smoothing=1.5), ValueError, "label_smoothing"),
        (lambda: visionloss.DiceFocalLoss(lambda_focal=-1.0), ValueError, "lambda_focal"),
        (lambda: visionloss.DiceFocalLoss(gamma=-1.0), ValueError, "gamma"),
        # cross-option checks: alpha weighs the positives in [0, 1] for the sigmoid modes, and a
        # per-class alpha needs classes
        (
            lambda: visionloss.DiceFocalLoss(mode="binary", alpha=5.0),
            ValueError,
            r"alpha: expected a value in \[0.0, 1.0\], got 5.0",
        ),
        (lambda: visionloss.DiceFocalLoss(mode="multilabel", alpha=1.5), ValueError, "alpha"),
        (lambda: visionloss.DiceFocalLoss(mode="binary", alpha=[0.5]), TypeError, "alpha"),
        (lambda: visionloss.DiceFocalLoss(alpha=torch.ones(2, 2)), ValueError, "alpha"),
    ],
)
def test_invalid_options_raise_when_the_module_is_built(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_invalid_options_raise_before_the_data_is_read():
    # the function fails on the options, not on the (here invalid) data
    x, t = torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"alpha: expected a value in \[0.0, 1.0\]"):
        VF.dice_focal_loss(x[:, :1], t.unsqueeze(1), mode="binary", alpha=5.0)
    # a multiclass alpha is any non-negative factor
    visionloss.DiceFocalLoss(mode="multiclass", alpha=5.0)


def test_modules_are_declared_by_their_specs():
    from visionloss.losses import segmentation

    names = [spec.name for spec in segmentation.SPECS]
    assert names == [
        "dice",
        "jaccard",
        "tversky",
        "focal_tversky",
        "generalized_dice",
        "lovasz_softmax",
        "lovasz_hinge",
        "dice_ce",
        "dice_focal",
        "dice_topk",
        "topk_cross_entropy",
        "mcc",
        "soft_cldice",
        "boundary",
        "hausdorff_dt",
    ]
    for spec in segmentation.SPECS:
        module = spec.module
        assert spec.family == "segmentation" and spec.paper and spec.formula
        assert module.spec is spec and "__init__" not in module.__dict__
        assert module.__doc__.startswith(spec.function.__doc__.strip().splitlines()[0])
        # the registry name is the function's without "_loss" (topk_cross_entropy has none)
        assert spec.function_name in (f"{spec.name}_loss", spec.name)
        assert getattr(segmentation, spec.function_name) is spec.function
    assert visionloss.DiceLoss.spec.required == ("mode",)
    assert visionloss.DiceCELoss.spec.required == ()  # mode="multiclass" by default
    loss = visionloss.LovaszSoftmaxLoss(classes=[0, 2])
    assert loss.classes == (0, 2)  # frozen


# --- the dispatch: kernels/overlap.py chooses, the family never does -----------------------------


@pytest.mark.parametrize(
    ("fn", "mode", "kind", "options"),
    [
        (VF.dice_loss, "multiclass", "index", {}),
        (VF.dice_loss, "multiclass", "index", {"squared": True}),
        (VF.jaccard_loss, "multiclass", "probs", {"squared": True}),
        (VF.tversky_loss, "multilabel", "index01", {}),
        (VF.dice_loss, "binary", "probs", {"from_logits": False}),
        (VF.dice_ce_loss, "multiclass", "index", {}),
        (VF.dice_focal_loss, "multilabel", "index01", {}),
    ],
)
def test_reference_and_fused_backends_agree(gen, fn, mode, kind, options):
    x, t = _inputs(gen, mode, kind, from_logits=options.get("from_logits", True))
    out = {}
    for backend in ("reference", "fused"):
        set_kernels(backend)
        xi = x.detach().clone().requires_grad_(True)
        loss = fn(xi, t, mode=mode, reduction="none", **options)
        grad_out = (
            torch.rand(loss.shape, generator=torch.Generator().manual_seed(1), dtype=loss.dtype)
            + 0.5
        )
        (grad,) = torch.autograd.grad(loss, xi, grad_out)
        out[backend] = (loss.detach(), grad)
    set_kernels("auto")
    torch.testing.assert_close(out["fused"][0], out["reference"][0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out["fused"][1], out["reference"][1], rtol=1e-10, atol=1e-12)


def test_auto_is_fused_on_cpu_and_forced_triton_without_kernel_raises(gen, monkeypatch):
    from visionloss.kernels import overlap as overlap_kernel

    x = _logits(gen, 2, 3, 8, 8, dtype=torch.float32).requires_grad_(True)
    t = _labels(gen, 2, 3, 8, 8)
    # "auto" on CPU: the fused Function, which keeps no tensor of the input's size
    saved = saved_storages(lambda: VF.dice_loss(x, t, mode="multiclass"), [x, t])
    assert max(saved.values(), default=0) < x.numel() * 4
    monkeypatch.setattr(overlap_kernel, "has_triton", lambda module: False)
    set_kernels("triton")
    try:
        with pytest.raises(NotImplementedError, match="VISIONLOSS_KERNELS=triton"):
            VF.dice_loss(x, t, mode="multiclass")
        with pytest.raises(NotImplementedError):
            visionloss.DiceCELoss()(x, t)
    finally:
        set_kernels("auto")


# --- any memory format ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["fused", "reference"])
@pytest.mark.parametrize(
    ("spatial", "memory_format"),
    [((5, 6), torch.channels_last), ((3, 4, 5), torch.channels_last_3d)],
)
@pytest.mark.parametrize(
    ("fn", "mode"),
    [
        (VF.dice_loss, "multiclass"),
        (VF.dice_loss, "multilabel"),
        (VF.tversky_loss, "multiclass"),
        (VF.dice_ce_loss, "multiclass"),
    ],
)
def test_channels_last_equals_contiguous(gen, backend, spatial, memory_format, fn, mode):
    x = _logits(gen, 2, 4, *spatial, dtype=torch.float32)
    if mode == "multiclass":
        t = _labels(gen, 2, 4, *spatial, ignore=5)
    else:
        t = torch.randint(0, 2, x.shape, generator=gen)
    set_kernels(backend)
    try:
        results = []
        for layout in (torch.contiguous_format, memory_format):
            xi = x.detach().clone().contiguous(memory_format=layout).requires_grad_(True)
            assert xi.is_contiguous(memory_format=layout)
            loss = fn(xi, t, mode=mode, reduction="none")
            (grad,) = torch.autograd.grad(
                loss, xi, torch.linspace(0.5, 1.5, loss.numel()).view(loss.shape)
            )
            results.append((loss.detach(), grad))
        torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-5, atol=1e-8)
    finally:
        set_kernels("auto")


# --- squared Dice: V-Net's P = sum p^2 and G = sum g^2 --------------------------------------------


@pytest.mark.parametrize("backend", ["fused", "reference"])
def test_squared_dice_with_soft_targets_squares_the_target_too(backend):
    # hand example, one sample, one channel (binary), 2 positions, probabilities:
    # p = (0.5, 1.0), g = (0.5, 0.0): I = 0.25, P = 0.25 + 1 = 1.25, G = 0.25 (not 0.5)
    # loss = 1 - 2 * 0.25 / (1.25 + 0.25) = 1 - 1/3
    set_kernels(backend)
    try:
        p = torch.tensor([[[0.5, 1.0]]], dtype=torch.float64)
        g = torch.tensor([[[0.5, 0.0]]], dtype=torch.float64)
        got = VF.dice_loss(p, g, mode="binary", from_logits=False, squared=True, smooth=0.0)
        assert got.item() == pytest.approx(2 / 3, abs=1e-15)
        # and a random soft multiclass batch against the float64 formula written out
        gen = torch.Generator().manual_seed(5)
        x = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64).requires_grad_(True)
        y = torch.rand(2, 3, 4, 5, generator=gen, dtype=torch.float64).softmax(1)
        loss = VF.dice_loss(x, y, mode="multiclass", squared=True, smooth=1.0, reduction="none")
        q = x.softmax(1)
        expected = 1 - (2 * (q * y).sum((2, 3)) + 1.0) / (
            (q**2).sum((2, 3)) + (y**2).sum((2, 3)) + 1.0
        )
        torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
        (grad,) = torch.autograd.grad(loss.sum(), x)
        (expected_grad,) = torch.autograd.grad(expected.sum(), x)
        torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-12)
        # hard targets: unchanged (g^2 = g)
        t = torch.randint(0, 3, (2, 4, 5), generator=gen)
        hard = F.one_hot(t, 3).movedim(-1, 1).double()
        torch.testing.assert_close(
            VF.dice_loss(x, t, mode="multiclass", squared=True),
            VF.dice_loss(x, hard, mode="multiclass", squared=True),
        )
    finally:
        set_kernels("auto")


def test_auto_on_cuda_never_takes_the_fused_overlap_path():
    # measured: on CUDA the fused eager path is slower than the reference; an uncovered CUDA
    # call takes the reference (the device is faked: backend_for only reads x.device.type)
    from visionloss.kernels import backend_for

    class FakeCuda:
        class device:  # noqa: N801 - mimics Tensor.device
            type = "cuda"

    x = FakeCuda()
    assert (
        backend_for("overlap", x, has_triton=True, covered=False, fused_on_cuda=False)
        == "reference"
    )
    assert backend_for("overlap", x, has_triton=False, fused_on_cuda=True) == "fused"


# --- top-k cross-entropy and MCC (issue 19) ------------------------------------------------------


def test_topk_cross_entropy_hand_values():
    # four pixels of class 0: two at logits (0, 0) with CE log 2, two at (3, 0) with CE
    # softplus(-3) = 0.048587; k = 0.5 keeps the two hardest: log 2
    x = torch.zeros(1, 2, 4, dtype=torch.float64)
    x[0, 0, :2] = 3.0
    t = torch.zeros(1, 4, dtype=torch.long)
    assert VF.topk_cross_entropy(x, t, k=0.5).item() == pytest.approx(math.log(2))
    # k = 0.75: ceil(3) = 3 pixels, (2 log 2 + softplus(-3)) / 3
    expected = (2 * math.log(2) + math.log1p(math.exp(-3))) / 3
    assert VF.topk_cross_entropy(x, t, k=0.75).item() == pytest.approx(expected)
    # k = 0.3 of 10 pixels keeps exactly 3 (0.3 * 10 is 3.0000000000000004 in floating point)
    x10 = torch.arange(10, dtype=torch.float64).reshape(1, 1, 10) * torch.tensor([[[-1.0], [0.0]]])
    t10 = torch.zeros(1, 10, dtype=torch.long)
    ce = F.cross_entropy(x10, t10, reduction="none")[0]
    top3 = ce.sort(descending=True).values[:3].mean()
    assert torch.allclose(VF.topk_cross_entropy(x10, t10, k=0.3), top3)


def test_topk_cross_entropy_with_k_one_is_the_per_sample_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, 6, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 4, (3, 5, 6), generator=gen)
    t[0, 0, :4] = -100
    per_sample = torch.stack([F.cross_entropy(a[None], b[None]) for a, b in zip(x, t, strict=True)])
    got = VF.topk_cross_entropy(x, t, k=1.0, reduction="none")
    torch.testing.assert_close(got, per_sample)


def test_topk_cross_entropy_never_selects_ignored_pixels_and_skips_empty_samples():
    x = torch.zeros(2, 2, 4, dtype=torch.float64)
    x[:, 1, 0] = 20.0  # a very wrong pixel ...
    t = torch.zeros(2, 4, dtype=torch.long)
    t[0, 0] = -100  # ... ignored in sample 0
    t[1] = -100  # sample 1 all ignored
    loss = VF.topk_cross_entropy(x, t, k=0.25, reduction="none")
    assert loss[0].item() == pytest.approx(math.log(2))
    assert loss[1].item() == 0.0
    assert VF.topk_cross_entropy(x, t, k=0.25).item() == pytest.approx(math.log(2))


def test_topk_cross_entropy_probability_targets_match_class_ids():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 4, 4, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 3, (2, 4, 4), generator=gen)
    onehot = F.one_hot(t, 3).movedim(-1, 1).double()
    torch.testing.assert_close(
        VF.topk_cross_entropy(x, onehot, k=0.2), VF.topk_cross_entropy(x, t, k=0.2)
    )


def test_mcc_hand_values():
    probs = torch.tensor([[[0.8, 0.6, 0.3, 0.1]]], dtype=torch.float64)
    target = torch.tensor([[[1, 1, 0, 0]]])
    # TP 1.4, FP 0.4, FN 0.6, TN 1.6: MCC = (2.24 - 0.24) / sqrt(1.8 * 2.0 * 2.0 * 2.2)
    expected = 1 - 2.0 / (math.sqrt(1.8 * 2.0 * 2.0 * 2.2) + 1e-5)
    got = VF.mcc_loss(probs, target, mode="binary", from_logits=False)
    assert got.item() == pytest.approx(expected, rel=1e-12)
    # perfect: 0; inverted: 2 (up to the smooth term)
    hard = target.double()
    assert VF.mcc_loss(hard, target, mode="binary", from_logits=False).item() == pytest.approx(
        0.0, abs=1e-5
    )
    assert VF.mcc_loss(1 - hard, target, mode="binary", from_logits=False).item() == (
        pytest.approx(2.0, abs=1e-5)
    )


def test_mcc_undefined_class_scores_zero():
    # a class absent from the target: TP + FN = 0, MCC undefined, score 0 (scikit-learn's rule)
    probs = torch.tensor([[[0.2, 0.7, 0.1]]], dtype=torch.float64, requires_grad=True)
    target = torch.zeros(1, 1, 3, dtype=torch.long)
    loss = VF.mcc_loss(probs, target, mode="binary", from_logits=False, smooth=0.0)
    assert loss.item() == 1.0
    loss.backward()
    assert probs.grad is not None and torch.all(probs.grad == 0)


def test_mcc_multiclass_equals_multilabel_on_the_one_hot():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 5, 5, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 3, (2, 5, 5), generator=gen)
    probs = x.softmax(1)
    onehot = F.one_hot(t, 3).movedim(-1, 1)
    torch.testing.assert_close(
        VF.mcc_loss(x, t, mode="multiclass", reduction="none"),
        VF.mcc_loss(probs, onehot, mode="multilabel", from_logits=False, reduction="none"),
    )


def test_mcc_matches_smp_over_seeds():
    from peers.test_migration import _smp_losses

    smp = _smp_losses()
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(3, 1, 8, 9, generator=gen, dtype=torch.float64) * 2
        y = (torch.rand(3, 1, 8, 9, generator=gen) < 0.3).double()
        theirs = smp.MCCLoss()(torch.sigmoid(x), y)
        ours = VF.mcc_loss(x, y, mode="binary", batch_dice=True, smooth=0.0)
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("module", "options", "error"),
    [
        (visionloss.TopKCrossEntropyLoss, {"k": 0.0}, ValueError),
        (visionloss.TopKCrossEntropyLoss, {"k": 1.5}, ValueError),
        (visionloss.TopKCrossEntropyLoss, {"k": "0.1"}, TypeError),
        (visionloss.TopKCrossEntropyLoss, {"label_smoothing": 2.0}, ValueError),
        (visionloss.MCCLoss, {"mode": "softmax"}, ValueError),
        (visionloss.MCCLoss, {"mode": "binary", "smooth": -1.0}, ValueError),
    ],
)
def test_topk_and_mcc_options_raise_at_construction(module, options, error):
    with pytest.raises(error):
        module(**options)


# --- soft clDice (issue 19) -----------------------------------------------------------------------


def test_soft_cldice_hand_values():
    line = torch.zeros(1, 1, 5, 6, dtype=torch.float64)
    line[0, 0, 2, :] = 1.0  # a 1-pixel line is its own soft skeleton
    torch.testing.assert_close(VF.soft_skeleton(line, 3), line)
    kw = {"mode": "binary", "from_logits": False}
    assert VF.soft_cldice_loss(line, line.long(), **kw).item() == 0.0
    # prediction: half the line (3 pixels). Its skeleton lies in the target: precision
    # (3 + 1) / (3 + 1) = 1; it covers 3 of the target's 6 skeleton pixels: sensitivity
    # (3 + 1) / (6 + 1) = 4/7; loss 1 - 2 (4/7) / (1 + 4/7) = 3/11
    half = line.clone()
    half[..., 3:] = 0.0
    got = VF.soft_cldice_loss(half, line.long(), **kw).item()
    assert got == pytest.approx(3 / 11)


def test_soft_cldice_3d_and_ignored_positions():
    tube = torch.zeros(1, 1, 5, 5, 7, dtype=torch.float64)
    tube[0, 0, 2, 2, :] = 1.0  # a 1-voxel tube along the last axis
    torch.testing.assert_close(VF.soft_skeleton(tube, 2), tube)
    kw = {"mode": "binary", "from_logits": False}
    assert VF.soft_cldice_loss(tube, tube.long(), **kw).item() == 0.0
    # ignored voxels leave every sum: a wrong prediction there changes nothing
    target = tube.long()
    target[..., 0, 0, :] = -100
    noisy = tube.clone()
    noisy[..., 0, 0, :] = 1.0
    assert VF.soft_cldice_loss(noisy, target, **kw).item() == 0.0
    # a sample with every position ignored gives 0 and leaves the mean
    empty = torch.full_like(target, -100)
    assert VF.soft_cldice_loss(noisy, empty, **kw, reduction="none").item() == 0.0


def test_soft_cldice_multiclass_equals_multilabel_on_the_one_hot():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 7, 8, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 3, (2, 7, 8), generator=gen)
    onehot = F.one_hot(t, 3).movedim(-1, 1)
    torch.testing.assert_close(
        VF.soft_cldice_loss(x, t, mode="multiclass", reduction="none"),
        VF.soft_cldice_loss(x.softmax(1), onehot, mode="multilabel", from_logits=False,
                            reduction="none"),
    )


def test_soft_cldice_rejects_shapes_without_two_or_three_spatial_dims():
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        VF.soft_cldice_loss(torch.zeros(2, 5, 5), torch.zeros(2, 5, 5), mode="binary")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        VF.soft_cldice_loss(torch.zeros(2, 3, 5), torch.zeros(2, 5, dtype=torch.long),
                            mode="multiclass")


@pytest.mark.parametrize(
    ("options", "error"),
    [({"iterations": -1}, ValueError), ({"iterations": 1.5}, TypeError),
     ({"iterations": True}, TypeError), ({"smooth": -1.0}, ValueError)],
)
def test_soft_cldice_options_raise_at_construction(options, error):
    with pytest.raises(error):
        visionloss.SoftClDiceLoss(mode="binary", **options)


# --- signed distance maps and the boundary loss (issue 19) ---------------------------------------


@pytest.mark.parametrize(
    ("shape", "spacing"),
    [((2, 3, 17, 19), None), ((1, 2, 7, 8, 9), (2.0, 1.0, 0.5)), ((2, 1, 30), None)],
)
def test_signed_distance_map_matches_scipy(shape, spacing):
    # Kervadec et al.'s one_hot2dist with SciPy's exact EDT: distance(neg) * neg
    # - (distance(pos) - 1) * pos, and 0 for a mask without a contour
    ndimage = pytest.importorskip("scipy.ndimage")
    gen = torch.Generator().manual_seed(0)
    mask = torch.rand(*shape, generator=gen) < 0.3
    mask[0, 0] = False  # an empty mask
    got = VF.signed_distance_map(mask, spacing=spacing, dtype=torch.float64)
    expected = torch.zeros(shape, dtype=torch.float64)
    for n in range(shape[0]):
        for c in range(shape[1]):
            pos = mask[n, c].numpy()
            neg = ~pos
            if pos.any() and neg.any():
                d_neg = ndimage.distance_transform_edt(neg, sampling=spacing)
                d_pos = ndimage.distance_transform_edt(pos, sampling=spacing)
                expected[n, c] = torch.from_numpy(d_neg * neg - (d_pos - 1) * pos)
    torch.testing.assert_close(got, expected)


def test_signed_distance_map_hand_values_and_errors():
    mask = torch.tensor([[[0, 1, 1, 1, 0, 0]]])
    expected = torch.tensor([[[1.0, 0.0, -1.0, 0.0, 1.0, 2.0]]])
    torch.testing.assert_close(VF.signed_distance_map(mask), expected)
    # a diagonal neighbour is sqrt(2) away
    square = torch.zeros(1, 1, 3, 3, dtype=torch.bool)
    square[0, 0, 0, 0] = True
    assert VF.signed_distance_map(square)[0, 0, 2, 2].item() == pytest.approx(2 * math.sqrt(2))
    assert torch.all(VF.signed_distance_map(torch.ones(1, 2, 4, 4)) == 0)
    with pytest.raises(ValueError, match="spacing"):
        VF.signed_distance_map(square, spacing=(1.0,))
    with pytest.raises(ValueError, match="mask"):
        VF.signed_distance_map(torch.zeros(4, 4))


def test_boundary_loss_hand_values_and_class_weight():
    phi = VF.signed_distance_map(torch.tensor([[[0, 1, 1, 1, 0, 0]]]))
    kw = {"mode": "binary", "from_logits": False}
    # the target itself: -1 / 6 (the minimum); everything foreground: (1 + 0 - 1 + 0 + 1 + 2) / 6
    target = torch.tensor([[[0.0, 1.0, 1.0, 1.0, 0.0, 0.0]]])
    assert VF.boundary_loss(target, phi, **kw).item() == pytest.approx(-1 / 6)
    assert VF.boundary_loss(torch.ones(1, 1, 6), phi, **kw).item() == pytest.approx(0.5)
    # class_weight [0, 1] is the paper's idc=[1]: the mean over the foreground channel
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 2, 6, 7, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 2, (2, 6, 7), generator=gen)
    dist = VF.signed_distance_map(F.one_hot(labels, 2).movedim(-1, 1), dtype=torch.float64)
    expected = (x.softmax(1)[:, 1] * dist[:, 1]).mean()
    got = VF.boundary_loss(x, dist, class_weight=[0.0, 1.0])
    torch.testing.assert_close(got, expected)
    with pytest.raises(ValueError, match="class_weight"):
        VF.boundary_loss(x[:, :1], dist[:, :1], mode="binary", class_weight=[1.0])
    with pytest.raises(ValueError, match="distance_map"):
        VF.boundary_loss(x, dist[:, :1])


@pytest.mark.parametrize(
    ("options", "error"),
    [({"mode": "softmax"}, ValueError), ({"from_logits": 1}, TypeError),
     ({"class_weight": [-1.0, 1.0]}, ValueError)],
)
def test_boundary_options_raise_at_construction(options, error):
    with pytest.raises(error):
        visionloss.BoundaryLoss(**options)


def test_hausdorff_dt_hand_values_and_ignored_positions():
    target = torch.tensor([[[[0, 1, 1, 0, 0]]]])
    probs = torch.tensor([[[[0.0, 1.0, 1.0, 1.0, 0.0]]]], dtype=torch.float64)
    kw = {"mode": "binary", "from_logits": False}
    # one wrong pixel (index 3): error 1, d_P = 1 (inside the prediction, next to its edge),
    # d_G = 1 (next to the target): (1 + 1) / 5, alpha 2; alpha 0: (1 + 1) / 5 as well
    assert VF.hausdorff_dt_loss(probs, target, **kw).item() == pytest.approx(0.4)
    # a far false positive weighs its distance squared: index 4 wrong instead, d_G = 2, d_P of
    # the prediction [1, 2, 4]: 1 -> (4 + 1) / 5
    far = torch.tensor([[[[0.0, 1.0, 1.0, 0.0, 1.0]]]], dtype=torch.float64)
    assert VF.hausdorff_dt_loss(far, target, **kw).item() == pytest.approx(1.0)
    # the wrong pixel ignored: it leaves the mean (4 valid positions, no error)
    ignored = target.clone()
    ignored[..., 4] = -100
    assert VF.hausdorff_dt_loss(far, ignored, **kw).item() == 0.0


@pytest.mark.parametrize(
    ("options", "error"), [({"alpha": -1.0}, ValueError), ({"mode": "x"}, ValueError)]
)
def test_hausdorff_dt_options_raise_at_construction(options, error):
    with pytest.raises(error):
        visionloss.HausdorffDTLoss(**{"mode": "binary", **options})


# --- Dice + top-k cross-entropy (issue 19) --------------------------------------------------------


def test_dice_topk_hand_value():
    # two pixels, one per class, both with logit margin 2: each class's soft Dice is
    # 2 sigmoid(2) / (sigmoid(2) + sigmoid(2)) minus nothing, i.e. 1 - sigmoid(-2) ... written
    # out: p = sigmoid(2) on the right class, Dice_c = 2p / (p + (1 - p) + 1) = p, loss 1 - p;
    # every pixel's CE is softplus(-2), so any k keeps softplus(-2)
    logits = torch.tensor([[[1.0, -1.0], [-1.0, 1.0]]], dtype=torch.float64)
    p = torch.sigmoid(torch.tensor(2.0, dtype=torch.float64))
    expected = 0.5 * (1 - p) + 2.0 * F.softplus(torch.tensor(-2.0, dtype=torch.float64))
    got = VF.dice_topk_loss(
        logits, torch.tensor([[0, 1]]), lambda_dice=0.5, lambda_topk=2.0, k=0.5, smooth=0.0
    )
    torch.testing.assert_close(got, expected)


def test_dice_topk_is_dice_plus_topk_cross_entropy_and_k_one_is_dice_ce(gen):
    x = torch.randn(3, 4, 6, 5, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 4, (3, 6, 5), generator=gen)
    dice = VF.dice_loss(x, t, mode="multiclass", reduction="none").mean(1)
    topk = VF.topk_cross_entropy(x, t, k=0.2, reduction="none")
    got = VF.dice_topk_loss(x, t, lambda_dice=0.3, lambda_topk=1.7, k=0.2, reduction="none")
    torch.testing.assert_close(got, 0.3 * dice + 1.7 * topk)
    torch.testing.assert_close(VF.dice_topk_loss(x, t, k=1.0), VF.dice_ce_loss(x, t))
    y = torch.randint(0, 2, (3, 4, 6, 5), generator=gen)
    torch.testing.assert_close(
        VF.dice_topk_loss(x, y, mode="multilabel", k=1.0),
        VF.dice_ce_loss(x, y, mode="multilabel"),
    )


def test_dice_topk_matches_nnunet_dc_and_topk_convention(gen):
    # nnU-Net's DC_and_topk_loss (nnunetv2/training/loss/compound_losses.py), written from its
    # definition for one image: weight_ce * TopK + weight_dice * SoftDice, where TopK is the mean
    # CE of the int(V k / 100) hardest voxels of the batch and SoftDice is minus the mean soft
    # Dice of the classes (do_bg=True here: ours has no background switch, and class_weight
    # weighs both terms), over the batch (batch_dice). Ours: 1 - Dice, so the value is
    # nnU-Net's plus lambda_dice; with one image the batch pool is the sample's.
    x = torch.randn(1, 3, 10, 8, generator=gen, dtype=torch.float64) * 2
    t = torch.randint(0, 3, (1, 10, 8), generator=gen)
    ce = F.cross_entropy(x, t, reduction="none").reshape(-1)
    topk = ce.topk(int(ce.numel() * 10 / 100)).values.mean()  # nnU-Net's TopK10: 8 of 80
    p = x.softmax(1)
    g = F.one_hot(t, 3).movedim(-1, 1).double()
    tp, fp, fn = (p * g).sum((0, 2, 3)), (p * (1 - g)).sum((0, 2, 3)), ((1 - p) * g).sum(
        (0, 2, 3)
    )
    dc = ((2 * tp + 1e-5) / (2 * tp + fp + fn + 1e-5)).mean()
    nnunet = 1.0 * topk + 1.0 * -dc
    ours = VF.dice_topk_loss(x, t, k=0.1, batch_dice=True)
    torch.testing.assert_close(ours, nnunet + 1.0)


def test_dice_topk_ignored_pixels_are_never_selected_and_empty_samples_leave_the_mean(gen):
    x = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 3, (2, 4, 5), generator=gen)
    t[0, 0, :] = -100  # the first image's worst pixels could be here: they are ignored
    x[0, :, 0, :] = torch.tensor([-9.0, 9.0, 9.0]).view(3, 1).double()
    kept = t[0] != -100
    ce = F.cross_entropy(x[:1], t[:1], reduction="none")[0][kept]
    topk = ce.sort(descending=True).values[: math.ceil(0.25 * kept.sum().item())].mean()
    dice = VF.dice_loss(x[:1], t[:1], mode="multiclass").mean()
    got = VF.dice_topk_loss(x, t, k=0.25, reduction="none")
    torch.testing.assert_close(got[0], dice + topk)
    t[1] = -100  # a fully ignored sample gives 0 and leaves the mean
    loss = VF.dice_topk_loss(x, t, k=0.25, reduction="none")
    assert loss[1].item() == 0.0
    torch.testing.assert_close(VF.dice_topk_loss(x, t, k=0.25), loss[0])


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"k": 0.0}, ValueError),
        ({"k": 1.5}, ValueError),
        ({"k": "0.1"}, TypeError),
        ({"lambda_topk": -1.0}, ValueError),
        ({"lambda_dice": -1.0}, ValueError),
        ({"label_smoothing": 2.0}, ValueError),
        ({"mode": "softmax"}, ValueError),
    ],
)
def test_dice_topk_options_raise_at_construction(options, error):
    with pytest.raises(error):
        visionloss.DiceTopKLoss(**options)
