"""Classification family against MONAI and kornia (written against monai 1.6.1, kornia 0.9.0).

Where their conventions meet ours:

* MONAI ``FocalLoss(use_softmax=False)`` is the sigmoid focal loss with
  :math:`\\alpha_t = \\alpha y + (1 - \\alpha)(1 - y)`; its modulating factor is
  ``exp(gamma * logsigmoid(-x (2y - 1)))``, which is :math:`(1 - p_t)^\\gamma` for 0/1 targets
  only (soft targets differ), so the comparison uses 0/1 targets.
* MONAI ``FocalLoss(use_softmax=True, to_onehot_y=True)`` returns a ``(B, C, *)`` map holding the
  focal term in the target channel and 0 elsewhere: its sum over dim 1 is our ``"none"``, its
  ``"mean"`` divides by ``B C H W`` (ours by ``B H W``). A scalar ``alpha`` there weighs class 0
  by ``1 - alpha`` and the others by ``alpha``: our ``(C,)`` alpha ``[1 - a, a, ..., a]``.
  Probability targets (no one-hot) give :math:`-\\sum_c y_c \\alpha_c (1 - p_c)^\\gamma \\log p_c`,
  as ours.
* kornia ``binary_focal_loss_with_logits`` equals ours for 0/1 targets (for soft targets it weighs
  two full focal terms by y and 1 - y instead of interpolating p_t); its ignored entries stay in
  the mean's denominator, so ignored entries are compared on ``"sum"``.
* kornia ``focal_loss`` (softmax) returns the same ``(B, C, *)`` map as MONAI, with the same
  class-0 convention for a scalar alpha; ``weight`` multiplies a class's slice.
"""

from __future__ import annotations

import pytest
import torch

import visionloss.functional as VF

F64 = torch.float64


def _logits_and_labels(seed: int, shape=(2, 4, 5, 6)):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=F64) * 3
    binary = (torch.rand(shape, generator=gen) < 0.3).to(F64)
    ids = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=gen)
    probs = torch.softmax(torch.randn(shape, generator=gen, dtype=F64), 1)
    return x, binary, ids, probs


# --- MONAI ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [None, 0.25, 0.8])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_sigmoid_focal_matches_monai(alpha, gamma):
    monai = pytest.importorskip("monai")
    x, y, _, _ = _logits_and_labels(0)
    for reduction in ("none", "mean", "sum"):
        theirs_module = monai.losses.FocalLoss(
            gamma=gamma, alpha=alpha, use_softmax=False, reduction=reduction
        )
        theirs = theirs_module(x, y)  # MONAI computes in float32
        ours = VF.focal_loss(x, y, mode="multilabel", alpha=alpha, gamma=gamma, reduction=reduction)
        if reduction == "sum":
            # MONAI's "sum" first averages over the spatial dims (per sample and channel)
            ours = VF.focal_loss(
                x, y, mode="multilabel", alpha=alpha, gamma=gamma, reduction="none"
            )
            ours = ours.mean(dim=(2, 3)).sum()
        torch.testing.assert_close(ours.float(), theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_softmax_focal_matches_monai(gamma):
    monai = pytest.importorskip("monai")
    x, _, ids, probs = _logits_and_labels(1)
    num_classes = x.shape[1]
    for alpha in (None, 0.25):
        loss = monai.losses.FocalLoss(
            gamma=gamma, alpha=alpha, use_softmax=True, to_onehot_y=True, reduction="none"
        )
        theirs = loss(x, ids.unsqueeze(1)).sum(1)
        ours_alpha = (
            None if alpha is None else torch.tensor([1 - alpha] + [alpha] * (num_classes - 1))
        )
        ours = VF.focal_loss(
            x, ids, mode="multiclass", alpha=ours_alpha, gamma=gamma, reduction="none"
        )
        torch.testing.assert_close(ours.float(), theirs, rtol=1e-5, atol=1e-6)
        mean = monai.losses.FocalLoss(
            gamma=gamma, alpha=alpha, use_softmax=True, to_onehot_y=True, reduction="mean"
        )(x, ids.unsqueeze(1))
        ours_mean = VF.focal_loss(x, ids, mode="multiclass", alpha=ours_alpha, gamma=gamma)
        torch.testing.assert_close(ours_mean.float() / num_classes, mean, rtol=1e-5, atol=1e-6)
    # probability targets, per-class alpha
    alpha = [0.1, 0.5, 0.2, 0.7]
    theirs = monai.losses.FocalLoss(gamma=gamma, alpha=alpha, use_softmax=True, reduction="none")(
        x, probs
    )
    ours = VF.focal_loss(
        x, probs, mode="multiclass", alpha=torch.tensor(alpha), gamma=gamma, reduction="none"
    )
    torch.testing.assert_close(ours.float(), theirs.sum(1), rtol=1e-5, atol=1e-6)


def test_softmax_focal_ignore_index_matches_monai():
    monai = pytest.importorskip("monai")
    x, _, ids, _ = _logits_and_labels(2)
    ids[0, :2] = 255
    theirs = monai.losses.FocalLoss(
        gamma=2.0, use_softmax=True, to_onehot_y=True, ignore_index=255, reduction="mean"
    )(x, ids.unsqueeze(1))
    # MONAI's mean with ignore_index divides the (B, C, *) sum by the number of kept positions
    ours = VF.focal_loss(x, ids, mode="multiclass", gamma=2.0, ignore_index=255)
    torch.testing.assert_close(ours.float(), theirs, rtol=1e-5, atol=1e-6)


# --- kornia --------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.25, 0.6])
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_binary_focal_matches_kornia(alpha, gamma):
    kornia = pytest.importorskip("kornia")
    x, y, _, _ = _logits_and_labels(3)
    for reduction in ("none", "mean", "sum"):
        theirs = kornia.losses.binary_focal_loss_with_logits(
            x, y, alpha=alpha, gamma=gamma, reduction=reduction
        )
        ours = VF.focal_loss(x, y, mode="multilabel", alpha=alpha, gamma=gamma, reduction=reduction)
        torch.testing.assert_close(ours, theirs)
    # integer targets with ignored entries: both give them 0; compared on the sum
    labels = y.long()
    labels[0, 0] = -100
    theirs = kornia.losses.binary_focal_loss_with_logits(
        x, labels, alpha=alpha, gamma=gamma, reduction="sum"
    )
    ours = VF.focal_loss(x, labels, mode="multilabel", alpha=alpha, gamma=gamma, reduction="sum")
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_softmax_focal_matches_kornia(gamma):
    kornia = pytest.importorskip("kornia")
    x, _, ids, _ = _logits_and_labels(4)
    ids[1, 2:4] = -100
    num_classes = x.shape[1]
    for alpha in (None, 0.25):
        theirs = kornia.losses.focal_loss(x, ids, alpha=alpha, gamma=gamma, reduction="none")
        ours_alpha = (
            None if alpha is None else torch.tensor([1 - alpha] + [alpha] * (num_classes - 1))
        )
        ours = VF.focal_loss(
            x, ids, mode="multiclass", alpha=ours_alpha, gamma=gamma, reduction="none"
        )
        torch.testing.assert_close(ours, theirs.sum(1))
        # kornia's mean divides by every element of the (B, C, *) map, ignored positions included
        theirs_sum = kornia.losses.focal_loss(x, ids, alpha=alpha, gamma=gamma, reduction="sum")
        ours_sum = VF.focal_loss(
            x, ids, mode="multiclass", alpha=ours_alpha, gamma=gamma, reduction="sum"
        )
        torch.testing.assert_close(ours_sum, theirs_sum)
    # kornia's per-class weight is our per-class alpha
    weight = torch.tensor([0.5, 1.0, 2.0, 0.1], dtype=F64)
    theirs = kornia.losses.focal_loss(
        x, ids, alpha=None, gamma=gamma, weight=weight, reduction="sum"
    )
    ours = VF.focal_loss(x, ids, mode="multiclass", alpha=weight, gamma=gamma, reduction="sum")
    torch.testing.assert_close(ours, theirs)


def test_focal_gradients_match_kornia():
    kornia = pytest.importorskip("kornia")
    x, y, ids, _ = _logits_and_labels(5)
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    kornia.losses.binary_focal_loss_with_logits(
        a, y, alpha=0.25, gamma=2.0, reduction="sum"
    ).backward()
    VF.focal_loss(b, y, mode="multilabel", alpha=0.25, gamma=2.0, reduction="sum").backward()
    torch.testing.assert_close(b.grad, a.grad)
    a.grad = b.grad = None
    kornia.losses.focal_loss(a, ids, alpha=None, gamma=2.0, reduction="sum").backward()
    VF.focal_loss(b, ids, mode="multiclass", gamma=2.0, reduction="sum").backward()
    torch.testing.assert_close(b.grad, a.grad)
