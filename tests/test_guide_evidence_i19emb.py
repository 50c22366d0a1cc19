"""Evidence for the guide's cards of issue 19's CLIP loss (and the helper's other additions).

Each test checks one claim of a card in ``src/visionloss/guide/``; it would fail if the claim were
false. Kept apart from tests/test_guide_evidence.py so that parallel additions do not collide.
"""

from __future__ import annotations

import math

import pytest
import torch

import visionloss
import visionloss.functional as VF

# --- clip ---------------------------------------------------------------------------------------


def test_clip_falls_as_the_pairs_align_in_both_directions():
    gen = torch.Generator().manual_seed(0)
    image = torch.randn(8, 6, generator=gen)
    noise = torch.randn(8, 6, generator=gen)
    values = []
    for mix in (1.0, 0.5, 0.1, 0.0):  # texts from random to the images themselves
        text = (1 - mix) * image + mix * noise
        values.append(VF.clip_loss(image, text, temperature=0.1, reduction="none"))
    means = [v.mean().item() for v in values]
    assert means == sorted(means, reverse=True)
    # both directions contribute: swapping the modalities leaves every pair's value unchanged,
    # and at perfect alignment the loss is small but each direction still sees the negatives
    torch.testing.assert_close(
        VF.clip_loss(noise, image, reduction="none"),
        VF.clip_loss(image, noise, reduction="none"),
    )
    assert means[-1] < 0.1 * means[0]


def test_clip_value_of_an_uninformative_embedding_is_log_b():
    # every image and text the same vector: all logits equal, each softmax is uniform over B
    for b in (2, 8, 64):
        x = torch.ones(b, 3, dtype=torch.float64)
        torch.testing.assert_close(
            VF.clip_loss(x, x.clone()), torch.tensor(math.log(b), dtype=torch.float64)
        )


def test_clip_treats_a_duplicate_caption_as_a_negative():
    # pairs 0 and 1 share their caption (and their image: the best possible embedding); pair 2 is
    # distinct. At any temperature rows 0 and 1 see two equal logits: their value is >= log 2
    image = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    text = image.clone()
    for temperature in (1.0, 0.1, 0.01):
        loss = VF.clip_loss(image, text, temperature=temperature, reduction="none")
        assert (loss[:2] >= math.log(2) - 1e-12).all()
        assert loss[2] < loss[0]
    torch.testing.assert_close(
        VF.clip_loss(image, text, temperature=0.01, reduction="none")[:2],
        torch.full((2,), math.log(2), dtype=torch.float64),
    )


# --- generator / discriminator: multi-scale outputs ---------------------------------------------


def test_multi_scale_adversarial_counts_every_scale_alike():
    # a 16x16 patch map and a 1x1 map: the mean over scales gives each half the weight, where a
    # mean over all 257 patches would give the coarse scale 1/257 of it
    fine = torch.zeros(1, 1, 16, 16)  # lsgan generator term 0.5 * (0 - 1)^2 = 0.5 per patch
    coarse = torch.full((1, 1, 1, 1), 3.0)  # 0.5 * (3 - 1)^2 = 2
    got = VF.generator_loss([fine, coarse], kind="lsgan")
    torch.testing.assert_close(got, torch.tensor((0.5 + 2.0) / 2))
    pooled = VF.generator_loss(torch.cat([fine.flatten(), coarse.flatten()]), kind="lsgan")
    assert abs(pooled.item() - (256 * 0.5 + 2.0) / 257) < 1e-6 and pooled < got
    # the discriminator alike: the mean over scales of (mean real term + mean fake term)
    d = VF.discriminator_loss([fine, coarse], [fine, coarse], kind="lsgan")
    expected = ((0.5 + 0.0) + (2.0 + 4.5)) / 2
    torch.testing.assert_close(d, torch.tensor(expected))


# --- perceptual -----------------------------------------------------------------------------------


def _pooled(x):
    # an extractor that pools 4x4 blocks: a crude "what the network sees" of texture
    return [torch.nn.functional.avg_pool2d(x, 4)]


def test_perceptual_forgives_a_shift_that_pixel_l1_charges_in_full():
    # a vertical-stripe texture (period 2) and the same shifted by one pixel: every pixel differs
    # by 1 (pixel L1 = 1, as much as a completely wrong image), the 4x4 averages not at all
    stripes = (torch.arange(16) % 2).float().expand(1, 1, 16, 16)
    shifted = stripes.roll(1, dims=-1)
    pixel = VF.mae_loss(stripes, shifted)
    perceptual = VF.perceptual_loss(stripes, shifted, extractor=_pooled)
    assert pixel.item() == 1.0
    assert perceptual.item() == 0.0
    # while a real change of content (a flat image) is still charged
    assert VF.perceptual_loss(stripes, torch.zeros_like(stripes), extractor=_pooled) > 0.4


def test_perceptual_module_trains_the_images_not_the_extractor():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.Dropout(0.5), torch.nn.Tanh())
    loss = visionloss.PerceptualLoss(net)
    x = torch.rand(2, 1, 8, 8, requires_grad=True)
    y = torch.rand(2, 1, 8, 8)
    loss.train()  # as inside a model in training: dropout must stay off in the extractor
    first, second = loss(x, y), loss(x, y)
    assert first.item() == second.item()  # eval mode: deterministic features
    first.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in net.parameters())


def test_perceptual_runs_the_extractor_on_both_images():
    calls = []

    def extractor(t):
        calls.append(t.shape)
        return t

    VF.perceptual_loss(torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4), extractor=extractor)
    assert len(calls) == 2


def test_perceptual_is_blind_to_what_the_extractor_ignores():
    # a horizontal difference filter (weights sum to 0) does not see a constant offset
    kernel = torch.tensor([[[[1.0, -1.0]]]])

    def edges(t):
        return torch.nn.functional.conv2d(t, kernel)

    x = torch.rand(1, 1, 6, 6)
    assert VF.perceptual_loss(x, x + 0.5, extractor=edges).item() < 1e-6
    assert VF.mae_loss(x, x + 0.5).item() == pytest.approx(0.5)
