"""Evidence for the guide's card of ``dice_topk`` (Dice + top-k cross-entropy, issue 19): each
test checks one advantage or disadvantage the card states. Expected values are derived by hand in
the comments; inputs are small and deterministic.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import visionloss.functional as VF


def _few_hard_pixels() -> tuple[torch.Tensor, torch.Tensor]:
    # 100 pixels of class 0 (one image, two classes): 95 easy (logit margin 6, CE 0.0025) and
    # 5 hard (margin -2, CE softplus(2) = 2.13)
    x = torch.zeros(1, 2, 100, dtype=torch.float64)
    x[0, 0, :95] = 6.0
    x[0, 1, 95:] = 2.0
    return x, torch.zeros(1, 100, dtype=torch.long)


def test_dice_topk_is_dice_plus_topk_ce_and_k_one_is_dice_ce():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 6, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 3, (2, 6, 6), generator=gen)
    dice = VF.dice_loss(x, t, mode="multiclass").mean()
    topk = VF.topk_cross_entropy(x, t, k=0.1)
    got = VF.dice_topk_loss(x, t, lambda_dice=0.4, lambda_topk=1.5, k=0.1)
    torch.testing.assert_close(got, 0.4 * dice + 1.5 * topk)
    torch.testing.assert_close(VF.dice_topk_loss(x, t, k=1.0), VF.dice_ce_loss(x, t))


def test_dice_topk_pixel_term_is_not_diluted_by_easy_pixels():
    # the same Dice term in both compounds, so their difference is the pixel terms': top-5% CE
    # is the hard pixels' 2.13, Dice + CE's CE term about 0.05 * 2.13 + 0.95 * 0.0025 = 0.109
    x, t = _few_hard_pixels()
    dice = VF.dice_loss(x, t, mode="multiclass").mean().item()
    topk_term = VF.dice_topk_loss(x, t, k=0.05).item() - dice
    ce_term = VF.dice_ce_loss(x, t).item() - dice
    assert topk_term == pytest.approx(math.log1p(math.exp(2.0)))
    assert topk_term > 15 * ce_term


def test_dice_topk_easy_pixels_get_only_the_dice_gradient():
    # outside the top k, the gradient is exactly the Dice term's
    x, t = _few_hard_pixels()
    a = x.clone().requires_grad_(True)
    VF.dice_topk_loss(a, t, k=0.05).backward()
    b = x.clone().requires_grad_(True)
    VF.dice_loss(b, t, mode="multiclass").mean().backward()
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(a.grad[..., :95], b.grad[..., :95])
    assert torch.all((a.grad[..., 95:] - b.grad[..., 95:]).abs() > 0.1)


def test_dice_topk_pixel_term_outweighs_dice_ce_for_the_same_lambdas():
    # the mean of the hardest k of the losses is at least their mean, so with the same lambdas
    # dice_topk >= dice_ce on any input; on these random logits the CE term is 2.9 times as
    # large at k = 0.1 -- the Dice/CE balance tuned for dice_ce does not carry over
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 8, 8, generator=gen, dtype=torch.float64) * 2
    t = torch.randint(0, 3, (4, 8, 8), generator=gen)
    dice = VF.dice_loss(x, t, mode="multiclass", reduction="none").mean(1)
    ce = VF.dice_ce_loss(x, t, reduction="none") - dice
    topk = VF.dice_topk_loss(x, t, k=0.1, reduction="none") - dice
    assert torch.all(topk >= ce)
    assert topk.mean() > 2 * ce.mean()
    assert float(F.cross_entropy(x, t)) == pytest.approx(float(ce.mean()))
