"""Generative family: GAN objectives, penalties, likelihoods, SSIM, KL and the VAE loss.

The generic sweep (test_contract.py, rows in catalogue/generative.py) covers the float64 formula
references, reductions, weights, gradcheck, precision, empty and extreme inputs and compile of the
losses that take (input, target)-style arguments. Here: the discriminator loss (its "none" is a
pair), the penalties (they take a critic), hand-derived values, torch cross-checks, a Monte-Carlo
check of the Gaussian KL, properties and bad inputs. Peer cross-checks (pytorch-msssim, kornia)
are in tests/peers/test_generative_peers.py.
"""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import visionloss
import visionloss.functional as VF
from catalogue.generative import ms_ssim_reference, ssim_reference

KINDS = ["non_saturating", "minimax", "lsgan", "hinge", "wasserstein"]


def _discriminator_reference(r, f, kind):
    # float64, from the sigmoid: -log D(x) - log(1 - D(G(z))) and the others as in DESIGN.md
    if kind in ("non_saturating", "minimax"):
        return -torch.log(torch.sigmoid(r)), -torch.log(1 - torch.sigmoid(f))
    if kind == "lsgan":
        return 0.5 * (r - 1) ** 2, 0.5 * f**2
    if kind == "hinge":
        return torch.clamp(1 - r, min=0), torch.clamp(1 + f, min=0)
    return -r, f


# --- adversarial ---------------------------------------------------------------------------------------


class TestDiscriminatorLoss:
    @pytest.mark.parametrize("kind", KINDS)
    def test_matches_float64_reference_with_different_batch_sizes(self, kind, gen):
        r = torch.rand(5, 1, generator=gen, dtype=torch.float64) * 12 - 6
        f = torch.rand(3, 1, generator=gen, dtype=torch.float64) * 12 - 6
        a, b = _discriminator_reference(r, f, kind)
        real_terms, fake_terms = VF.discriminator_loss(r, f, kind=kind, reduction="none")
        torch.testing.assert_close(real_terms, a)
        torch.testing.assert_close(fake_terms, b)
        # "mean" is the sum of two means over batches of 5 and 3, not the mean of 8 terms
        torch.testing.assert_close(VF.discriminator_loss(r, f, kind=kind), a.mean() + b.mean())
        torch.testing.assert_close(
            VF.discriminator_loss(r, f, kind=kind, reduction="sum"), a.sum() + b.sum()
        )

    def test_hand_values(self):
        r, f = torch.tensor([0.0]), torch.tensor([0.0])
        # at logits 0, D = 1/2: BCE log 2 on each side; lsgan 0.5*1 + 0; hinge 1 + 1; wgan 0
        expected = {
            "non_saturating": 2 * math.log(2),
            "minimax": 2 * math.log(2),
            "lsgan": 0.5,
            "hinge": 2.0,
            "wasserstein": 0.0,
        }
        for kind, value in expected.items():
            torch.testing.assert_close(
                VF.discriminator_loss(r, f, kind=kind), torch.tensor(value), msg=kind
            )

    def test_non_saturating_is_bce_of_real_against_fake(self, gen):
        r, f = torch.randn(6, generator=gen) * 5, torch.randn(4, generator=gen) * 5
        expected = F.binary_cross_entropy_with_logits(
            r, torch.ones(6)
        ) + F.binary_cross_entropy_with_logits(f, torch.zeros(4))
        torch.testing.assert_close(VF.discriminator_loss(r, f), expected)

    @pytest.mark.parametrize("kind", KINDS)
    def test_gradcheck(self, kind, gen):
        # hinge's kinks at +-1 are avoided by the random draw (measure zero)
        r = torch.randn(4, generator=gen, dtype=torch.float64, requires_grad=True)
        f = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b: VF.discriminator_loss(a, b, kind=kind), (r, f))

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
    @pytest.mark.parametrize("kind", KINDS)
    def test_saturated_logits_are_finite(self, kind, dtype):
        big = 65504.0 if dtype == torch.float16 else 1e4
        r = torch.tensor([-big, big, 0.0], dtype=dtype, requires_grad=True)
        f = torch.tensor([big, -big], dtype=dtype, requires_grad=True)
        loss = VF.discriminator_loss(r, f, kind=kind)
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        loss.backward()
        assert torch.isfinite(r.grad).all() and torch.isfinite(f.grad).all()
        gen_loss = VF.generator_loss(f, kind=kind)
        (grad,) = torch.autograd.grad(gen_loss, f)
        assert torch.isfinite(gen_loss) and torch.isfinite(grad).all()

    def test_low_precision_equals_float32_on_the_rounded_values(self, gen):
        r, f = torch.randn(8, generator=gen) * 4, torch.randn(8, generator=gen) * 4
        for dtype in (torch.float16, torch.bfloat16):
            rl, fl = r.to(dtype), f.to(dtype)
            got = VF.discriminator_loss(rl, fl)
            assert got.dtype == torch.float32
            torch.testing.assert_close(got, VF.discriminator_loss(rl.float(), fl.float()))

    def test_compile_fullgraph(self, gen):
        torch._dynamo.reset()
        r, f = torch.randn(8, generator=gen), torch.randn(5, generator=gen)
        for kind in ("non_saturating", "hinge"):
            compiled = torch.compile(
                lambda a, b, kind=kind: VF.discriminator_loss(a, b, kind=kind),
                fullgraph=True,
                backend="aot_eager",
            )
            torch.testing.assert_close(compiled(r, f), VF.discriminator_loss(r, f, kind=kind))


class TestGeneratorLoss:
    def test_minimax_saturates_and_non_saturating_does_not(self):
        # the discriminator confidently rejects the fake: f = -20, D(G(z)) = 2e-9
        f = torch.tensor([-20.0], dtype=torch.float64, requires_grad=True)
        (minimax,) = torch.autograd.grad(VF.generator_loss(f, kind="minimax"), f)
        (non_sat,) = torch.autograd.grad(VF.generator_loss(f, kind="non_saturating"), f)
        # d/df log(1 - sigmoid(f)) = -sigmoid(f); d/df softplus(-f) = -(1 - sigmoid(f))
        torch.testing.assert_close(minimax, -torch.sigmoid(f.detach()))
        assert abs(minimax.item()) < 1e-8
        torch.testing.assert_close(non_sat, torch.sigmoid(f.detach()) - 1)
        assert non_sat.item() < -0.999

    @given(st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=8))
    def test_minimax_is_minus_the_discriminators_fake_term(self, values):
        f = torch.tensor(values, dtype=torch.float64)
        _, fake_terms = VF.discriminator_loss(f, f, kind="minimax", reduction="none")
        torch.testing.assert_close(
            VF.generator_loss(f, kind="minimax", reduction="none"), -fake_terms
        )
        # non-saturating: -log D(G(z)) >= 0; the D losses of the bounded kinds are >= 0
        assert (VF.generator_loss(f, reduction="none") >= 0).all()
        for kind in ("non_saturating", "lsgan", "hinge"):
            assert VF.discriminator_loss(f, f, kind=kind) >= 0

    def test_bad_kind_and_types(self):
        with pytest.raises(
            ValueError,
            match="kind: expected one of 'non_saturating', 'minimax', 'lsgan', 'hinge', "
            "'wasserstein', got 'wgan'",
        ):
            VF.generator_loss(torch.zeros(2), kind="wgan")
        with pytest.raises(ValueError, match="kind: expected one of"):
            visionloss.AdversarialLoss(kind="vanilla")
        with pytest.raises(
            TypeError, match="fake_logits: expected a floating-point tensor, got dtype torch.int64"
        ):
            VF.discriminator_loss(torch.zeros(2), torch.zeros(2, dtype=torch.long))
        # a list is read as per-scale outputs (multi-scale discriminators): its items must be
        # tensors
        with pytest.raises(TypeError, match=r"real_logits\[0\]: expected a tensor"):
            VF.discriminator_loss([0.0], torch.zeros(2))
        with pytest.raises(ValueError, match="reduction: expected one of"):
            VF.discriminator_loss(torch.zeros(2), torch.zeros(2), reduction="batchmean")


class TestAdversarialModule:
    def test_forward_and_methods(self, gen):
        r, f = torch.randn(4, generator=gen), torch.randn(3, generator=gen)
        loss = visionloss.AdversarialLoss(kind="hinge")
        torch.testing.assert_close(loss(f), VF.generator_loss(f, kind="hinge"))
        torch.testing.assert_close(loss.generator(f), loss(f))
        torch.testing.assert_close(loss(r, f), VF.discriminator_loss(r, f, kind="hinge"))
        torch.testing.assert_close(loss.discriminator(r, f), loss(r, f))
        w = torch.tensor([1.0, 0.0, 2.0])
        torch.testing.assert_close(
            loss.generator(f, weight=w), VF.generator_loss(f, kind="hinge", weight=w)
        )
        # "none" has no single tensor for the discriminator (two batches of different sizes):
        # the Module's methods return a Tensor, and discriminator_parts gives the pair
        unreduced = visionloss.AdversarialLoss(reduction="none")
        none = unreduced.discriminator_parts(r, f)
        assert isinstance(none, tuple) and none[0].shape == (4,) and none[1].shape == (3,)
        for got, expected in zip(none, VF.discriminator_loss(r, f, reduction="none"), strict=True):
            torch.testing.assert_close(got, expected)
        torch.testing.assert_close(unreduced.generator(f), VF.generator_loss(f, reduction="none"))
        with pytest.raises(ValueError, match="reduction: expected 'mean' or 'sum' .* got 'none'"):
            unreduced(r, f)
        assert "kind='hinge'" in repr(loss)
        with pytest.raises(TypeError, match="logits: expected .* got 3 tensors"):
            loss(r, f, f)


# --- penalties ---------------------------------------------------------------------------------------


def _linear_critic(features, dtype=torch.float64):
    critic = torch.nn.Linear(features, 1, dtype=dtype)
    with torch.no_grad():
        critic.weight.copy_(torch.arange(1, features + 1, dtype=dtype) / features)
    return critic


class TestGradientPenalty:
    def test_linear_critic_has_gradient_norm_w_everywhere(self, gen):
        critic = _linear_critic(6)
        real = torch.randn(5, 6, generator=gen, dtype=torch.float64)
        fake = torch.randn(5, 6, generator=gen, dtype=torch.float64)
        w = critic.weight.detach().flatten()
        norm = torch.linalg.vector_norm(w)
        loss = VF.gradient_penalty(critic, real, fake, weight=3.0)
        # the gradient of w.x + b is w at every interpolate: 3 (|w| - 1)^2 whatever eps is
        torch.testing.assert_close(loss, 3.0 * (norm - 1) ** 2)
        loss.backward()
        # d/dw of 3 (|w| - 1)^2 = 6 (|w| - 1) w / |w|; the bias does not enter the gradient
        torch.testing.assert_close(critic.weight.grad.flatten(), 6 * (norm - 1) * w / norm)
        assert critic.bias.grad is None or critic.bias.grad.abs().max() == 0

    def test_quadratic_critic_on_given_interpolates(self, gen):
        # critic(x) = 0.5 |x|^2 per sample has gradient x: the penalty is (|x_hat| - 1)^2
        real = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64)
        fake = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64)
        eps = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64)
        x_hat = eps.view(4, 1, 1) * real + (1 - eps.view(4, 1, 1)) * fake
        expected = 10.0 * (x_hat.flatten(1).norm(dim=1) - 1) ** 2

        def critic(x):
            return 0.5 * (x**2).flatten(1).sum(1)

        got = VF.gradient_penalty(critic, real, fake, interpolation=eps, reduction="none")
        torch.testing.assert_close(got, expected)
        torch.testing.assert_close(
            VF.gradient_penalty(critic, real, fake, interpolation=eps), expected.mean()
        )

    def test_generator_makes_it_reproducible(self, gen):
        real = torch.randn(8, 3, generator=gen, dtype=torch.float64)
        fake = torch.randn(8, 3, generator=gen, dtype=torch.float64)

        def critic(x):
            return (x**3).sum(1)

        def run(seed):
            g = torch.Generator().manual_seed(seed)
            return VF.gradient_penalty(critic, real, fake, generator=g, reduction="none")

        torch.testing.assert_close(run(0), run(0))
        assert not torch.allclose(run(0), run(1))
        # the drawn eps is torch.rand(N) from that generator
        eps = torch.rand(8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        torch.testing.assert_close(
            run(0), VF.gradient_penalty(critic, real, fake, interpolation=eps, reduction="none")
        )

    def test_second_order_gradient_into_critic_parameters(self, gen):
        # a small nonlinear critic: gradcheck of the penalty in its parameters checks the
        # double backward (create_graph=True) end to end
        real = torch.randn(3, 4, generator=gen, dtype=torch.float64)
        fake = torch.randn(3, 4, generator=gen, dtype=torch.float64)
        eps = torch.rand(3, generator=gen, dtype=torch.float64)
        W = torch.randn(4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
        v = torch.randn(5, generator=gen, dtype=torch.float64, requires_grad=True)

        def penalty(W, v):
            return VF.gradient_penalty(
                lambda x: torch.tanh(x @ W) @ v, real, fake, interpolation=eps
            )

        assert torch.autograd.gradcheck(penalty, (W, v))

    def test_trains_an_mlp_critic_only(self, gen):
        critic = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        real = torch.randn(6, 4, generator=gen, requires_grad=True)
        fake = torch.randn(6, 4, generator=gen, requires_grad=True)
        VF.gradient_penalty(critic, real, fake).backward()
        for name, p in critic.named_parameters():
            if name != "2.bias":  # the last bias does not change the input gradient
                assert p.grad is not None and p.grad.abs().sum() > 0, name
        assert real.grad is None and fake.grad is None  # real and fake are detached

    def test_half_precision_critic_gives_float32(self, gen):
        critic = _linear_critic(3, dtype=torch.bfloat16)
        real, fake = torch.randn(2, 3, generator=gen), torch.randn(2, 3, generator=gen)
        loss = VF.gradient_penalty(critic, real.bfloat16(), fake.bfloat16())
        assert loss.dtype == torch.float32
        w = critic.weight.detach().float()
        torch.testing.assert_close(loss, 10 * (w.norm() - 1) ** 2, rtol=1e-2, atol=1e-3)

    def test_works_under_no_grad_and_with_empty_batch(self):
        critic = _linear_critic(2)
        with torch.no_grad():
            loss = VF.gradient_penalty(
                critic,
                torch.ones(2, 2, dtype=torch.float64),
                torch.zeros(2, 2, dtype=torch.float64),
            )
        torch.testing.assert_close(loss, 10 * (critic.weight.detach().norm() - 1) ** 2)
        empty = torch.zeros(0, 2, dtype=torch.float64)
        assert VF.gradient_penalty(critic, empty, empty).item() == 0.0

    def test_module(self, gen):
        critic = _linear_critic(3)
        real = torch.randn(2, 3, generator=gen, dtype=torch.float64)
        fake = torch.randn(2, 3, generator=gen, dtype=torch.float64)
        module = visionloss.GradientPenalty(weight=2.0)
        torch.testing.assert_close(
            module(critic, real, fake), VF.gradient_penalty(critic, real, fake, weight=2.0)
        )
        assert "weight=2.0" in repr(module)

    def test_bad_inputs(self):
        critic = _linear_critic(2)
        x = torch.zeros(3, 2, dtype=torch.float64)
        with pytest.raises(
            TypeError, match=r"critic: expected a callable \(the critic network\), got 'critic'"
        ):
            VF.gradient_penalty("critic", x, x)
        with pytest.raises(
            ValueError, match=r"fake: expected the same shape as real \(3, 2\), got \(3, 1\)"
        ):
            VF.gradient_penalty(critic, x, torch.zeros(3, 1))
        with pytest.raises(ValueError, match=r"weight: expected a value in \[0.0, inf\], got -1.0"):
            VF.gradient_penalty(critic, x, x, weight=-1.0)
        with pytest.raises(
            ValueError,
            match=r"interpolation: expected shape \(3,\) \(one value per sample\), got \(3, 1\)",
        ):
            VF.gradient_penalty(critic, x, x, interpolation=torch.zeros(3, 1))
        with pytest.raises(ValueError, match="interpolation: expected probabilities in"):
            VF.gradient_penalty(critic, x, x, interpolation=torch.tensor([0.0, 0.5, 2.0]))
        with pytest.raises(
            ValueError, match="generator: expected None when interpolation is given"
        ):
            VF.gradient_penalty(
                critic, x, x, interpolation=torch.zeros(3), generator=torch.Generator()
            )


class TestR1Penalty:
    def test_linear_discriminator(self, gen):
        x = torch.randn(4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
        critic = _linear_critic(5)
        loss = VF.r1_penalty(critic(x), x, gamma=4.0)
        w = critic.weight.detach().flatten()
        # gradient w for every sample: gamma / 2 |w|^2
        torch.testing.assert_close(loss, 2.0 * (w**2).sum())
        loss.backward()
        torch.testing.assert_close(critic.weight.grad.flatten(), 4.0 * w)

    def test_cubic_discriminator_per_sample(self, gen):
        # D(x) = sum x^3 / 3 has gradient x^2: |grad|^2 = sum x^4
        x = torch.randn(3, 2, 2, generator=gen, dtype=torch.float64, requires_grad=True)
        logits = (x**3).flatten(1).sum(1) / 3
        got = VF.r1_penalty(logits, x, reduction="none")
        torch.testing.assert_close(got, 5.0 * (x.detach() ** 4).flatten(1).sum(1))

    def test_second_order_gradient_into_parameters(self, gen):
        x = torch.randn(3, 4, generator=gen, dtype=torch.float64)
        W = torch.randn(4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
        v = torch.randn(5, generator=gen, dtype=torch.float64, requires_grad=True)

        def penalty(W, v):
            inputs = x.clone().requires_grad_(True)
            return VF.r1_penalty(torch.tanh(inputs @ W) @ v, inputs)

        assert torch.autograd.gradcheck(penalty, (W, v))

    def test_module_and_low_precision(self, gen):
        x = torch.randn(2, 3, generator=gen).bfloat16().requires_grad_(True)
        critic = _linear_critic(3, dtype=torch.bfloat16)
        loss = visionloss.R1Penalty(gamma=2.0)(critic(x), x)
        assert loss.dtype == torch.float32
        torch.testing.assert_close(loss, (critic.weight.detach().float() ** 2).sum())

    def test_bad_inputs(self):
        x = torch.randn(3, 2)
        with pytest.raises(ValueError, match="real_inputs: expected a tensor that requires grad"):
            VF.r1_penalty(x.sum(1), x)
        x.requires_grad_(True)
        y = torch.randn(3, requires_grad=True)
        with pytest.raises(
            ValueError, match="real_logits: expected .* does not depend on real_inputs"
        ):
            VF.r1_penalty(y * 2, x)
        with pytest.raises(ValueError, match="real_logits: expected .* does not require grad"):
            VF.r1_penalty(x.sum(1).detach(), x)
        with pytest.raises(ValueError, match=r"gamma: expected a value in \[0.0, inf\], got -2.0"):
            VF.r1_penalty(x.sum(1), x, gamma=-2.0)


# --- Gaussian likelihood ------------------------------------------------------------------------------


class TestGaussianNLL:
    @pytest.mark.parametrize("full", [True, False])
    @pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
    def test_equals_torch(self, full, reduction, gen):
        mean = torch.randn(4, 3, generator=gen, dtype=torch.float64)
        target = torch.randn(4, 3, generator=gen, dtype=torch.float64)
        logvar = torch.rand(4, 3, generator=gen, dtype=torch.float64) * 6 - 3
        # torch clamps var at eps=1e-6; the variances here are above e^-3
        expected = F.gaussian_nll_loss(
            mean, target, logvar.exp(), full=full, eps=1e-12, reduction=reduction
        )
        got = VF.gaussian_nll_loss(mean, target, logvar, full=full, reduction=reduction)
        torch.testing.assert_close(got, expected)

    def test_fixed_variance_is_mse(self, gen):
        mean, target = torch.randn(10, generator=gen), torch.randn(10, generator=gen)
        # logvar = log s^2 fixed: the NLL is mse / (2 s^2) + log(s) + log(2 pi) / 2
        s2 = 0.3
        got = VF.gaussian_nll_loss(mean, target, torch.full((10,), math.log(s2)))
        expected = (
            F.mse_loss(mean, target) / (2 * s2) + 0.5 * math.log(s2) + 0.5 * math.log(2 * math.pi)
        )
        torch.testing.assert_close(got, expected)
        torch.testing.assert_close(
            VF.gaussian_nll_loss(mean, target, torch.zeros(()), full=False),
            F.mse_loss(mean, target) / 2,
        )

    def test_optimal_logvar_is_log_squared_residual(self):
        # d/dv [v + d^2 e^-v] / 2 = (1 - d^2 e^-v) / 2 = 0 at v = log d^2
        d = torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64)
        v = torch.log(d**2).requires_grad_(True)
        VF.gaussian_nll_loss(d, torch.zeros(3, dtype=torch.float64), v, reduction="sum").backward()
        torch.testing.assert_close(v.grad, torch.zeros(3, dtype=torch.float64))

    def test_zero_residual_with_saturated_logvar_is_finite(self):
        v = torch.tensor([-1e4, -1e3, -100.0, 1e4], requires_grad=True)
        mean = torch.zeros(4, requires_grad=True)
        loss = VF.gaussian_nll_loss(mean, torch.zeros(4), v, reduction="none", full=False)
        torch.testing.assert_close(loss, 0.5 * v.detach())  # 0 * e^{-v} = 0, not NaN
        loss.sum().backward()
        assert torch.isfinite(v.grad).all() and torch.isfinite(mean.grad).all()

    def test_bad_inputs(self):
        x = torch.zeros(2, 3)
        with pytest.raises(
            ValueError,
            match=r"logvar: expected a shape broadcastable to mean \(2, 3\), got \(2, 4\)",
        ):
            VF.gaussian_nll_loss(x, x, torch.zeros(2, 4))
        with pytest.raises(ValueError, match=r"target: expected the same shape as input \(2, 3\)"):
            VF.gaussian_nll_loss(x, torch.zeros(3), x)
        with pytest.raises(TypeError, match="full: expected a bool, got 1"):
            VF.gaussian_nll_loss(x, x, x, full=1)
        with pytest.raises(TypeError, match="logvar: expected a floating-point tensor"):
            VF.gaussian_nll_loss(x, x, torch.zeros(2, 3, dtype=torch.long))


# --- SSIM ---------------------------------------------------------------------------------------------


class TestSSIM:
    def test_identical_images_give_zero_and_flat_images_are_finite(self, gen):
        x = torch.rand(2, 3, 16, 16, generator=gen)
        torch.testing.assert_close(VF.ssim_loss(x, x, reduction="none"), torch.zeros(2))
        torch.testing.assert_close(
            VF.ms_ssim_loss(x, x, window_size=3, scale_weights=[1, 1, 1]), torch.tensor(0.0)
        )
        # two black images: both ratios are C/C = 1 (C1, C2 > 0), SSIM = 1
        black = torch.zeros(1, 1, 11, 11)
        assert VF.ssim_loss(black, black).item() == 0.0
        # a flat image against a textured one: finite, between 0 and 2
        loss = VF.ssim_loss(torch.full((1, 1, 12, 12), 0.5), x[:1, :1, :12, :12])
        assert 0 < loss.item() < 2

    @pytest.mark.parametrize("shape", [(2, 3, 23, 20), (2, 2, 9, 12, 10)])
    @pytest.mark.parametrize("name", ["ssim_loss", "ms_ssim_loss"])
    def test_fused_path_equals_the_reference_with_grad_out(self, gen, name, shape):
        # the fused Function (kernels/ssim.py) against the plain composition differentiated by
        # autograd: same values, and the same gradients for both images under grad_out != 1
        from visionloss.kernels import set_kernels

        x = torch.rand(shape, generator=gen)
        y = (x + 0.3 * torch.rand(shape, generator=gen)).clamp(0, 1)
        weight = torch.tensor([0.5, 2.0])
        options = {"window_size": 3, "reduction": "none"}
        if name == "ms_ssim_loss":
            options["scale_weights"] = [0.3, 0.7]
        results = []
        try:
            for backend in ("fused", "reference"):
                set_kernels(backend)
                a, b = x.clone().requires_grad_(), y.clone().requires_grad_()
                loss = getattr(VF, name)(a, b, **options)
                (loss * weight).sum().backward()
                results.append((loss.detach(), a.grad, b.grad))
        finally:
            set_kernels("auto")
        for got, expected in zip(*results, strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)

    def test_fused_ssim_cs_gradcheck_and_gradgradcheck_float64(self, gen):
        # the analytic backward of both outputs (SSIM and CS, as MS-SSIM uses them), on a
        # non-symmetric window, and a flat image where the variance clamp is active
        from visionloss.kernels.ssim import _SSIMCS

        window = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
        weights = torch.tensor([[1.3, -0.7]], dtype=torch.float64)

        def both(a, b):
            s, c, _ = _SSIMCS.apply(a, b, window, 1e-4, 9e-4)
            return s * 1.5 + c * weights

        def ssim_only(a, b):
            return _SSIMCS.apply(a, b, window, 1e-4, 9e-4)[0]

        x = torch.rand(1, 2, 6, 7, generator=gen, dtype=torch.float64, requires_grad=True)
        y = torch.rand(1, 2, 6, 7, generator=gen, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(both, (x, y))
        assert torch.autograd.gradcheck(ssim_only, (x, y))
        assert torch.autograd.gradgradcheck(both, (x, y))
        flat = torch.full((1, 2, 6, 7), 0.5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(ssim_only, (flat, y))
        volume = torch.rand(1, 1, 4, 5, 5, generator=gen, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(both, (volume, torch.rand_like(volume)))

    def test_fused_path_keeps_at_most_the_five_blurred_maps(self, gen):
        # DESIGN section 5: the fused SSIM keeps the blurred (x, y, x², y², xy) and the inputs;
        # pytorch-msssim keeps about 2.7 times that, the plain composition about 4.7 times
        from visionloss._core.memory import saved_bytes
        from visionloss.kernels import set_kernels

        x = torch.rand(2, 3, 40, 40, generator=gen, requires_grad=True)
        y = torch.rand(2, 3, 40, 40, generator=gen)
        five_maps = 5 * 2 * 3 * 30 * 30 * 4
        set_kernels("fused")
        try:
            # and the 11 float32 taps of the window
            assert saved_bytes(lambda: VF.ssim_loss(x, y), [x, y]) == five_maps + 11 * 4
        finally:
            set_kernels("auto")

    def test_gradcheck_16x16_window_7(self, gen):
        x = torch.rand(1, 1, 16, 16, generator=gen, dtype=torch.float64, requires_grad=True)
        y = x.detach() + 0.1 * torch.randn(1, 1, 16, 16, generator=gen, dtype=torch.float64)
        assert torch.autograd.gradcheck(lambda a: VF.ssim_loss(a, y, window_size=7), (x,))

    def test_ms_ssim_default_weights_reference_and_fast_gradcheck(self, gen):
        # the five standard scales need (3 - 1) * 2**4 + 1 = 33 pixels with window_size=3
        x = torch.rand(1, 2, 33, 35, generator=gen, dtype=torch.float64, requires_grad=True)
        y = x.detach() + 0.2 * torch.randn(1, 2, 33, 35, generator=gen, dtype=torch.float64)
        got = VF.ms_ssim_loss(x, y, window_size=3, reduction="none")
        torch.testing.assert_close(got, ms_ssim_reference(x.detach(), y, window_size=3))
        assert torch.autograd.gradcheck(
            lambda a: VF.ms_ssim_loss(a, y, window_size=3), (x,), fast_mode=True
        )

    def test_ms_ssim_clamps_negative_terms_without_nan(self, gen):
        x = torch.rand(2, 1, 12, 12, generator=gen, requires_grad=True)
        # anti-correlated: CS < 0 at every scale; the relu clamps it and MS-SSIM is 0 (loss 1)
        loss = VF.ms_ssim_loss(
            x, 1 - x.detach(), window_size=3, scale_weights=[0.5, 0.5], reduction="none"
        )
        torch.testing.assert_close(loss, torch.ones(2))
        loss.sum().backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().max() == 0
        # without the clamp a negative CS to a fractional power is NaN
        assert torch.isnan(torch.tensor(-0.1) ** 0.5)

    def test_single_scale_ms_ssim_is_ssim(self, gen):
        x = torch.rand(2, 2, 10, 11, generator=gen, dtype=torch.float64)
        y = x + 0.1 * torch.randn(2, 2, 10, 11, generator=gen, dtype=torch.float64)
        torch.testing.assert_close(
            VF.ms_ssim_loss(x, y, window_size=5, scale_weights=[1.0], reduction="none"),
            VF.ssim_loss(x, y, window_size=5, reduction="none"),
        )
        torch.testing.assert_close(
            VF.ssim_loss(x, y, window_size=5, reduction="none"),
            ssim_reference(x, y, window_size=5),
        )

    def test_data_range_scales_with_the_images(self, gen):
        x = torch.rand(1, 1, 12, 12, generator=gen, dtype=torch.float64)
        y = torch.rand(1, 1, 12, 12, generator=gen, dtype=torch.float64)
        torch.testing.assert_close(
            VF.ssim_loss(255 * x, 255 * y, data_range=255.0), VF.ssim_loss(x, y)
        )

    @given(st.integers(0, 2**31 - 1))
    def test_symmetric_and_in_range(self, seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.rand(1, 1, 9, 9, generator=g, dtype=torch.float64)
        y = torch.rand(1, 1, 9, 9, generator=g, dtype=torch.float64)
        a = VF.ssim_loss(x, y, window_size=3)
        torch.testing.assert_close(a, VF.ssim_loss(y, x, window_size=3))
        assert 0 <= a <= 2
        b = VF.ms_ssim_loss(x, y, window_size=3, scale_weights=[0.5, 0.5])
        assert 0 <= b <= 1 + 1e-12

    def test_module_with_tensor_weights_keeps_a_buffer(self):
        weights = torch.tensor([0.25, 0.75])
        module = visionloss.MSSSIMLoss(window_size=3, scale_weights=weights)
        assert set(dict(module.named_buffers())) == {"scale_weights"}
        x, y = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
        torch.testing.assert_close(
            module(x, y), VF.ms_ssim_loss(x, y, window_size=3, scale_weights=[0.25, 0.75])
        )
        assert "window_size=3" in repr(visionloss.SSIMLoss(window_size=3))

    def test_bad_inputs(self):
        small = torch.zeros(1, 1, 8, 12)
        with pytest.raises(
            ValueError,
            match=r"input: expected spatial sizes of at least window_size=11, got spatial shape \(8, 12\)",
        ):
            VF.ssim_loss(small, small)
        with pytest.raises(
            ValueError,
            match=r"input: expected spatial sizes of at least 161 \(\(window_size - 1\) \* 2\*\*4 \+ 1 "
            r"for window_size=11 and 5 scales\), got spatial shape \(64, 200\)",
        ):
            VF.ms_ssim_loss(torch.zeros(1, 1, 64, 200), torch.zeros(1, 1, 64, 200))
        with pytest.raises(ValueError, match=r"input: expected a 4-D \(N, C, H, W\) image or 5-D"):
            VF.ssim_loss(torch.zeros(1, 16, 16), torch.zeros(1, 16, 16))
        with pytest.raises(ValueError, match="window_size: expected an odd positive int, got 8"):
            VF.ssim_loss(small, small, window_size=8)
        with pytest.raises(TypeError, match="window_size: expected an odd positive int, got 7.0"):
            visionloss.SSIMLoss(window_size=7.0)
        with pytest.raises(
            ValueError, match=r"data_range: expected a value in \(0.0, inf\], got 0.0"
        ):
            VF.ssim_loss(small, small, data_range=0)
        with pytest.raises(ValueError, match=r"sigma: expected a value in \(0.0, inf\], got -1.0"):
            VF.ssim_loss(small, small, window_size=3, sigma=-1.0)
        # a list of scale weights becomes a tensor first: the tensor checks name the option
        with pytest.raises(
            ValueError, match=r"scale_weights: expected non-negative values, got a minimum of -0.5"
        ):
            VF.ms_ssim_loss(small, small, window_size=3, scale_weights=[0.5, -0.5])
        with pytest.raises(
            ValueError, match=r"scale_weights: expected a non-empty 1-D tensor .* got shape \(0,\)"
        ):
            VF.ms_ssim_loss(small, small, window_size=3, scale_weights=[])
        with pytest.raises(ValueError, match=r"scale_weights: expected a non-empty 1-D tensor"):
            visionloss.MSSSIMLoss(scale_weights=torch.ones(2, 2))
        with pytest.raises(ValueError, match=r"target: expected the same shape as input"):
            VF.ssim_loss(small, torch.zeros(1, 1, 8, 11), window_size=3)


# --- KL divergences ----------------------------------------------------------------------------------


class TestKLDivergence:
    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    def test_equals_torch_kl_div(self, reduction, gen):
        p = torch.randn(5, 7, generator=gen, dtype=torch.float64) * 3
        q = torch.randn(5, 7, generator=gen, dtype=torch.float64) * 3
        log_p, log_q = F.log_softmax(p, 1), F.log_softmax(q, 1)
        torch_reduction = {"mean": "batchmean", "sum": "sum", "none": "none"}[reduction]
        expected = F.kl_div(log_q, log_p, log_target=True, reduction=torch_reduction)
        if reduction == "none":
            expected = expected.sum(1)  # torch's "none" is elementwise
        torch.testing.assert_close(VF.kl_divergence(p, q, reduction=reduction), expected)

    def test_mean_divides_by_distributions_not_elements(self, gen):
        p = torch.randn(2, 4, 3, 5, generator=gen, dtype=torch.float64)
        q = torch.randn(2, 4, 3, 5, generator=gen, dtype=torch.float64)
        total = F.kl_div(F.log_softmax(q, 1), F.log_softmax(p, 1), log_target=True, reduction="sum")
        torch.testing.assert_close(VF.kl_divergence(p, q), total / (2 * 3 * 5))
        assert VF.kl_divergence(p, q, reduction="none").shape == (2, 3, 5)
        # the category dim can be anywhere
        torch.testing.assert_close(
            VF.kl_divergence(p.movedim(1, -1), q.movedim(1, -1), dim=-1, reduction="none"),
            VF.kl_divergence(p, q, reduction="none"),
        )

    def test_probabilities_with_zeros(self):
        p = torch.tensor(
            [[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True
        )
        q = torch.tensor(
            [[0.25, 0.25, 0.5], [0.5, 0.0, 0.5]], dtype=torch.float64, requires_grad=True
        )
        got = VF.kl_divergence(p, q, from_logits=False, reduction="none")
        # 0 log 0 = 0 and 0 log(0 / 0) = 0: row 1: log 2; row 2: 1 * log(1 / 0.5) = log 2
        torch.testing.assert_close(
            got, torch.tensor([math.log(2), math.log(2)], dtype=torch.float64)
        )
        got.sum().backward()
        assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()
        # a zero of Q under mass of P: the divergence is infinite
        inf = VF.kl_divergence(
            torch.tensor([[0.5, 0.5]]), torch.tensor([[1.0, 0.0]]), from_logits=False
        )
        assert inf.item() == math.inf

    def test_logits_and_probabilities_agree(self, gen):
        p = torch.randn(3, 4, generator=gen, dtype=torch.float64)
        q = torch.randn(3, 4, generator=gen, dtype=torch.float64)
        torch.testing.assert_close(
            VF.kl_divergence(p, q),
            VF.kl_divergence(p.softmax(1), q.softmax(1), from_logits=False),
        )

    @given(st.lists(st.floats(-30, 30, allow_nan=False), min_size=6, max_size=6))
    def test_nonnegative_and_zero_on_itself(self, values):
        p = torch.tensor(values, dtype=torch.float64).view(2, 3)
        assert (VF.kl_divergence(p, p.flip(0), reduction="none") >= -1e-12).all()
        torch.testing.assert_close(
            VF.kl_divergence(p, p, reduction="none"), torch.zeros(2, dtype=torch.float64)
        )
        # shifting logits does not change the distribution
        torch.testing.assert_close(
            VF.kl_divergence(p + 7, p, reduction="none"), torch.zeros(2, dtype=torch.float64)
        )

    def test_bad_inputs(self):
        x = torch.zeros(2, 3)
        with pytest.raises(
            ValueError,
            match=r"q_logits: expected the same shape as p_logits \(2, 3\), got \(2, 4\)",
        ):
            VF.kl_divergence(x, torch.zeros(2, 4))
        with pytest.raises(
            ValueError,
            match=r"dim: expected a value in \[-2, 1\] for inputs of shape \(2, 3\), got 2",
        ):
            VF.kl_divergence(x, x, dim=2)
        with pytest.raises(
            ValueError,
            match=r"p_logits: expected probabilities in \[0, 1\], got values in \[-1, 2\]",
        ):
            VF.kl_divergence(
                torch.tensor([[-1.0, 2.0]]), torch.tensor([[0.5, 0.5]]), from_logits=False
            )
        with pytest.raises(TypeError, match="from_logits: expected a bool, got 'yes'"):
            visionloss.KLDivergence(from_logits="yes")
        with pytest.raises(TypeError, match="dim: expected an int, got 1.0"):
            VF.kl_divergence(x, x, dim=1.0)


class TestGaussianKL:
    def test_hand_values(self):
        # mu = 1, var = 1: 1/2; mu = 0, var = 4: 1/2 (4 - 1 - log 4)
        got = VF.gaussian_kl(
            torch.tensor([[1.0], [0.0]], dtype=torch.float64),
            torch.tensor([[0.0], [math.log(4)]], dtype=torch.float64),
            reduction="none",
        )
        torch.testing.assert_close(
            got, torch.tensor([0.5, 0.5 * (3 - math.log(4))], dtype=torch.float64)
        )

    def test_monte_carlo(self):
        g = torch.Generator().manual_seed(0)
        mu = torch.tensor([[0.3, -1.0, 2.0], [0.0, 0.5, -0.5]], dtype=torch.float64)
        logvar = torch.tensor([[0.0, -1.0, 0.7], [1.2, 0.1, -0.4]], dtype=torch.float64)
        mu2 = torch.tensor([0.5, 0.0, 1.0], dtype=torch.float64)
        logvar2 = torch.tensor([[0.4, 0.2, -0.3], [0.0, 1.0, 0.5]], dtype=torch.float64)
        n = 200_000
        std, std2 = (0.5 * logvar).exp(), (0.5 * logvar2).exp()
        z = mu + std * torch.randn(n, 2, 3, generator=g, dtype=torch.float64)
        # log q(z) - log p(z) summed over the 3 dims; its mean over samples estimates the KL
        log_ratio = (
            -0.5 * ((z - mu) / std) ** 2 - logvar / 2 + 0.5 * ((z - mu2) / std2) ** 2 + logvar2 / 2
        ).sum(-1)
        estimate = log_ratio.mean(0)
        standard_error = log_ratio.std(0) / math.sqrt(n)
        got = VF.gaussian_kl(mu, logvar, mu2, logvar2, reduction="none")
        assert ((got - estimate).abs() < 5 * standard_error).all(), (got, estimate, standard_error)
        # and against the default prior N(0, I)
        got_prior = VF.gaussian_kl(mu, logvar, reduction="none")
        log_ratio = (-0.5 * ((z - mu) / std) ** 2 - logvar / 2 + 0.5 * z**2).sum(-1)
        standard_error = log_ratio.std(0) / math.sqrt(n)
        assert ((got_prior - log_ratio.mean(0)).abs() < 5 * standard_error).all()

    def test_explicit_standard_prior_equals_default(self, gen):
        mu = torch.randn(3, 4, generator=gen)
        logvar = torch.randn(3, 4, generator=gen)
        torch.testing.assert_close(
            VF.gaussian_kl(mu, logvar, torch.zeros(4), torch.zeros(3, 4)),
            VF.gaussian_kl(mu, logvar),
        )
        torch.testing.assert_close(
            VF.gaussian_kl(mu, logvar, mu, logvar, reduction="none"), torch.zeros(3)
        )

    def test_accurate_in_float32_for_nearly_standard_posteriors(self):
        # KL ~ v^2 / 4 for mu = 0, small v; exp(v) - 1 - v in float32 loses it to rounding
        v = torch.tensor([[1e-3, -2e-3, 5e-4]])
        expected = VF.gaussian_kl(torch.zeros(1, 3, dtype=torch.float64), v.double())
        got = VF.gaussian_kl(torch.zeros(1, 3), v)
        torch.testing.assert_close(got.double(), expected, rtol=1e-3, atol=0)

    def test_bad_inputs(self):
        with pytest.raises(
            ValueError, match=r"logvar: expected the same shape as mu \(2, 3\), got \(2, 4\)"
        ):
            VF.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))
        with pytest.raises(
            ValueError, match=r"mu2: expected a shape broadcastable to mu \(2, 3\), got \(2,\)"
        ):
            VF.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2))
        with pytest.raises(ValueError, match="mu: expected shape .* got a scalar"):
            VF.gaussian_kl(torch.tensor(0.0), torch.tensor(0.0))


class TestVAELoss:
    def test_equals_its_parts(self, gen):
        recon = torch.randn(4, 1, 5, 5, generator=gen, dtype=torch.float64)
        target = torch.rand(4, 1, 5, 5, generator=gen, dtype=torch.float64)
        mu = torch.randn(4, 3, generator=gen, dtype=torch.float64)
        logvar = torch.randn(4, 3, generator=gen, dtype=torch.float64)
        bce = F.binary_cross_entropy_with_logits(recon, target, reduction="sum") / 4
        kl = VF.gaussian_kl(mu, logvar)
        torch.testing.assert_close(VF.vae_loss(recon, target, mu, logvar, beta=2.0), bce + 2 * kl)
        mse = F.mse_loss(recon, target, reduction="sum") / 4
        torch.testing.assert_close(
            VF.vae_loss(recon, target, mu, logvar, reconstruction="mse", beta=0.0), mse
        )
        none = VF.vae_loss(recon, target, mu, logvar, reduction="none")
        assert none.shape == (4,)

    def test_bad_inputs(self):
        recon, target = torch.zeros(2, 4), torch.rand(2, 4)
        mu = torch.zeros(2, 3)
        with pytest.raises(
            ValueError, match="reconstruction: expected one of 'bce', 'mse', got 'l1'"
        ):
            VF.vae_loss(recon, target, mu, mu, reconstruction="l1")
        with pytest.raises(ValueError, match=r"mu: expected shape \(2, \*\) .* got \(3, 3\)"):
            VF.vae_loss(recon, target, torch.zeros(3, 3), torch.zeros(3, 3))
        with pytest.raises(ValueError, match=r"target: expected probabilities in \[0, 1\]"):
            VF.vae_loss(recon, target + 1, mu, mu)
        with pytest.raises(ValueError, match=r"beta: expected a value in \[0.0, inf\], got -1.0"):
            visionloss.VAELoss(beta=-1.0)
        # data checks off: the same call runs (and the result is the formula's)
        visionloss.set_checks(False)
        assert torch.isfinite(VF.vae_loss(recon, target + 1, mu, mu))


def test_public_names():
    for name in (
        "generator_loss",
        "discriminator_loss",
        "gradient_penalty",
        "r1_penalty",
        "gaussian_nll_loss",
        "ssim_loss",
        "ms_ssim_loss",
        "kl_divergence",
        "gaussian_kl",
        "vae_loss",
    ):
        assert name in VF.__all__ and callable(getattr(VF, name))
    for name in ("AdversarialLoss", "SSIMLoss", "MSSSIMLoss", "KLDivergence", "VAELoss"):
        assert name in visionloss.__all__


# --- declared by specs: options checked at construction, lists for tensor options -------------------


@pytest.mark.parametrize(
    ("module", "options", "error", "message"),
    [
        (visionloss.AdversarialLoss, {"kind": "wgan"}, ValueError, "kind: expected one of"),
        (visionloss.GradientPenalty, {"weight": -1.0}, ValueError, r"weight: expected a value in"),
        (visionloss.R1Penalty, {"gamma": -1.0}, ValueError, r"gamma: expected a value in"),
        (visionloss.GaussianNLLLoss, {"full": 1}, TypeError, "full: expected a bool, got 1"),
        (visionloss.SSIMLoss, {"window_size": 8}, ValueError, "window_size: expected an odd"),
        (visionloss.SSIMLoss, {"k2": 0.0}, ValueError, r"k2: expected a value in \(0.0, inf\]"),
        (
            visionloss.MSSSIMLoss,
            {"scale_weights": [0.5, -0.5]},
            ValueError,
            "scale_weights: expected non-negative values",
        ),
        (
            visionloss.MSSSIMLoss,
            {"scale_weights": [[0.5], [0.5]]},
            TypeError,
            "scale_weights: expected a tensor or a list of numbers",
        ),
        (
            visionloss.MSSSIMLoss,
            {"scale_weights": "uniform"},
            TypeError,
            "scale_weights: expected a 1-D tensor or a list of numbers",
        ),
        (visionloss.KLDivergence, {"dim": 1.0}, TypeError, "dim: expected an int, got 1.0"),
        (visionloss.GaussianKLLoss, {"reduction": "batchmean"}, ValueError, "reduction: expected"),
        (visionloss.VAELoss, {"reconstruction": "l1"}, ValueError, "reconstruction: expected"),
    ],
)
def test_invalid_options_raise_when_the_module_is_built(module, options, error, message):
    with pytest.raises(error, match=message):
        module(**options)


def test_scale_weights_accept_lists_and_tuples_in_function_and_module(gen):
    x = torch.rand(2, 1, 12, 12, generator=gen)
    y = (x + 0.1 * torch.randn(2, 1, 12, 12, generator=gen)).clamp(0, 1)
    expected = VF.ms_ssim_loss(x, y, window_size=3, scale_weights=torch.tensor([0.25, 0.75]))
    for given_weights in ([0.25, 0.75], (0.25, 0.75), [1 / 4, 3 / 4]):
        torch.testing.assert_close(
            VF.ms_ssim_loss(x, y, window_size=3, scale_weights=given_weights), expected
        )
        module = visionloss.MSSSIMLoss(window_size=3, scale_weights=given_weights)
        # the list became a float32 buffer, which follows the Module's dtype and device
        assert isinstance(module.scale_weights, torch.Tensor)
        assert set(dict(module.named_buffers())) == {"scale_weights"}
        torch.testing.assert_close(module(x, y), expected)
    module = visionloss.MSSSIMLoss(window_size=3, scale_weights=[0.25, 0.75]).double()
    assert module.opts.scale_weights.dtype == torch.float64
    torch.testing.assert_close(module(x.double(), y.double()).float(), expected)
    # integers are numbers too: [1, 1] is the product of the raw terms
    torch.testing.assert_close(
        VF.ms_ssim_loss(x, x, window_size=3, scale_weights=[1, 1]), torch.tensor(0.0)
    )
    # default None: the paper's five weights, no buffer
    assert dict(visionloss.MSSSIMLoss().named_buffers()) == {}


def test_ms_ssim_has_no_weights_keyword_any_more():
    # renamed scale_weights before the first release; the per-image weight keeps its name
    with pytest.raises(TypeError, match="weights"):
        VF.ms_ssim_loss(torch.rand(1, 1, 12, 12), torch.rand(1, 1, 12, 12), weights=[0.5, 0.5])
    with pytest.raises(TypeError, match="weights"):
        visionloss.MSSSIMLoss(weights=[0.5, 0.5])


def test_specs_declare_the_family():
    from visionloss.losses import generative

    names = [s.name for s in generative.SPECS]
    assert names == [
        "generator",
        "discriminator",
        "gradient_penalty",
        "r1_penalty",
        "gaussian_nll",
        "ssim",
        "ms_ssim",
        "kl_divergence",
        "gaussian_kl",
        "vae",
        "total_variation",
        "js_divergence",
        "feature_matching",
        "perceptual",
    ]
    for spec in generative.SPECS:
        assert spec.family == "generative" and spec.module is not None and spec.paper
        assert spec.function.__name__.removesuffix("_loss") == spec.name
        assert "__init__" not in spec.module.__dict__
        # the module-level names keep working from visionloss.losses.generative
        assert getattr(generative, spec.function.__name__) is spec.function
        assert getattr(generative, spec.module.__name__) is spec.module
    # AdversarialLoss serves both adversarial specs and is documented by the first
    assert generative.SPECS[0].module is generative.SPECS[1].module is visionloss.AdversarialLoss
    assert visionloss.AdversarialLoss.spec is generative.SPECS[0]
    assert visionloss.AdversarialLoss.__doc__.startswith("The generator's adversarial loss")
    assert "scale_weights" in str(inspect.signature(visionloss.MSSSIMLoss))
    assert "Module form: ``VAELoss(beta=1.0, reconstruction='bce')``" in visionloss.VAELoss.__doc__


# =================================================================================================
# Multi-scale discriminators: a list of per-scale outputs (losses/_adversarial.py)
# =================================================================================================

_KINDS = ["non_saturating", "minimax", "lsgan", "hinge", "wasserstein"]


def _multi_scale(seed: int, dtype=torch.float64):
    # three patch maps of a multi-scale discriminator: full, half and quarter resolution
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 1, s, s, generator=g, dtype=dtype) * 2 for s in (8, 4, 2)]


def _g_terms(f, kind):
    # float64 definitions of DESIGN.md's table, written independently of the library
    return {
        "non_saturating": torch.log1p(torch.exp(-f)),
        "minimax": -torch.log1p(torch.exp(f)),
        "lsgan": 0.5 * (f - 1) ** 2,
        "hinge": -f,
        "wasserstein": -f,
    }[kind]


def _d_terms(r, f, kind):
    return {
        "non_saturating": (torch.log1p(torch.exp(-r)), torch.log1p(torch.exp(f))),
        "minimax": (torch.log1p(torch.exp(-r)), torch.log1p(torch.exp(f))),
        "lsgan": (0.5 * (r - 1) ** 2, 0.5 * f**2),
        "hinge": (torch.clamp(1 - r, min=0), torch.clamp(1 + f, min=0)),
        "wasserstein": (-r, f),
    }[kind]


class TestMultiScaleAdversarial:
    @pytest.mark.parametrize("kind", _KINDS)
    def test_generator_is_the_mean_of_the_per_scale_means(self, kind):
        fakes = _multi_scale(0)
        per_scale = [_g_terms(f, kind) for f in fakes]
        expected = torch.stack([t.mean() for t in per_scale]).mean()
        torch.testing.assert_close(VF.generator_loss(fakes, kind=kind), expected)
        # the same for a tuple; "sum" adds the per-scale sums; "none" is the per-scale terms
        torch.testing.assert_close(VF.generator_loss(tuple(fakes), kind=kind), expected)
        torch.testing.assert_close(
            VF.generator_loss(fakes, kind=kind, reduction="sum"),
            sum(t.sum() for t in per_scale),
        )
        none = VF.generator_loss(fakes, kind=kind, reduction="none")
        assert isinstance(none, tuple) and len(none) == 3
        for got, want in zip(none, per_scale, strict=True):
            torch.testing.assert_close(got, want)
        # the Module, both through forward and its method
        module = visionloss.AdversarialLoss(kind)
        torch.testing.assert_close(module(fakes), expected)
        torch.testing.assert_close(module.generator(fakes), expected)

    @pytest.mark.parametrize("kind", _KINDS)
    def test_discriminator_is_the_mean_of_the_per_scale_losses(self, kind):
        reals, fakes = _multi_scale(1), _multi_scale(2)
        per_scale = [_d_terms(r, f, kind) for r, f in zip(reals, fakes, strict=True)]
        expected = torch.stack([a.mean() + b.mean() for a, b in per_scale]).mean()
        torch.testing.assert_close(VF.discriminator_loss(reals, fakes, kind=kind), expected)
        torch.testing.assert_close(
            VF.discriminator_loss(reals, fakes, kind=kind, reduction="sum"),
            sum(a.sum() + b.sum() for a, b in per_scale),
        )
        parts = VF.discriminator_loss(reals, fakes, kind=kind, reduction="none")
        assert len(parts) == 3
        for (a, b), (ea, eb) in zip(parts, per_scale, strict=True):
            torch.testing.assert_close(a, ea)
            torch.testing.assert_close(b, eb)
        module = visionloss.AdversarialLoss(kind=kind)
        torch.testing.assert_close(module(reals, fakes), expected)
        torch.testing.assert_close(module.discriminator(reals, fakes), expected)
        for (a, b), (ea, eb) in zip(module.discriminator_parts(reals, fakes), per_scale,
                                    strict=True):
            torch.testing.assert_close(a, ea)
            torch.testing.assert_close(b, eb)

    def test_one_scale_in_a_list_equals_the_tensor(self):
        f = _multi_scale(3)[0]
        r = _multi_scale(4)[0]
        for kind in _KINDS:
            torch.testing.assert_close(
                VF.generator_loss([f], kind=kind), VF.generator_loss(f, kind=kind)
            )
            torch.testing.assert_close(
                VF.discriminator_loss([r], (f,), kind=kind), VF.discriminator_loss(r, f, kind=kind)
            )

    def test_every_scale_counts_alike_whatever_its_size(self):
        # a 64-patch scale and a 1-patch scale weigh the same in the mean (not 64 : 1)
        big, small = torch.zeros(1, 1, 8, 8), torch.full((1, 1, 1, 1), 3.0)
        got = VF.generator_loss([big, small], kind="lsgan")
        torch.testing.assert_close(got, torch.tensor((0.5 + 0.5 * 4) / 2))

    def test_per_scale_weights(self):
        fakes = _multi_scale(5)
        g = torch.Generator().manual_seed(6)
        weights = [torch.rand(f.shape, generator=g, dtype=torch.float64) for f in fakes]
        expected = torch.stack(
            [VF.generator_loss(f, weight=w) for f, w in zip(fakes, weights, strict=True)]
        ).mean()
        torch.testing.assert_close(VF.generator_loss(fakes, weight=weights), expected)
        # one (N, 1, 1, 1) sample weight broadcast to every scale; None entries mean unweighted
        sample = torch.tensor([1.0, 3.0], dtype=torch.float64).view(2, 1, 1, 1)
        expected = torch.stack([VF.generator_loss(f, weight=sample) for f in fakes]).mean()
        torch.testing.assert_close(VF.generator_loss(fakes, weight=sample), expected)
        mixed = VF.generator_loss(fakes, weight=[None, weights[1], None])
        torch.testing.assert_close(
            mixed,
            (VF.generator_loss(fakes[0]) + VF.generator_loss(fakes[1], weight=weights[1])
             + VF.generator_loss(fakes[2])) / 3,
        )

    def test_gradients_reach_every_scale_and_gradcheck(self):
        fakes = [f.clone().requires_grad_(True) for f in _multi_scale(7)]
        reals = [r.clone().requires_grad_(True) for r in _multi_scale(8)]
        for kind in _KINDS:
            assert torch.autograd.gradcheck(
                lambda *x, kind=kind: VF.generator_loss(list(x), kind=kind), tuple(fakes)
            )
            assert torch.autograd.gradcheck(
                lambda *x, kind=kind: VF.discriminator_loss(list(x[:3]), list(x[3:]), kind=kind),
                (*reals, *fakes),
            )
        VF.generator_loss(fakes).backward()
        assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in fakes)

    def test_half_precision_and_empty_scales(self):
        fakes = [f.half() for f in _multi_scale(9, torch.float32)]
        got = VF.generator_loss(fakes)
        assert got.dtype == torch.float32
        torch.testing.assert_close(
            got, VF.generator_loss([f.double() for f in fakes]).float(), rtol=1e-5, atol=1e-6
        )
        # a scale with no element gives 0 (the empty-input contract), still one scale of the mean
        empty = torch.zeros(0, 1, 4, 4, requires_grad=True)
        f = torch.full((1, 1, 2, 2), 1.0)
        torch.testing.assert_close(
            VF.generator_loss([empty, f], kind="lsgan"), torch.tensor(0.0)
        )
        VF.generator_loss([empty, f]).backward()
        assert torch.equal(empty.grad, torch.zeros_like(empty))

    def test_nan_in_one_scale_propagates(self):
        fakes = _multi_scale(10)
        fakes[1][0, 0, 0, 0] = float("nan")
        assert VF.generator_loss(fakes).isnan()
        assert VF.discriminator_loss(_multi_scale(11), fakes).isnan()

    def test_compiles_with_a_list_of_scales(self):
        fakes = [f.float() for f in _multi_scale(12)]
        reals = [r.float() for r in _multi_scale(13)]
        torch._dynamo.reset()
        g = torch.compile(lambda x: VF.generator_loss(x, kind="hinge"), fullgraph=True)
        d = torch.compile(lambda r, f: VF.discriminator_loss(r, f, kind="lsgan"), fullgraph=True)
        torch.testing.assert_close(g(fakes), VF.generator_loss(fakes, kind="hinge"))
        torch.testing.assert_close(d(reals, fakes), VF.discriminator_loss(reals, fakes, kind="lsgan"))

    def test_wrong_lists_raise(self):
        f = torch.zeros(2, 1, 4, 4)
        with pytest.raises(ValueError, match="fake_logits: expected at least one"):
            VF.generator_loss([])
        with pytest.raises(TypeError, match=r"fake_logits\[1\]: expected a tensor"):
            VF.generator_loss([f, [f]])
        with pytest.raises(ValueError, match="real_logits, fake_logits: expected two tensors or "
                           r"two lists .* got a list of 2 \[\(2, 1, 4, 4\), \(2, 1, 4, 4\)\]"):
            VF.discriminator_loss([f, f], [f])
        with pytest.raises(ValueError, match="real_logits, fake_logits: expected two tensors"):
            VF.discriminator_loss([f], f)
        with pytest.raises(ValueError, match="weight: expected None, one tensor, or a list of 2"):
            VF.generator_loss([f, f], weight=[f])
        with pytest.raises(TypeError, match="weight: expected a tensor or None"):
            VF.generator_loss(f, weight=[f])
        with pytest.raises(TypeError, match="fake_logits: expected a tensor or a list"):
            VF.generator_loss("logits")
        with pytest.raises(ValueError, match="reduction: expected 'mean' or 'sum'"):
            visionloss.AdversarialLoss(reduction="none").discriminator([f], [f])


# =================================================================================================
# The perceptual loss over a user-supplied extractor (losses/_perceptual.py)
# =================================================================================================


class _TwoLayerNet(torch.nn.Module):
    """A tiny VGG-like extractor returning a dict, a list or one tensor."""

    def __init__(self, output="dict"):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.conv1 = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.conv2 = torch.nn.Conv2d(4, 2, 3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        self.output = output

    def forward(self, x):
        a = torch.relu(self.bn(self.conv1(x)))
        b = self.conv2(a)
        if self.output == "dict":
            return {"relu1": a, "conv2": b}
        if self.output == "list":
            return [a, b]
        return b


def _images(seed, shape=(2, 3, 8, 8), dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=dtype)
    return x, (x + 0.2 * torch.randn(shape, generator=g, dtype=dtype)).clamp(0, 1)


def _perceptual_by_hand(fx, fy, weights, criterion="l1"):
    # float64, per sample: sum_k w_k * mean(d) over the layer's elements
    total = 0.0
    for a, b, w in zip(fx, fy, weights, strict=True):
        d = (a.double() - b.double())
        d = d.abs() if criterion == "l1" else d**2
        total = total + w * d.flatten(1).mean(1)
    return total


class TestPerceptual:
    @pytest.mark.parametrize("criterion", ["l1", "mse"])
    def test_value_equals_the_definition_in_float64(self, criterion):
        net = _TwoLayerNet().double().eval()
        x, y = _images(0)
        with torch.no_grad():
            fx, fy = net(x), net(y)
        expected = _perceptual_by_hand(fx.values(), fy.values(), [1.0, 1.0], criterion)
        got = VF.perceptual_loss(x, y, extractor=net, criterion=criterion, reduction="none")
        torch.testing.assert_close(got, expected)
        torch.testing.assert_close(
            visionloss.PerceptualLoss(net, criterion=criterion)(x, y), expected.mean()
        )

    def test_hand_value(self):
        # the identity "extractor": the mean absolute pixel difference; plus a 2x2 average pool
        x = torch.zeros(1, 1, 2, 2)
        y = torch.tensor([[[[2.0, 0.0], [0.0, 0.0]]]])
        assert VF.perceptual_loss(x, y, extractor=lambda t: t).item() == 0.5
        both = VF.perceptual_loss(
            x, y, extractor=lambda t: [t, torch.nn.functional.avg_pool2d(t, 2)],
            layer_weights=[1.0, 4.0], criterion="mse",
        )
        assert both.item() == 4.0 / 4 + 4.0 * 0.25  # mean of (2^2, 0, 0, 0), then (0.5)^2

    def test_list_and_dict_outputs_and_layer_selection(self):
        x, y = _images(1)
        nets = {k: _TwoLayerNet(k).double().eval() for k in ("dict", "list", "tensor")}
        full = VF.perceptual_loss(x, y, extractor=nets["dict"])
        torch.testing.assert_close(VF.perceptual_loss(x, y, extractor=nets["list"]), full)
        deep = VF.perceptual_loss(x, y, extractor=nets["tensor"])
        torch.testing.assert_close(
            VF.perceptual_loss(x, y, extractor=nets["dict"], layers=["conv2"]), deep
        )
        torch.testing.assert_close(
            VF.perceptual_loss(x, y, extractor=nets["list"], layers=[-1]), deep
        )
        shallow = VF.perceptual_loss(x, y, extractor=nets["list"], layers=[0])
        torch.testing.assert_close(shallow + deep, full)
        # layer weights: a weighted sum of the per-layer terms; weight 0 drops a layer
        torch.testing.assert_close(
            VF.perceptual_loss(x, y, extractor=nets["dict"], layer_weights=[0.5, 3.0]),
            0.5 * shallow + 3.0 * deep,
        )
        torch.testing.assert_close(
            VF.perceptual_loss(x, y, extractor=nets["dict"], layers=("conv2", "relu1"),
                               layer_weights=torch.tensor([0.0, 2.0])),
            2.0 * shallow,
        )

    def test_module_freezes_the_extractor_gradients_reach_the_input_only(self):
        net = _TwoLayerNet()
        loss = visionloss.PerceptualLoss(net)
        assert all(not p.requires_grad for p in net.parameters()) and not net.training
        assert loss.extractor is net and "extractor.conv1.weight" in loss.state_dict()
        x, y = _images(2, dtype=torch.float32)
        x.requires_grad_(True)
        value = loss(x, y)
        value.backward()
        assert x.grad is not None and x.grad.abs().sum() > 0
        assert all(p.grad is None for p in net.parameters())
        # model.train() recurses into the loss: the frozen extractor stays in eval mode
        model = torch.nn.ModuleDict({"head": torch.nn.Linear(2, 2), "loss": loss})
        model.train()
        assert loss.training and not net.training
        running = net.bn.running_mean.clone()
        loss(x, y)
        assert torch.equal(net.bn.running_mean, running)  # batch-norm statistics untouched

    def test_freeze_false_trains_the_extractor_and_the_function_changes_nothing(self):
        net = _TwoLayerNet()
        x, y = _images(3, dtype=torch.float32)
        VF.perceptual_loss(x, y, extractor=net).backward()  # the function: no freezing
        assert net.training and all(p.grad is not None for p in net.parameters())
        net.zero_grad()
        loss = visionloss.PerceptualLoss(net, freeze=False)
        assert all(p.requires_grad for p in net.parameters())
        assert {n for n, _ in loss.named_parameters()} == {
            f"extractor.{n}" for n, _ in net.named_parameters()
        }
        loss(x, y).backward()
        assert all(p.grad is not None for p in net.parameters())

    def test_detach_target(self):
        net = _TwoLayerNet().double().eval()
        x, y = _images(4)
        y.requires_grad_(True)
        VF.perceptual_loss(x, y, extractor=net).backward()
        assert y.grad is None
        VF.perceptual_loss(x, y, extractor=net, detach_target=False).backward()
        assert y.grad is not None and y.grad.abs().sum() > 0

    def test_normalize_standardises_the_inputs_first(self):
        net = _TwoLayerNet().double().eval()
        x, y = _images(5)
        mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
        torch.testing.assert_close(
            VF.perceptual_loss(x, y, extractor=net, normalize=True),
            VF.perceptual_loss((x - mean) / std, (y - mean) / std, extractor=net),
        )
        torch.testing.assert_close(
            VF.perceptual_loss(x, y, extractor=net, normalize=True, mean=[0.5] * 3, std=[2.0] * 3),
            VF.perceptual_loss((x - 0.5) / 2, (y - 0.5) / 2, extractor=net),
        )

    def test_images_reach_a_module_in_its_own_dtype(self):
        # a float32 network under mixed precision gets float32 images (no dtype error)
        net = _TwoLayerNet().eval()
        x, y = _images(6, dtype=torch.float32)
        got = VF.perceptual_loss(x.half(), y.half(), extractor=net)
        assert got.dtype == torch.float32
        torch.testing.assert_close(
            got, VF.perceptual_loss(x.half().float(), y.half().float(), extractor=net)
        )
        with torch.autocast("cpu", dtype=torch.bfloat16):
            under = VF.perceptual_loss(x, y, extractor=net)
        torch.testing.assert_close(under, VF.perceptual_loss(x, y, extractor=net))
        # .double() on the Module moves the extractor with it
        loss = visionloss.PerceptualLoss(_TwoLayerNet()).double()
        assert loss.extractor.conv1.weight.dtype == torch.float64
        loss(*_images(7))

    def test_errors(self):
        x, y = _images(8)
        net = _TwoLayerNet().double()
        with pytest.raises(TypeError, match="extractor: expected a callable"):
            visionloss.PerceptualLoss("vgg16")
        with pytest.raises(TypeError, match="needs the option 'extractor'|extractor"):
            visionloss.PerceptualLoss()
        with pytest.raises(ValueError, match="criterion: expected one of"):
            visionloss.PerceptualLoss(net, criterion="l2")
        with pytest.raises(ValueError, match="layers: expected a non-empty list"):
            visionloss.PerceptualLoss(net, layers=[])
        with pytest.raises(TypeError, match="layers: expected None or a list"):
            visionloss.PerceptualLoss(net, layers="conv2")
        with pytest.raises(ValueError, match="layer_weights: expected 1 weights"):
            visionloss.PerceptualLoss(net, layers=["conv2"], layer_weights=[1.0, 2.0])
        with pytest.raises(ValueError, match="layer_weights: expected 2 weights"):
            VF.perceptual_loss(x, y, extractor=net, layer_weights=[1.0])
        with pytest.raises(ValueError, match=r"layers: \['conv9'\] not among"):
            VF.perceptual_loss(x, y, extractor=net, layers=["conv9"])
        with pytest.raises(ValueError, match="layers: expected indices into the extractor's 2"):
            VF.perceptual_loss(x, y, extractor=_TwoLayerNet("list").double(), layers=[2])
        with pytest.raises(ValueError, match="layers: the extractor returned one tensor"):
            VF.perceptual_loss(x, y, extractor=lambda t: t, layers=[1])
        with pytest.raises(TypeError, match="extractor: expected it to return a tensor"):
            VF.perceptual_loss(x, y, extractor=lambda t: 3.0)
        with pytest.raises(ValueError, match="mean, std: expected one value per channel"):
            VF.perceptual_loss(x[:, :2], y[:, :2], extractor=lambda t: t, normalize=True)
        with pytest.raises(ValueError, match="target"):
            VF.perceptual_loss(x, y[:1], extractor=net)
