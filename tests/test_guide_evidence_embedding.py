"""Evidence for the guide's cards of the softmax-contrastive embedding losses (issue 19).

Each test checks one claim of a card in ``src/visionloss/guide/embedding.py`` and would fail if
the claim were false. Kept apart from tests/test_guide_evidence.py so that losses added in
parallel do not edit one file.
"""

from __future__ import annotations

import math

import torch

import visionloss.functional as VF


def _views(n: int = 16, d: int = 8, noise: float = 0.1, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return z1, z1 + noise * torch.randn(n, d, generator=gen, dtype=torch.float64)


def test_nt_xent_needs_no_labels_and_falls_as_the_views_align():
    # the same batch: views far apart (noise 3) vs close (noise 0.1); no label anywhere
    far = VF.nt_xent_loss(*_views(noise=3.0))
    near = VF.nt_xent_loss(*_views(noise=0.1))
    assert near < far - 0.5


def test_nt_xent_weighs_hard_negatives_more_at_a_low_temperature():
    # anchor row 0; negatives at cosine 0.9 (hard, row 1) and 0.0 (easy, row 2). The gradient a
    # negative receives is its softmax weight times d cos / d z (sin of the angle: 0.44 vs 1):
    # at a low temperature the hard negative takes (nearly) all of it, at a high one the easy
    # negative gets more
    z1 = torch.tensor([[1.0, 0.0, 0.0], [0.9, math.sqrt(1 - 0.81), 0.0], [0.0, 0.0, 1.0]],
                      dtype=torch.float64)

    def hard_over_easy(temperature: float) -> float:
        a = z1.clone().requires_grad_(True)
        VF.nt_xent_loss(a, z1.clone(), temperature=temperature, reduction="none")[0].backward()
        return float(a.grad[1].norm() / a.grad[2].norm())

    assert hard_over_easy(0.05) > 1e6
    assert hard_over_easy(0.5) > 1.0 > hard_over_easy(5.0)


def test_nt_xent_value_grows_with_the_batch_as_log_2n_minus_1():
    # uninformative embeddings at a high temperature: every logit ~ equal, the loss is
    # log(2N - 1), so values are not comparable across batch sizes
    for n in (4, 64):
        z1, z2 = _views(n=n, d=32, noise=5.0, seed=n)
        loss = VF.nt_xent_loss(z1, z2, temperature=100.0)
        assert abs(float(loss) - math.log(2 * n - 1)) < 0.02


def _same_class_pair():
    # rows 0 and 1 are two different images of one class with close embeddings; row 2 another
    # class. Two views each (identical here).
    x = torch.tensor([[1.0, 0.1], [1.0, -0.1], [-1.0, 0.0]], dtype=torch.float64)
    return x


def _pair_cosine_after_a_step(loss_fn) -> tuple[float, float]:
    x = _same_class_pair().requires_grad_(True)
    loss_fn(x).backward()
    with torch.no_grad():
        moved = x - 0.05 * x.grad
        before = torch.nn.functional.cosine_similarity(x[0], x[1], dim=0)
        after = torch.nn.functional.cosine_similarity(moved[0], moved[1], dim=0)
    return float(before), float(after)


def test_nt_xent_pushes_apart_samples_of_the_same_class():
    before, after = _pair_cosine_after_a_step(
        lambda x: VF.nt_xent_loss(x, x.detach().clone(), temperature=0.5)
    )
    assert after < before


def test_supervised_contrastive_pulls_together_samples_of_the_same_class():
    labels = torch.tensor([0, 0, 1, 0, 0, 1])
    before, after = _pair_cosine_after_a_step(
        lambda x: VF.supervised_contrastive_loss(
            torch.cat([x, x.detach().clone()]), labels, temperature=0.5
        )
    )
    assert after > before
