"""Total variation and the Jensen-Shannon divergence: hand-derived values and option errors.

The contract sweep (tests/test_contract.py) runs their catalogue rows; the kornia cross-checks are
in tests/peers/test_generative_peers.py and docs/migration_table.py.
"""

from __future__ import annotations

import math

import pytest
import torch

import visionloss
import visionloss.functional as VF


def test_total_variation_hand_values():
    # x = [[0, 1, 3], [2, 2, 2]]: horizontal |1| + |2| + 0 + 0 = 3, vertical |2| + |1| + |-1| = 4
    x = torch.tensor([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]]).reshape(1, 1, 2, 3)
    torch.testing.assert_close(VF.total_variation_loss(x), torch.tensor(7.0))
    # isotropic, Neumann boundary: pixel (0,0) sqrt(1 + 4), (0,1) sqrt(4 + 1), (0,2) sqrt(0 + 1),
    # the last row only horizontal differences (0, 0)
    expected = 2 * math.sqrt(5) + 1
    torch.testing.assert_close(VF.total_variation_loss(x, isotropic=True), torch.tensor(expected))


def test_total_variation_sums_channels_and_depth_and_averages_the_batch():
    x = torch.zeros(2, 2, 3, 1, 1)
    x[0, :, 2] = 1.0  # a step along depth in both channels of the first sample
    torch.testing.assert_close(VF.total_variation_loss(x, reduction="none"), torch.tensor([2.0, 0]))
    torch.testing.assert_close(VF.total_variation_loss(x), torch.tensor(1.0))


def test_total_variation_gradient_is_zero_on_flat_images():
    for isotropic in (False, True):
        x = torch.ones(1, 2, 4, 4, requires_grad=True)
        VF.total_variation_loss(x, isotropic=isotropic).backward()
        assert torch.equal(x.grad, torch.zeros_like(x))


def test_total_variation_rejects_other_ranks():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        VF.total_variation_loss(torch.zeros(3, 4, 4))


def test_js_divergence_hand_values():
    # P = (1, 0), Q = (1/2, 1/2): M = (3/4, 1/4);
    # JS = 1/2 log(4/3) + 1/2 (1/2 log(2/3) + 1/2 log 2)
    p = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    q = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    expected = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)
    got = VF.js_divergence(p, q, from_logits=False)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    # the same from logits (log q; log p with -inf replaced by a very negative number)
    got = VF.js_divergence(torch.tensor([[0.0, -1e4]]), torch.tensor([[0.0, 0.0]]))
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float32))


def test_js_divergence_is_zero_for_equal_distributions_and_means_over_distributions():
    g = torch.Generator().manual_seed(0)
    p = torch.randn(3, 4, 5, generator=g)
    torch.testing.assert_close(VF.js_divergence(p, p), torch.tensor(0.0))
    q = torch.randn(3, 4, 5, generator=g)
    none = VF.js_divergence(p, q, reduction="none")
    assert none.shape == (3, 5)
    torch.testing.assert_close(VF.js_divergence(p, q), none.sum() / 15)


@pytest.mark.parametrize(
    ("module", "options", "error"),
    [
        (visionloss.TotalVariationLoss, {"isotropic": 1}, TypeError),
        (visionloss.TotalVariationLoss, {"reduction": "batchmean"}, ValueError),
        (visionloss.JSDivergence, {"dim": 1.0}, TypeError),
        (visionloss.JSDivergence, {"from_logits": "yes"}, TypeError),
    ],
)
def test_option_errors_raise_at_module_construction(module, options, error):
    with pytest.raises(error):
        module(**options)


# --- feature matching -----------------------------------------------------------------------------


def test_feature_matching_hand_values():
    real = [torch.zeros(2, 2, 2), torch.zeros(2, 3)]
    fake = [torch.ones(2, 2, 2), torch.tensor([[0.0, 0.0, 3.0], [1.0, 1.0, 1.0]])]
    # per sample: layer 1 mean |1| = 1; layer 2 mean |.| = 1 and 1 -> (2, 2)
    none = VF.feature_matching_loss(real, fake, reduction="none")
    torch.testing.assert_close(none, torch.tensor([2.0, 2.0]))
    # squared: layer 2 of sample 0 is 9 / 3 = 3, of sample 1 is 1
    l2 = VF.feature_matching_loss(real, fake, distance="l2", reduction="none")
    torch.testing.assert_close(l2, torch.tensor([4.0, 2.0]))


def test_feature_matching_detach_real_option():
    real = torch.randn(3, 4, requires_grad=True)
    fake = torch.randn(3, 4, requires_grad=True)
    VF.feature_matching_loss(real, fake, detach_real=False).backward()
    assert real.grad is not None
    torch.testing.assert_close(real.grad, -fake.grad)


def test_feature_matching_structure_errors():
    with pytest.raises(ValueError, match="as many feature maps"):
        VF.feature_matching_loss([torch.zeros(2, 3)], [torch.zeros(2, 3), torch.zeros(2, 3)])
    with pytest.raises(ValueError, match="fake_features"):
        VF.feature_matching_loss([torch.zeros(2, 3)], [torch.zeros(2, 4)])
    with pytest.raises(ValueError, match="a batch of 2"):
        VF.feature_matching_loss(
            [torch.zeros(2, 3), torch.zeros(3, 3)], [torch.zeros(2, 3), torch.zeros(3, 3)]
        )
    with pytest.raises(TypeError, match="real_features"):
        VF.feature_matching_loss({"a": torch.zeros(2)}, torch.zeros(2))


@pytest.mark.parametrize(
    ("options", "error"),
    [({"distance": "l3"}, ValueError), ({"detach_real": None}, TypeError)],
)
def test_feature_matching_option_errors_raise_at_module_construction(options, error):
    with pytest.raises(error):
        visionloss.FeatureMatchingLoss(**options)
