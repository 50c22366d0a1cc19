"""Evidence for the guide's cards of issue 19's CLIP loss (and the helper's other additions).

Each test checks one claim of a card in ``src/visionloss/guide/``; it would fail if the claim were
false. Kept apart from tests/test_guide_evidence.py so that parallel additions do not collide.
"""

from __future__ import annotations

import math

import torch

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
