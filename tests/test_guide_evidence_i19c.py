"""Evidence for the guide's cards of issue 19's pixel, divergence and detection losses.

Each test checks one claim of a card in ``src/visionloss/guide/``; it would fail if the claim were
false. Kept apart from tests/test_guide_evidence.py so that parallel additions do not collide.
"""

from __future__ import annotations

import math

import torch

import visionloss.functional as VF

# --- total_variation ----------------------------------------------------------------------------


def test_total_variation_charges_an_edge_its_height_as_a_ramp():
    # one row rising by 1: a sharp step and a linear ramp have the same TV (1), while the squared
    # gradient charges the step 1 and the ramp 1/4 (so it smooths edges into ramps); TV keeps them
    step = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0]).reshape(1, 1, 1, 5)
    ramp = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]).reshape(1, 1, 1, 5)
    for isotropic in (False, True):
        tv_step = VF.total_variation_loss(step, isotropic=isotropic)
        tv_ramp = VF.total_variation_loss(ramp, isotropic=isotropic)
        torch.testing.assert_close(tv_step, torch.tensor(1.0))
        torch.testing.assert_close(tv_ramp, torch.tensor(1.0))
    squared = [torch.diff(v.flatten()).pow(2).sum() for v in (step, ramp)]
    assert squared[0] == 1.0 and squared[1] == 0.25


def test_total_variation_needs_no_target_and_lowers_with_denoising():
    g = torch.Generator().manual_seed(0)
    clean = torch.zeros(1, 1, 16, 16)
    clean[..., 4:12, 4:12] = 1.0
    noisy = clean + 0.2 * torch.randn(clean.shape, generator=g)
    x = noisy.clone().requires_grad_(True)
    opt = torch.optim.SGD([x], lr=0.02)
    for _ in range(50):
        # data term plus TV; TV alone takes only the image
        loss = 0.5 * (x - noisy).pow(2).sum() + 0.1 * VF.total_variation_loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    err_before = (noisy - clean).pow(2).mean()
    err_after = (x.detach() - clean).pow(2).mean()
    assert err_after < 0.6 * err_before


def test_anisotropic_total_variation_charges_diagonals_more():
    # a diagonal ramp x_ij = i + j: anisotropic TV counts |dx| + |dy| = 2 per interior pixel, the
    # isotropic sqrt(dx^2 + dy^2) = sqrt 2: the anisotropic form prefers axis-aligned edges
    i = torch.arange(8.0)
    ramp = (i[:, None] + i[None, :]).reshape(1, 1, 8, 8)
    aniso = VF.total_variation_loss(ramp)
    iso = VF.total_variation_loss(ramp, isotropic=True)
    assert aniso == 2 * 8 * 7  # 7 differences of 1 per row and per column, 8 rows and columns
    assert iso < aniso / 1.3
    # rotating the ramp by 90 degrees changes neither, but a 45-degree edge costs the anisotropic
    # form sqrt 2 times what the same edge costs axis-aligned
    axis = torch.zeros(1, 1, 8, 8)
    axis[..., :, 4:] = 1.0  # vertical edge of length 8
    diag = (i[:, None] + i[None, :] >= 8).float().reshape(1, 1, 8, 8)  # staircase diagonal edge
    ratio = VF.total_variation_loss(diag) / VF.total_variation_loss(axis)
    assert ratio > 1.7  # 14 / 8: the staircase pays each step in x and in y


def test_total_variation_is_a_sum_that_grows_with_resolution():
    x = torch.zeros(1, 1, 8, 8)
    x[..., :, 4:] = 1.0
    up = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
    torch.testing.assert_close(VF.total_variation_loss(up), 2 * VF.total_variation_loss(x))


# --- js_divergence --------------------------------------------------------------------------------


def test_js_divergence_is_symmetric_and_bounded_by_log_2():
    g = torch.Generator().manual_seed(1)
    p = torch.randn(64, 5, generator=g, dtype=torch.float64) * 4
    q = torch.randn(64, 5, generator=g, dtype=torch.float64) * 4
    js_pq = VF.js_divergence(p, q, reduction="none")
    torch.testing.assert_close(js_pq, VF.js_divergence(q, p, reduction="none"))
    assert (js_pq >= 0).all() and (js_pq <= math.log(2)).all()
    kl_pq = VF.kl_divergence(p, q, reduction="none")
    kl_qp = VF.kl_divergence(q, p, reduction="none")
    assert not torch.allclose(kl_pq, kl_qp)  # KL, by contrast, is asymmetric


def test_js_divergence_is_finite_where_kl_is_infinite():
    p = torch.tensor([[0.5, 0.5, 0.0]])
    q = torch.tensor([[0.0, 0.5, 0.5]])
    assert torch.isinf(VF.kl_divergence(p, q, from_logits=False))
    js = VF.js_divergence(p, q, from_logits=False)
    torch.testing.assert_close(js, torch.tensor(0.5 * math.log(2)))


def test_js_divergence_saturates_on_disjoint_supports():
    # far-apart distributions: JS is log 2 whatever the distance, and its gradient vanishes
    # (Arjovsky et al.'s argument against the original GAN objective)
    grads = []
    for gap in (2.0, 20.0):
        p = torch.tensor([[gap, -gap]], dtype=torch.float64, requires_grad=True)
        q = torch.tensor([[-gap, gap]], dtype=torch.float64)
        VF.js_divergence(p, q).backward()
        grads.append(p.grad.abs().max().item())
    js_far = VF.js_divergence(torch.tensor([[20.0, -20.0]]), torch.tensor([[-20.0, 20.0]]))
    torch.testing.assert_close(js_far, torch.tensor(math.log(2)), rtol=0, atol=1e-6)
    assert grads[1] < 1e-8 < grads[0]


# --- varifocal, quality_focal, distribution_focal -------------------------------------------------


def _binary_entropy(q: float) -> float:
    return -(q * math.log(q) + (1 - q) * math.log(1 - q))


def test_varifocal_weights_positives_by_iou_and_downweights_easy_negatives():
    x = torch.tensor([3.0, 3.0, -3.0, 3.0])  # p = 0.95 on all but the third (p = 0.05)
    q = torch.tensor([0.9, 0.5, 0.0, 0.0])
    none = VF.varifocal_loss(x, q, reduction="none")
    bce = torch.nn.functional.binary_cross_entropy_with_logits(x, q, reduction="none")
    # a confident positive keeps q times its cross-entropy (no (1 - p)^gamma discount)
    torch.testing.assert_close(none[:2], q[:2] * bce[:2])
    # an easy negative (p = 0.05) is discounted by 0.75 * 0.05^2 ~ 2e-3; a hard one by 0.68
    assert none[2] < 2e-3 * bce[2] and none[3] > 0.6 * bce[3]


def test_varifocal_and_quality_focal_optimum_is_the_iou():
    # for a positive of target q, the loss over p is smallest at p = q: the score learns the IoU
    grid = torch.linspace(-6, 6, 12001, dtype=torch.float64)
    for q in (0.3, 0.7, 0.9):
        target = torch.full_like(grid, q)
        for loss in (VF.varifocal_loss, VF.quality_focal_loss):
            values = loss(grid, target, reduction="none")
            best = torch.sigmoid(grid[values.argmin()]).item()
            assert abs(best - q) < 1e-3, (loss.__name__, q, best)


def test_varifocal_mean_is_over_anchors_not_positives():
    # one positive among 1000 anchors: "mean" is 1000 times smaller than the per-positive value
    # the papers use (reduction="sum" divided by the number of positives)
    x = torch.zeros(1000)
    q = torch.zeros(1000)
    q[0] = 0.8
    per_positive = VF.varifocal_loss(x, q, reduction="sum") / 1
    torch.testing.assert_close(VF.varifocal_loss(x, q), per_positive / 1000)


def test_varifocal_alpha_and_gamma_act_on_negatives_only():
    x = torch.randn(50, generator=torch.Generator().manual_seed(0)) * 2
    q = torch.where(torch.arange(50) % 2 == 0, 0.6, 0.0)
    a = VF.varifocal_loss(x, q, reduction="none")
    b = VF.varifocal_loss(x, q, alpha=0.25, gamma=1.0, reduction="none")
    positive = q > 0
    torch.testing.assert_close(a[positive], b[positive])
    assert not torch.allclose(a[~positive], b[~positive])


def test_quality_focal_with_hard_targets_is_the_focal_loss():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 6, generator=g) * 3
    y = (torch.rand(4, 6, generator=g) > 0.5).float()
    torch.testing.assert_close(
        VF.quality_focal_loss(x, y, beta=2.0),
        VF.focal_loss(x, y, mode="binary", gamma=2.0),
    )


def test_quality_focal_discounts_positives_near_their_target():
    # a positive of IoU 0.9 predicted at 0.8: QFL weighs its cross-entropy by |0.9 - 0.8|^2 = 0.01,
    # VFL by 0.9: QFL under-trains rare positives, VarifocalNet's motivation for the asymmetry
    x = torch.logit(torch.tensor([0.8], dtype=torch.float64))
    q = torch.tensor([0.9], dtype=torch.float64)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(x, q)
    torch.testing.assert_close(VF.quality_focal_loss(x, q), 0.01 * bce)
    torch.testing.assert_close(VF.varifocal_loss(x, q), 0.9 * bce)


def test_distribution_focal_recovers_the_continuous_target():
    targets = torch.tensor([0.0, 2.3, 5.75, 7.0])
    logits = torch.zeros(4, 8, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    for _ in range(500):
        loss = VF.distribution_focal_loss(logits, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    expectation = (torch.softmax(logits, -1) * torch.arange(8.0)).sum(-1)
    torch.testing.assert_close(expectation, targets, rtol=0, atol=0.02)


def test_distribution_focal_minimum_is_the_two_bin_entropy():
    # the optimum puts 1 - frac and frac on the two bins: the loss is then their entropy, 0 only
    # for integer targets
    for y, frac in ((2.3, 0.3), (4.0, 0.0), (1.5, 0.5)):
        probs = torch.zeros(1, 6, dtype=torch.float64)
        probs[0, int(y)] += 1 - frac
        probs[0, int(y) + 1] += frac
        logits = torch.log(probs.clamp_min(1e-300))
        value = VF.distribution_focal_loss(logits, torch.tensor([y], dtype=torch.float64)).item()
        expected = 0.0 if frac == 0 else _binary_entropy(frac)
        assert abs(value - expected) < 1e-9


def test_distribution_focal_range_is_fixed_by_the_bins():
    logits = torch.zeros(2, 16)
    VF.distribution_focal_loss(logits, torch.tensor([0.0, 15.0]))  # the full range is accepted
    try:
        VF.distribution_focal_loss(logits, torch.tensor([3.0, 16.0]))
    except ValueError as error:
        assert "[0, 15]" in str(error)
    else:
        raise AssertionError("a target beyond the last bin was accepted")


# --- feature_matching -----------------------------------------------------------------------------


def test_feature_matching_keeps_a_gradient_where_minimax_saturates():
    # a discriminator with one hidden layer that rejects the fakes confidently (logit ~ -60):
    # the minimax generator loss has a vanishing gradient there, feature matching does not
    torch.manual_seed(0)
    w1 = torch.randn(8, 16)
    real = torch.randn(32, 8) + 3.0
    fake = (torch.randn(32, 8) - 3.0).requires_grad_(True)

    def features(x):
        return x @ w1

    w2 = features(real).mean(0) - features(fake.detach()).mean(0)
    scale = 60.0 / (features(fake.detach()) @ w2).abs().mean()
    logit_fake = (features(fake) @ w2) * scale
    assert (logit_fake < -10).all()
    (g_minimax,) = torch.autograd.grad(VF.generator_loss(logit_fake, kind="minimax"), fake)
    fm = VF.feature_matching_loss(features(real), features(fake))
    (g_fm,) = torch.autograd.grad(fm, fake)
    assert g_minimax.abs().max() < 1e-6 and g_fm.abs().mean() > 1e-3


def test_feature_matching_flattens_scales_and_sums_layers():
    g = torch.Generator().manual_seed(4)
    real = [[torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 5, generator=g)],
            [torch.randn(2, 3, 2, 2, generator=g)]]
    fake = [[torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 5, generator=g)],
            [torch.randn(2, 3, 2, 2, generator=g)]]
    nested = VF.feature_matching_loss(real, fake)
    separate = sum(
        VF.feature_matching_loss(r, f) for rs, fs in zip(real, fake, strict=True) for r, f in zip(rs, fs, strict=True)
    )
    torch.testing.assert_close(nested, separate)
    # doubling the layers doubles the loss: its weight depends on the discriminator's depth
    flat_real = [t for rs in real for t in rs]
    flat_fake = [t for fs in fake for t in fs]
    doubled = VF.feature_matching_loss(flat_real * 2, flat_fake * 2)
    torch.testing.assert_close(doubled, 2 * nested)


def test_feature_matching_is_blind_to_what_the_discriminator_ignores():
    # a ReLU layer maps every negative value to 0: two different fakes with the same features
    # score 0; the term needs the adversarial loss (and a discriminator that sees the difference)
    real = torch.tensor([[1.0, -2.0, -3.0]])
    fake = torch.tensor([[1.0, -9.0, -0.5]])
    assert not torch.equal(real, fake)
    loss = VF.feature_matching_loss(torch.relu(real), torch.relu(fake))
    assert loss == 0


def test_feature_matching_trains_only_the_generator():
    real = torch.randn(4, 6, requires_grad=True)
    fake = torch.randn(4, 6, requires_grad=True)
    VF.feature_matching_loss(real, fake).backward()
    assert real.grad is None and fake.grad is not None and fake.grad.abs().sum() > 0
