"""Catalogue rows of the generative family, with float64 references written from the formulas.

The losses whose call does not fit a row (``discriminator_loss`` returns a pair for "none", the
penalties take a critic, and the adversarial losses' multi-scale form takes a list of per-scale
outputs, which a row's ``function(*inputs)`` cannot pass and whose "none" is a tuple) are tested in
tests/test_generative.py (``TestMultiScaleAdversarial``: mean over scales, "sum", "none", weights,
gradcheck, half precision, empty scale, NaN, compile). The references here are
independent of the implementation: GAN terms from sigmoid/log, Gaussian likelihoods and KLs from
``torch.distributions``, SSIM with the full (not separable) window applied channel by channel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Normal
from torch.distributions import kl_divergence as dist_kl

import visionloss
import visionloss.functional as VF

from . import LossCase

# --- inputs -----------------------------------------------------------------------------------------


def _big(dtype: torch.dtype) -> float:
    return 6e4 if dtype == torch.float16 else 1e4


def _logits(gen, dtype):
    # logits over [-6, 6]: both tails of every GAN objective and the hinge's kinks at +-1
    return ((torch.rand(4, 3, generator=gen, dtype=torch.float64) * 12 - 6).to(dtype),)


def _logits_extreme(dtype):
    big = _big(dtype)
    return (torch.tensor([-big, big, 0.0, -1.0], dtype=dtype),)


def _logits_empty(dtype):
    return (torch.zeros(0, 1, dtype=dtype),)


def _nll_inputs(gen, dtype):
    mean = torch.randn(3, 4, 5, generator=gen, dtype=torch.float64)
    target = torch.randn(3, 4, 5, generator=gen, dtype=torch.float64)
    logvar = torch.rand(3, 4, 5, generator=gen, dtype=torch.float64) * 4 - 2
    return mean.to(dtype), target.to(dtype), logvar.to(dtype)


def _nll_channel_logvar(gen, dtype):
    mean, target, _ = _nll_inputs(gen, dtype)
    logvar = (torch.rand(1, 4, 1, generator=gen, dtype=torch.float64) * 4 - 2).to(dtype)
    return mean, target, logvar


def _nll_extreme(dtype):
    big = _big(dtype)
    # saturated log-variances with huge or zero residuals (a gradient of d e^{-v} with d = 6e4
    # and moderate v does not fit float16 whatever the loss does, so those pairs are left out)
    mean = torch.tensor([-big, big, 0.0, 1.0], dtype=dtype)
    logvar = torch.tensor([big, big, -big, 0.0], dtype=dtype)
    return mean, torch.zeros(4, dtype=dtype), logvar


def _nll_empty(dtype):
    return tuple(torch.zeros(0, 3, dtype=dtype) for _ in range(3))


def _images(shape):
    def make(gen, dtype):
        # correlated pairs (SSIM well inside (0, 1), every MS-SSIM term positive, so gradcheck
        # never crosses the clamp at 0)
        x = torch.rand(shape, generator=gen, dtype=torch.float64)
        y = x + 0.2 * torch.randn(shape, generator=gen, dtype=torch.float64)
        return x.to(dtype), y.to(dtype)

    return make


def _images_extreme(shape):
    def make(dtype):
        big = _big(dtype)
        gen = torch.Generator().manual_seed(0)
        sign = torch.randint(0, 2, shape, generator=gen).to(torch.float64) * 2 - 1
        x = (big * sign).to(dtype)
        return x, torch.zeros(shape, dtype=dtype)

    return make


def _images_empty(shape):
    def make(dtype):
        return torch.zeros(shape, dtype=dtype), torch.zeros(shape, dtype=dtype)

    return make


def _kl_logits(gen, dtype):
    p = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64) * 3
    q = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64) * 3
    return p.to(dtype), q.to(dtype)


def _kl_probs(gen, dtype):
    p = torch.softmax(torch.randn(2, 3, 6, generator=gen, dtype=torch.float64), dim=-1)
    q = torch.softmax(torch.randn(2, 3, 6, generator=gen, dtype=torch.float64), dim=-1)
    return p.to(dtype), q.to(dtype)


def _kl_extreme(dtype):
    big = _big(dtype)
    p = torch.tensor([[big, -big, 0.0], [0.0, 0.0, big]], dtype=dtype)
    q = torch.tensor([[-big, big, 0.0], [big, 0.0, -big]], dtype=dtype)
    return p, q


def _kl_empty(dtype):
    return torch.zeros(0, 3, dtype=dtype), torch.zeros(0, 3, dtype=dtype)


def _latents(gen, dtype):
    mu = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    logvar = torch.rand(3, 4, generator=gen, dtype=torch.float64) * 4 - 2
    return mu.to(dtype), logvar.to(dtype)


def _latents_vs_prior(gen, dtype):
    mu = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64)
    logvar = torch.rand(2, 3, 4, generator=gen, dtype=torch.float64) * 4 - 2
    mu2 = torch.randn(4, generator=gen, dtype=torch.float64)  # broadcast over the batch
    logvar2 = torch.rand(2, 3, 4, generator=gen, dtype=torch.float64) * 4 - 2
    return mu.to(dtype), logvar.to(dtype), mu2.to(dtype), logvar2.to(dtype)


def _latents_extreme(dtype):
    big = _big(dtype)
    mu = torch.tensor([[-big, big, 0.0]], dtype=dtype)
    logvar = torch.tensor([[0.0, -big, -big]], dtype=dtype)
    return mu, logvar


def _latents_empty(dtype):
    return torch.zeros(0, 4, dtype=dtype), torch.zeros(0, 4, dtype=dtype)


def _vae_inputs(latent_shape):
    def make(gen, dtype):
        recon = torch.randn(3, 2, 4, generator=gen, dtype=torch.float64) * 3
        target = torch.rand(3, 2, 4, generator=gen, dtype=torch.float64)
        mu = torch.randn(latent_shape, generator=gen, dtype=torch.float64)
        logvar = torch.rand(latent_shape, generator=gen, dtype=torch.float64) * 4 - 2
        return recon.to(dtype), target.to(dtype), mu.to(dtype), logvar.to(dtype)

    return make


def _vae_extreme(dtype):
    big = _big(dtype)
    recon = torch.tensor([[big, -big, big], [-big, 0.0, big]], dtype=dtype)
    target = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.5, 0.0]], dtype=dtype)
    mu = torch.tensor([[big, 0.0], [-big, 1.0]], dtype=dtype)
    logvar = torch.tensor([[-big, 0.0], [0.0, -big]], dtype=dtype)
    return recon, target, mu, logvar


def _vae_empty(dtype):
    return (
        torch.zeros(0, 5, dtype=dtype),
        torch.zeros(0, 5, dtype=dtype),
        torch.zeros(0, 2, dtype=dtype),
        torch.zeros(0, 2, dtype=dtype),
    )


def _tv_images(shape):
    def make(gen, dtype):
        return (torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype),)

    return make


def _tv_extreme(dtype):
    big = _big(dtype)
    # steps of +-2 big along both axes, and flat regions (zero differences)
    x = torch.tensor([[big, -big, -big], [big, big, 0.0], [0.0, 0.0, 0.0]], dtype=dtype)
    return (x.reshape(1, 1, 3, 3),)


def _feature_maps(gen, dtype):
    real = torch.randn(3, 4, 3, 3, generator=gen, dtype=torch.float64)
    fake = real + torch.randn(3, 4, 3, 3, generator=gen, dtype=torch.float64)
    return real.to(dtype), fake.to(dtype)


def _feature_maps_extreme(dtype):
    big = _big(dtype)
    real = torch.tensor([[big, -big, 0.0], [0.0, 1.0, -big]], dtype=dtype)
    fake = torch.tensor([[-big, -big, big], [0.0, -1.0, big]], dtype=dtype)
    return real, fake


def _feature_maps_empty(dtype):
    return torch.zeros(0, 4, 3, dtype=dtype), torch.zeros(0, 4, 3, dtype=dtype)


def _tv_empty(dtype):
    return (torch.zeros(0, 2, 4, 4, dtype=dtype),)


# --- references -------------------------------------------------------------------------------------


def _generator_reference(f, kind):
    d = torch.sigmoid(f)  # the discriminator's probability that f is real (fine in float64 here)
    return {
        "non_saturating": -torch.log(d),
        "minimax": torch.log(1 - d),
        "lsgan": 0.5 * (f - 1) ** 2,
        "hinge": -f,
        "wasserstein": -f,
    }[kind]


def _nll_reference(mean, target, logvar, full=True):
    nll = -Normal(mean, torch.exp(0.5 * logvar)).log_prob(target)
    return nll if full else nll - 0.5 * math.log(2 * math.pi)


def _window(size, sigma):
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(x, size, sigma):
    # the full d-dimensional window (outer product), one channel at a time
    g = _window(size, sigma)
    spatial = x.dim() - 2
    full = g
    for _ in range(spatial - 1):
        full = full.unsqueeze(-1) * g
    conv = F.conv2d if spatial == 2 else F.conv3d
    n, c = x.shape[:2]
    out = conv(x.reshape(n * c, 1, *x.shape[2:]), full.reshape(1, 1, *full.shape))
    return out.reshape(n, c, *out.shape[2:])


def _ssim_cs_reference(x, y, size, sigma, data_range=1.0, k1=0.01, k2=0.03):
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mx, my = _filter(x, size, sigma), _filter(y, size, sigma)
    sxx = _filter(x * x, size, sigma) - mx**2
    syy = _filter(y * y, size, sigma) - my**2
    sxy = _filter(x * y, size, sigma) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    s = (2 * mx * my + c1) / (mx**2 + my**2 + c1) * cs
    return s.flatten(2).mean(-1), cs.flatten(2).mean(-1)


def ssim_reference(x, y, window_size=11, sigma=1.5, **constants):
    s, _ = _ssim_cs_reference(x, y, window_size, sigma, **constants)
    return 1 - s.mean(1)


def ms_ssim_reference(x, y, window_size=11, sigma=1.5, scale_weights=None, **constants):
    weights = scale_weights or (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    pool = F.avg_pool2d if x.dim() == 4 else F.avg_pool3d
    value = 1.0
    for level, w in enumerate(weights):
        s, cs = _ssim_cs_reference(x, y, window_size, sigma, **constants)
        term = s if level == len(weights) - 1 else cs
        value = value * torch.relu(term) ** w
        pad = [size % 2 for size in x.shape[2:]]
        x, y = pool(x, 2, padding=pad), pool(y, 2, padding=pad)
    return 1 - value.mean(1)


def _kl_reference(p, q, dim=1, from_logits=True):
    if from_logits:
        p, q = torch.softmax(p, dim), torch.softmax(q, dim)
    return (p * (p.log() - q.log())).sum(dim)


def _gaussian_kl_reference(mu, logvar, mu2=None, logvar2=None):
    mu2 = torch.zeros_like(mu) if mu2 is None else mu2
    logvar2 = torch.zeros_like(mu) if logvar2 is None else logvar2
    kl = dist_kl(Normal(mu, torch.exp(0.5 * logvar)), Normal(mu2, torch.exp(0.5 * logvar2)))
    return kl.sum(-1)


def _vae_reference(recon, target, mu, logvar, beta=1.0, reconstruction="bce"):
    if reconstruction == "bce":
        d = torch.sigmoid(recon)
        rec = -(target * torch.log(d) + (1 - target) * torch.log(1 - d))
    else:
        rec = (recon - target) ** 2
    kl = _gaussian_kl_reference(mu.flatten(1), logvar.flatten(1))
    return rec.flatten(1).sum(1) + beta * kl


def _tv_reference(x, isotropic=False):
    # forward differences written out with slicing, the last one along each axis 0 (Neumann)
    diffs = []
    for axis in range(2, x.dim()):
        n = x.shape[axis]
        d = x.narrow(axis, 1, n - 1) - x.narrow(axis, 0, n - 1)
        zero = torch.zeros_like(x.narrow(axis, 0, 1))
        diffs.append(torch.cat([d, zero], dim=axis))
    if isotropic:
        return torch.stack(diffs).pow(2).sum(0).sqrt().flatten(1).sum(1)
    return sum(d.abs().flatten(1).sum(1) for d in diffs)


def _js_reference(p, q, dim=1, from_logits=True):
    if from_logits:
        p, q = torch.softmax(p, dim), torch.softmax(q, dim)
    m = (p + q) / 2
    # xlogy: 0 log 0 = 0 (the probability rows have no zeros; the logits rows none either)
    return 0.5 * (torch.xlogy(p, p / m) + torch.xlogy(q, q / m)).sum(dim)


def _feature_matching_reference(real, fake, distance="l1", detach_real=True):
    d = (fake - real).abs() if distance == "l1" else (fake - real) ** 2
    return d.reshape(d.shape[0], -1).mean(1)


def _first_shape(inputs):
    return tuple(inputs[0].shape)


def _batch(inputs):
    return (inputs[0].shape[0],)


def _gan_case(kind, compile=False):
    return LossCase(
        f"generator_{kind}",
        VF.generator_loss,
        visionloss.AdversarialLoss,
        _logits,
        none_shape=_first_shape,
        reference=lambda f, kind: _generator_reference(f, kind),
        options={"kind": kind},
        make_empty=_logits_empty,
        make_extreme=_logits_extreme,
        compile=compile,
    )


CASES: list[LossCase] = [
    _gan_case("non_saturating", compile=True),
    _gan_case("minimax"),
    _gan_case("lsgan"),
    _gan_case("hinge"),
    _gan_case("wasserstein"),
    LossCase(
        "gaussian_nll",
        VF.gaussian_nll_loss,
        visionloss.GaussianNLLLoss,
        _nll_inputs,
        none_shape=_first_shape,
        reference=_nll_reference,
        grad_inputs=(0, 1, 2),
        make_empty=_nll_empty,
        make_extreme=_nll_extreme,
        compile=True,
    ),
    LossCase(
        "gaussian_nll_channel_logvar",
        VF.gaussian_nll_loss,
        visionloss.GaussianNLLLoss,
        _nll_channel_logvar,
        none_shape=_first_shape,
        reference=_nll_reference,
        options={"full": False},
        grad_inputs=(0, 2),
    ),
    LossCase(
        "ssim",
        VF.ssim_loss,
        visionloss.SSIMLoss,
        _images((2, 1, 8, 9)),
        none_shape=_batch,
        reference=ssim_reference,
        options={"window_size": 5, "sigma": 1.2},
        grad_inputs=(0,),  # symmetric in input and target; gradcheck is costly here
        make_empty=_images_empty((0, 1, 8, 8)),
        make_extreme=_images_extreme((2, 1, 8, 9)),
        compile=True,
    ),
    LossCase(
        "ssim_3d",
        VF.ssim_loss,
        visionloss.SSIMLoss,
        _images((1, 1, 5, 6, 5)),
        none_shape=_batch,
        reference=ssim_reference,
        options={"window_size": 3, "data_range": 2.0, "k2": 0.05},
        grad_inputs=(0,),
        make_empty=_images_empty((0, 2, 5, 5, 5)),
        make_extreme=_images_extreme((1, 1, 5, 6, 5)),
    ),
    LossCase(
        "ms_ssim",
        VF.ms_ssim_loss,
        visionloss.MSSSIMLoss,
        _images((1, 2, 9, 10)),
        none_shape=_batch,
        reference=ms_ssim_reference,
        options={"window_size": 3, "scale_weights": (0.3, 0.3, 0.4)},
        grad_inputs=(0,),  # symmetric in input and target; gradcheck is costly here
        make_empty=_images_empty((0, 1, 9, 9)),
        make_extreme=_images_extreme((2, 1, 12, 9)),
        compile=True,
    ),
    LossCase(
        "kl_divergence",
        VF.kl_divergence,
        visionloss.KLDivergence,
        _kl_logits,
        none_shape=lambda inputs: (inputs[0].shape[0], inputs[0].shape[2]),
        reference=_kl_reference,
        grad_inputs=(0, 1),
        make_empty=_kl_empty,
        make_extreme=_kl_extreme,
        compile=True,
    ),
    LossCase(
        "kl_divergence_probs",
        VF.kl_divergence,
        visionloss.KLDivergence,
        _kl_probs,
        none_shape=lambda inputs: tuple(inputs[0].shape[:-1]),
        reference=_kl_reference,
        options={"dim": -1, "from_logits": False},
        grad_inputs=(0, 1),
        make_empty=_kl_empty,
    ),
    LossCase(
        "gaussian_kl",
        VF.gaussian_kl,
        visionloss.GaussianKLLoss,
        _latents,
        none_shape=_batch,
        reference=_gaussian_kl_reference,
        grad_inputs=(0, 1),
        make_empty=_latents_empty,
        make_extreme=_latents_extreme,
        compile=True,
    ),
    LossCase(
        "gaussian_kl_two_gaussians",
        VF.gaussian_kl,
        visionloss.GaussianKLLoss,
        _latents_vs_prior,
        none_shape=lambda inputs: tuple(inputs[0].shape[:-1]),
        reference=_gaussian_kl_reference,
        grad_inputs=(0, 1, 2, 3),
    ),
    LossCase(
        "vae_bce",
        VF.vae_loss,
        visionloss.VAELoss,
        _vae_inputs((3, 5)),
        none_shape=_batch,
        reference=_vae_reference,
        options={"beta": 0.5},
        grad_inputs=(0, 1, 2, 3),
        make_empty=_vae_empty,
        make_extreme=_vae_extreme,
        compile=True,
    ),
    LossCase(
        "vae_mse_spatial_latent",
        VF.vae_loss,
        visionloss.VAELoss,
        _vae_inputs((3, 2, 2, 2)),
        none_shape=_batch,
        reference=_vae_reference,
        options={"beta": 4.0, "reconstruction": "mse"},
        grad_inputs=(0, 1, 2, 3),
        make_empty=_vae_empty,
        # no extreme row: the squared error's gradient 2 * 6e4 does not fit float16 (as mse)
    ),
    LossCase(
        "total_variation",
        VF.total_variation_loss,
        visionloss.TotalVariationLoss,
        _tv_images((3, 2, 5, 6)),
        none_shape=_batch,
        reference=_tv_reference,
        make_empty=_tv_empty,
        make_extreme=_tv_extreme,
        compile=True,
    ),
    LossCase(
        "total_variation_isotropic_3d",
        VF.total_variation_loss,
        visionloss.TotalVariationLoss,
        _tv_images((2, 2, 3, 4, 5)),
        none_shape=_batch,
        reference=_tv_reference,
        options={"isotropic": True},
        make_empty=_tv_empty,
        make_extreme=_tv_extreme,
        compile=True,
    ),
    LossCase(
        "js_divergence",
        VF.js_divergence,
        visionloss.JSDivergence,
        _kl_logits,
        none_shape=lambda inputs: (inputs[0].shape[0], inputs[0].shape[2]),
        reference=_js_reference,
        grad_inputs=(0, 1),
        make_empty=_kl_empty,
        make_extreme=_kl_extreme,
        compile=True,
    ),
    LossCase(
        "js_divergence_probs",
        VF.js_divergence,
        visionloss.JSDivergence,
        _kl_probs,
        none_shape=lambda inputs: tuple(inputs[0].shape[:-1]),
        reference=_js_reference,
        options={"dim": -1, "from_logits": False},
        grad_inputs=(0, 1),
        make_empty=_kl_empty,
    ),
    LossCase(
        "feature_matching",
        VF.feature_matching_loss,
        visionloss.FeatureMatchingLoss,
        _feature_maps,
        none_shape=_batch,
        reference=_feature_matching_reference,
        grad_inputs=(1,),  # the real features are detached (targets): only the fakes get a gradient
        make_empty=_feature_maps_empty,
        make_extreme=_feature_maps_extreme,
        compile=True,
    ),
    LossCase(
        "feature_matching_l2",
        VF.feature_matching_loss,
        visionloss.FeatureMatchingLoss,
        _feature_maps,
        none_shape=_batch,
        reference=_feature_matching_reference,
        options={"distance": "l2", "detach_real": False},
        grad_inputs=(0, 1),
        make_empty=_feature_maps_empty,
    ),
]


# --- the perceptual loss (losses/_perceptual.py) over a tiny convolutional extractor --------------
#
# The extractor is a plain function with fixed float64 weights, moved to the images' dtype and
# device at each call (so the float64, half, meta and vmap axes all reach it); tanh keeps it
# smooth for the second-order axes. Its two "layers" differ in size (4 x 5 x 5 and 2 x 3 x 3).

_EXTRACTOR_GEN = torch.Generator().manual_seed(19)
_W1 = torch.randn(4, 3, 3, 3, generator=_EXTRACTOR_GEN, dtype=torch.float64) / 3
_W2 = torch.randn(2, 4, 3, 3, generator=_EXTRACTOR_GEN, dtype=torch.float64) / 6


def _tiny_extractor(x):
    shallow = torch.tanh(torch.nn.functional.conv2d(x, _W1.to(x)))
    deep = torch.nn.functional.conv2d(shallow, _W2.to(x))
    return {"shallow": shallow, "deep": deep}


def _tiny_extractor_list(x):
    features = _tiny_extractor(x)
    return [features["shallow"], features["deep"]]


def _photos(gen, dtype):
    x = torch.rand(3, 3, 7, 7, generator=gen, dtype=torch.float64)
    y = (x + 0.3 * torch.randn(3, 3, 7, 7, generator=gen, dtype=torch.float64)).clamp(0, 1)
    return x.to(dtype), y.to(dtype)


def _photos_extreme(dtype):
    big = 1e3 if dtype == torch.float16 else 1e4  # a float16 convolution of 6e4 overflows
    x = torch.zeros(2, 3, 7, 7, dtype=dtype)
    x[0, :, ::2] = big
    x[1, 0] = -big
    return x, torch.zeros_like(x)


def _photos_empty(dtype):
    return torch.zeros(0, 3, 7, 7, dtype=dtype), torch.zeros(0, 3, 7, 7, dtype=dtype)


def _perceptual_reference(x, y, extractor, layers=None, layer_weights=None, criterion="l1",
                          normalize=False, mean=None, std=None, detach_target=True, freeze=True):
    # per sample: sum over the layers of w_k * mean over the layer's elements of d(., .)
    if normalize:
        m = torch.tensor((0.485, 0.456, 0.406) if mean is None else mean, dtype=x.dtype)
        s = torch.tensor((0.229, 0.224, 0.225) if std is None else std, dtype=x.dtype)
        x, y = (x - m.view(1, -1, 1, 1)) / s.view(1, -1, 1, 1), (y - m.view(1, -1, 1, 1)) / s.view(
            1, -1, 1, 1)
    fx, fy = extractor(x.double()), extractor(y.double())
    keys = list(layers) if layers is not None else list(range(len(fx))) if isinstance(
        fx, list) else list(fx)
    weights = [1.0] * len(keys) if layer_weights is None else list(layer_weights)
    out = []
    for n in range(x.shape[0]):
        total = torch.zeros((), dtype=torch.float64)
        for key, w in zip(keys, weights, strict=True):
            d = fx[key][n] - fy[key][n]
            d = d.abs() if criterion == "l1" else d**2
            total = total + w * d.sum() / d.numel()
        out.append(total)
    return torch.stack(out) if out else torch.zeros(0, dtype=torch.float64)


CASES += [
    LossCase(
        "perceptual",
        VF.perceptual_loss,
        visionloss.PerceptualLoss,
        _photos,
        none_shape=_batch,
        reference=_perceptual_reference,
        options={"extractor": _tiny_extractor},
        make_empty=_photos_empty,
        make_extreme=_photos_extreme,
        compile=True,
    ),
    LossCase(
        "perceptual_mse_weighted_normalized",
        VF.perceptual_loss,
        visionloss.PerceptualLoss,
        _photos,
        none_shape=_batch,
        reference=_perceptual_reference,
        options={"extractor": _tiny_extractor, "layers": ("deep", "shallow"),
                 "layer_weights": (0.5, 2.0), "criterion": "mse", "normalize": True,
                 "detach_target": False},
        grad_inputs=(0, 1),
        make_empty=_photos_empty,
        make_extreme=_photos_extreme,
    ),
    LossCase(
        "perceptual_list_layers",
        VF.perceptual_loss,
        visionloss.PerceptualLoss,
        _photos,
        none_shape=_batch,
        reference=_perceptual_reference,
        options={"extractor": _tiny_extractor_list, "layers": (1,)},
        make_empty=_photos_empty,
    ),
]
