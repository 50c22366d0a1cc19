"""Generative family against peers: pytorch-msssim (SSIM, MS-SSIM), kornia (SSIM maps) and
MONAI (multi-scale adversarial losses, PatchAdversarialLoss 1.6.1).

Values were checked with pytorch-msssim 1.0.0 and kornia 0.9.0 (max abs diff about 1e-6 in
float64, from their float32 Gaussian windows); the tolerance is the 1e-4 of the issue. Each test
skips when its peer is not installed. torch's own kl_div and gaussian_nll_loss are compared in
tests/test_generative.py.
"""

from __future__ import annotations

import pytest
import torch

import visionloss.functional as VF

TOL = {"rtol": 0.0, "atol": 1e-4}


def _pair(shape, seed, noise=0.2):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=torch.float64)
    y = (x + noise * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return x, y


@pytest.mark.parametrize(
    ("shape", "window_size", "sigma", "k"),
    [
        ((2, 3, 32, 40), 11, 1.5, (0.01, 0.03)),
        ((2, 1, 20, 23), 7, 1.0, (0.02, 0.05)),
        ((1, 2, 16, 17, 19), 7, 1.5, (0.01, 0.03)),  # 3D volume
    ],
)
def test_ssim_equals_pytorch_msssim(shape, window_size, sigma, k):
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    x, y = _pair(shape, seed=sum(shape))
    for data_range, scale in ((1.0, 1.0), (255.0, 255.0)):
        theirs = pytorch_msssim.ssim(
            scale * x,
            scale * y,
            data_range=data_range,
            size_average=False,
            win_size=window_size,
            win_sigma=sigma,
            K=k,
        )
        ours = VF.ssim_loss(
            scale * x,
            scale * y,
            data_range=data_range,
            window_size=window_size,
            sigma=sigma,
            k1=k[0],
            k2=k[1],
            reduction="none",
        )
        torch.testing.assert_close(1 - ours, theirs, **TOL)


@pytest.mark.parametrize(
    ("shape", "window_size", "weights"),
    [
        ((1, 2, 161, 163), 11, None),  # the default window and the five standard scales
        ((1, 2, 97, 100), 7, None),
        ((1, 1, 66, 67), 5, [0.2, 0.3, 0.5]),  # pytorch-msssim wants > 64 whatever the scales
        ((1, 1, 33, 34, 35), 3, None),  # 3D volume, five scales
    ],
)
def test_ms_ssim_equals_pytorch_msssim(shape, window_size, weights):
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    x, y = _pair(shape, seed=sum(shape), noise=0.3)
    theirs = pytorch_msssim.ms_ssim(
        x, y, data_range=1.0, size_average=False, win_size=window_size, weights=weights
    )
    ours = VF.ms_ssim_loss(
        x, y, window_size=window_size, scale_weights=weights, reduction="none"
    )
    torch.testing.assert_close(1 - ours, theirs, **TOL)
    # anti-correlated pairs: both clamp the negative terms and give MS-SSIM 0
    theirs = pytorch_msssim.ms_ssim(
        x, 1 - y, data_range=1.0, size_average=False, win_size=window_size, weights=weights
    )
    ours = VF.ms_ssim_loss(
        x, 1 - y, window_size=window_size, scale_weights=weights, reduction="none"
    )
    torch.testing.assert_close(1 - ours, theirs, **TOL)


def test_ssim_gradient_equals_pytorch_msssim():
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    x, y = _pair((2, 2, 24, 24), seed=3)
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    VF.ssim_loss(x1, y, window_size=7).backward()
    (1 - pytorch_msssim.ssim(x2, y, data_range=1.0, win_size=7)).backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("spatial", [2, 3])
def test_ssim_equals_kornia_valid_map_mean(spatial):
    kornia = pytest.importorskip("kornia")
    shape = (2, 2, 15, 16) if spatial == 2 else (1, 2, 9, 10, 11)
    x, y = _pair(shape, seed=11)
    metric = kornia.metrics.ssim if spatial == 2 else kornia.metrics.ssim3d
    # kornia: sigma 1.5 always, C1/C2 from max_val, eps=0 to drop its denominator term,
    # padding="valid" for the unpadded map; SSIM per image is the mean of the map
    ssim_map = metric(x, y, 5, max_val=1.0, eps=0.0, padding="valid")
    theirs = ssim_map.flatten(1).mean(1)
    ours = VF.ssim_loss(x, y, window_size=5, reduction="none")
    torch.testing.assert_close(1 - ours, theirs, **TOL)


@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (1, 2, 1, 5), (3, 1, 6, 1)])
def test_total_variation_equals_kornia(shape):
    kornia = pytest.importorskip("kornia")
    x = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)), dtype=torch.float64)
    theirs = kornia.losses.total_variation(x)  # (N, C), anisotropic, summed
    torch.testing.assert_close(VF.total_variation_loss(x, reduction="none"), theirs.sum(-1), **TOL)
    torch.testing.assert_close(VF.total_variation_loss(x), theirs.sum(-1).mean(), **TOL)


def test_js_divergence_equals_kornia_js_div_loss_2d():
    kornia = pytest.importorskip("kornia")
    g = torch.Generator().manual_seed(3)
    logits = [torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64) for _ in range(2)]
    p, q = (t.flatten(2).softmax(-1) for t in logits)
    p[0, 0, :3] = 0.0  # zeros in one heatmap only, where the other is positive
    theirs = kornia.losses.js_div_loss_2d(p.view(2, 3, 4, 5), q.view(2, 3, 4, 5), reduction="none")
    ours = VF.js_divergence(p, q, dim=-1, from_logits=False, reduction="none")
    torch.testing.assert_close(ours, theirs, **TOL)
    ours = VF.js_divergence(logits[0].flatten(2), logits[1].flatten(2), dim=-1)
    theirs = kornia.losses.js_div_loss_2d(*(t.flatten(2).softmax(-1).view_as(t) for t in logits))
    torch.testing.assert_close(ours, theirs, **TOL)


# --- multi-scale adversarial losses against MONAI's PatchAdversarialLoss ---------------------------


def _scales(seed):
    g = torch.Generator().manual_seed(seed)
    return [2 * torch.randn(2, 1, s, s, generator=g, dtype=torch.float64) for s in (16, 8, 4)]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_multi_scale_bce_equals_monai_patch_adversarial_loss(reduction):
    losses = pytest.importorskip("monai.losses")
    monai = losses.PatchAdversarialLoss(criterion="bce", reduction=reduction)
    reals, fakes = _scales(0), _scales(1)
    # MONAI's "bce" (sigmoid then BCELoss) is the non-saturating GAN loss; per scale, then the
    # mean (or sum) over the list
    g = monai(fakes, target_is_real=True, for_discriminator=False)
    torch.testing.assert_close(VF.generator_loss(fakes, reduction=reduction), g)
    d = monai(reals, target_is_real=True, for_discriminator=True) + monai(
        fakes, target_is_real=False, for_discriminator=True
    )
    torch.testing.assert_close(VF.discriminator_loss(reals, fakes, reduction=reduction), d)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_multi_scale_least_squares_is_twice_monai_without_activation(reduction):
    losses = pytest.importorskip("monai.losses")
    monai = losses.PatchAdversarialLoss(
        criterion="least_squares", no_activation_leastsq=True, reduction=reduction
    )
    reals, fakes = _scales(2), _scales(3)
    # MSE against 1 / 0 without LSGAN's 1/2: twice ours
    g = monai(fakes, target_is_real=True, for_discriminator=False)
    torch.testing.assert_close(2 * VF.generator_loss(fakes, kind="lsgan", reduction=reduction), g)
    d = monai(reals, target_is_real=True, for_discriminator=True) + monai(
        fakes, target_is_real=False, for_discriminator=True
    )
    torch.testing.assert_close(
        2 * VF.discriminator_loss(reals, fakes, kind="lsgan", reduction=reduction), d
    )


def test_multi_scale_hinge_discriminator_equals_monai_on_tanh_logits():
    losses = pytest.importorskip("monai.losses")
    monai = losses.PatchAdversarialLoss(criterion="hinge")
    reals, fakes = _scales(4), _scales(5)
    tanh = [x.tanh() for x in reals], [x.tanh() for x in fakes]
    # MONAI passes the logits through tanh first; the discriminator's hinge is then ours
    d = monai(reals, target_is_real=True, for_discriminator=True) + monai(
        fakes, target_is_real=False, for_discriminator=True
    )
    torch.testing.assert_close(VF.discriminator_loss(*tanh, kind="hinge"), d)
    # its generator takes the hinge relu(1 - tanh f) (our discriminator's real term), where ours
    # is Lim and Ye's -f: a documented difference
    g = monai(fakes, target_is_real=True, for_discriminator=False)
    parts = VF.discriminator_loss(tanh[1], tanh[1], kind="hinge", reduction="none")
    torch.testing.assert_close(torch.stack([a.mean() for a, _ in parts]).mean(), g)
