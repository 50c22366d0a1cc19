"""Regression family: values against torch and hand-derived numbers, Barron's limits, properties.

The generic sweep (test_contract.py) covers reductions, weights, gradcheck, precision and compile;
here are the facts specific to each loss.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import visionloss
import visionloss.functional as VF
from visionloss.kernels import set_kernels

POINTWISE = [
    VF.mse_loss,
    VF.mae_loss,
    VF.huber_loss,
    VF.smooth_l1_loss,
    VF.log_cosh_loss,
    VF.charbonnier_loss,
    VF.robust_loss,
]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_equal_to_torch(gen, reduction):
    x = torch.randn(4, 3, 5, generator=gen) * 3
    y = torch.randn(4, 3, 5, generator=gen)
    pairs = [
        (VF.mse_loss(x, y, reduction=reduction), F.mse_loss(x, y, reduction=reduction)),
        (VF.mae_loss(x, y, reduction=reduction), F.l1_loss(x, y, reduction=reduction)),
        (
            VF.huber_loss(x, y, delta=0.7, reduction=reduction),
            F.huber_loss(x, y, delta=0.7, reduction=reduction),
        ),
        (
            VF.smooth_l1_loss(x, y, beta=0.3, reduction=reduction),
            F.smooth_l1_loss(x, y, beta=0.3, reduction=reduction),
        ),
        (
            VF.smooth_l1_loss(x, y, beta=0.0, reduction=reduction),
            F.l1_loss(x, y, reduction=reduction),
        ),
    ]
    for ours, theirs in pairs:
        torch.testing.assert_close(ours, theirs)


def test_hand_computed_values():
    d = torch.tensor([0.0, 0.5, 2.0, -3.0])
    zero = torch.zeros(4)
    # Huber delta=1: 0, 0.125, 1*(2-0.5)=1.5, 1*(3-0.5)=2.5
    torch.testing.assert_close(
        VF.huber_loss(d, zero, reduction="none"), torch.tensor([0, 0.125, 1.5, 2.5])
    )
    # Huber delta=2 is 2 x Smooth L1 beta=2: 0, 0.125, 2, 2*(3-1)=4
    torch.testing.assert_close(
        VF.huber_loss(d, zero, delta=2.0, reduction="none"), torch.tensor([0, 0.125, 2.0, 4.0])
    )
    torch.testing.assert_close(
        VF.huber_loss(d, zero, delta=2.0, reduction="none"),
        2 * VF.smooth_l1_loss(d, zero, beta=2.0, reduction="none"),
    )
    # Charbonnier eps=1: sqrt(d^2+1)-1 at d=0, 2: 0, sqrt(5)-1
    got = VF.charbonnier_loss(torch.tensor([0.0, 2.0]), torch.zeros(2), eps=1.0, reduction="none")
    torch.testing.assert_close(got, torch.tensor([0.0, math.sqrt(5) - 1]))


def test_log_cosh_does_not_overflow_and_matches_tails():
    d = torch.tensor([1e-4, 1.0, 100.0, 1e4], dtype=torch.float32, requires_grad=True)
    loss = VF.log_cosh_loss(d, torch.zeros(4), reduction="none")
    # small d: d^2/2; large d: |d| - log 2 (cosh itself is inf at 100 in float32)
    torch.testing.assert_close(loss[0], torch.tensor(0.5e-8), rtol=1e-3, atol=0)
    torch.testing.assert_close(loss[1], torch.tensor(math.log(math.cosh(1.0))))
    torch.testing.assert_close(loss[2:], torch.tensor([100 - math.log(2), 1e4 - math.log(2)]))
    loss.sum().backward()
    torch.testing.assert_close(d.grad, torch.tanh(d.detach()))


def test_log_cosh_fused_equals_reference_and_keeps_only_inputs(gen):
    x = torch.randn(64, 64, generator=gen, requires_grad=True)
    y = torch.randn(64, 64, generator=gen, requires_grad=True)
    grad_out = torch.rand(64, 64, generator=gen)  # grad_output != 1
    results = {}
    for fused in (True, False):
        set_kernels(fused)
        saved: list[torch.Tensor] = []

        def pack(t, saved=saved):
            saved.append(t)
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = VF.log_cosh_loss(x, y, reduction="none")
        gx, gy = torch.autograd.grad(loss, (x, y), grad_out)
        results[fused] = (loss, gx, gy, saved)
    torch.testing.assert_close(results[True][:3], results[False][:3])
    # fused: only x and y are kept; the composition keeps elementwise intermediates too
    fused_saved = results[True][3]
    assert {t.data_ptr() for t in fused_saved} == {x.data_ptr(), y.data_ptr()}
    assert len({t.data_ptr() for t in results[False][3]} - {x.data_ptr(), y.data_ptr()}) >= 1


class TestRobustLoss:
    z_values = torch.tensor([0.0, 0.3, 1.0, 4.0, 25.0], dtype=torch.float64)

    def _loss(self, alpha, scale=1.0, x=None):
        x = self.z_values if x is None else x
        return VF.robust_loss(x, torch.zeros_like(x), alpha=alpha, scale=scale, reduction="none")

    def test_special_cases(self):
        x, c = self.z_values, 1.7
        s = (x / c) ** 2
        torch.testing.assert_close(self._loss(2.0, c), 0.5 * s)
        torch.testing.assert_close(self._loss(0.0, c), torch.log1p(0.5 * s))
        torch.testing.assert_close(self._loss(-math.inf, c), 1 - torch.exp(-0.5 * s))
        torch.testing.assert_close(self._loss(math.inf, c), torch.exp(0.5 * s) - 1)
        # alpha=1 is pseudo-Huber / Charbonnier with eps=c, scaled by 1/c: sqrt(s+1)-1
        torch.testing.assert_close(self._loss(1.0, c), torch.sqrt(s + 1) - 1)
        # alpha=-2 is Geman-McClure: 2 s / (s + 4)
        torch.testing.assert_close(self._loss(-2.0, c), 2 * s / (s + 4))

    @pytest.mark.parametrize("limit", [0.0, 2.0])
    def test_continuous_at_the_limits(self, limit):
        # the general branch near 0 and 2 tends to the closed-form limits (stable forms: no
        # pow(...)-1 cancellation). Near 2 the alpha-derivative diverges like log(1/h), so the
        # deviation is O(h log(1/h)), not O(h).
        for h in (1e-3, 1e-5, 1e-7):
            for alpha in (limit - h, limit + h):
                torch.testing.assert_close(
                    self._loss(alpha), self._loss(limit), rtol=h * (2 + math.log(1 / h)), atol=1e-12
                )

    def test_large_alpha_tends_to_exp_limit(self):
        x = torch.tensor([0.5, 1.0], dtype=torch.float64)
        torch.testing.assert_close(
            self._loss(1e6, x=x), self._loss(math.inf, x=x), rtol=1e-5, atol=0
        )
        torch.testing.assert_close(
            self._loss(-1e6, x=x), self._loss(-math.inf, x=x), rtol=1e-5, atol=0
        )

    @pytest.mark.parametrize("alpha", [-5.0, -2.0, 0.0, 0.5, 1.0, 3.0, 1e-3])
    def test_gradcheck_in_alpha_and_scale(self, alpha, gen):
        x = torch.randn(6, generator=gen, dtype=torch.float64, requires_grad=True)
        a = torch.tensor(alpha, dtype=torch.float64, requires_grad=True)
        c = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)

        def fn(x, a, c):
            return VF.robust_loss(x, torch.zeros_like(x), alpha=a, scale=c, reduction="sum")

        assert torch.autograd.gradcheck(fn, (x, a, c))

    def test_alpha_gradient_at_two_is_zero_by_convention(self):
        a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
        VF.robust_loss(self.z_values, torch.zeros(5, dtype=torch.float64), alpha=a).backward()
        assert a.grad.item() == 0.0

    def test_per_channel_alpha_tensor(self, gen):
        x = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64)
        alpha = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64).view(1, 3, 1)
        got = VF.robust_loss(x, torch.zeros_like(x), alpha=alpha, reduction="none")
        for channel, a in enumerate((0.0, 1.0, 2.0)):
            expected = VF.robust_loss(
                x[:, channel], torch.zeros_like(x[:, channel]), alpha=a, reduction="none"
            )
            torch.testing.assert_close(got[:, channel], expected)

    def test_learnable_alpha_in_module(self):
        module = visionloss.RobustLoss(alpha=torch.nn.Parameter(torch.tensor(1.0)))
        assert [name for name, _ in module.named_parameters()] == ["alpha"]
        module(torch.randn(8), torch.zeros(8)).backward()
        assert module.alpha.grad is not None and torch.isfinite(module.alpha.grad)

    def test_extreme_residuals_finite_grads_for_every_alpha(self):
        x = torch.tensor([1e4, -1e4, 0.0], requires_grad=True)
        for alpha in (-math.inf, -2.0, 0.0, 1.0, 2.0):
            loss = VF.robust_loss(x, torch.zeros(3), alpha=alpha)
            (grad,) = torch.autograd.grad(loss, x)
            assert torch.isfinite(loss) and torch.isfinite(grad).all(), alpha

    def test_scale_checks(self):
        with pytest.raises(ValueError, match=r"scale: expected a value in \(0.0, inf\], got 0.0"):
            VF.robust_loss(torch.ones(2), torch.zeros(2), scale=0.0)
        with pytest.raises(
            ValueError, match="scale: expected positive values, got a minimum of -1"
        ):
            VF.robust_loss(torch.ones(2), torch.zeros(2), scale=torch.tensor([1.0, -1.0]))
        with pytest.raises(
            TypeError, match="alpha: expected a real number or a floating tensor, got 'cauchy'"
        ):
            VF.robust_loss(torch.ones(2), torch.zeros(2), alpha="cauchy")


finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=16), st.sampled_from(POINTWISE))
def test_nonnegative_zero_at_target_and_symmetric(pairs, fn):
    x = torch.tensor([p[0] for p in pairs], dtype=torch.float64)
    y = torch.tensor([p[1] for p in pairs], dtype=torch.float64)
    loss = fn(x, y, reduction="none")
    assert (loss >= 0).all()
    assert (fn(y, y, reduction="none") == 0).all()
    # every regression loss is a function of |x - y|
    torch.testing.assert_close(loss, fn(y, x, reduction="none"))


@given(st.floats(0.01, 50), st.floats(0.01, 50))
def test_loss_grows_with_the_residual(small, extra):
    for fn in POINTWISE:
        lo = fn(torch.tensor([small], dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
        hi = fn(
            torch.tensor([small + extra], dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
        )
        assert hi >= lo


class TestBadInput:
    @pytest.mark.parametrize("fn", POINTWISE)
    def test_shape_mismatch(self, fn):
        with pytest.raises(
            ValueError, match=r"target: expected the same shape as input \(4, 1\), got \(4,\)"
        ):
            fn(torch.zeros(4, 1), torch.zeros(4))

    @pytest.mark.parametrize("fn", POINTWISE)
    def test_types(self, fn):
        with pytest.raises(
            TypeError, match="input: expected a floating-point tensor, got dtype torch.int64"
        ):
            fn(torch.zeros(4, dtype=torch.long), torch.zeros(4))
        with pytest.raises(TypeError, match="target: expected a torch.Tensor, got list"):
            fn(torch.zeros(2), [0.0, 1.0])

    def test_option_ranges(self):
        x = torch.zeros(2)
        with pytest.raises(ValueError, match=r"delta: expected a value in \(0.0, inf\], got 0.0"):
            VF.huber_loss(x, x, delta=0.0)
        with pytest.raises(ValueError, match=r"beta: expected a value in \[0.0, inf\], got -1.0"):
            VF.smooth_l1_loss(x, x, beta=-1.0)
        with pytest.raises(ValueError, match=r"eps: expected a value in \(0.0, inf\], got -0.1"):
            visionloss.CharbonnierLoss(eps=-0.1)

    def test_integer_target_is_cast(self):
        torch.testing.assert_close(
            VF.mse_loss(torch.tensor([1.5]), torch.tensor([1])), torch.tensor(0.25)
        )


def test_module_buffers_follow_the_module():
    module = visionloss.RobustLoss(alpha=torch.tensor([0.0, 1.0]), scale=torch.tensor([1.0, 2.0]))
    assert set(dict(module.named_buffers())) == {"alpha", "scale"}
    state = module.state_dict()
    assert torch.equal(state["scale"], torch.tensor([1.0, 2.0]))
    assert "alpha=[0.0, 1.0]" in repr(module)


def test_compile_with_inductor():
    # the sweep compiles every representative with aot_eager; one real inductor build here
    torch._dynamo.reset()
    x, y = torch.randn(8, 8), torch.randn(8, 8)
    compiled = torch.compile(lambda a, b: VF.robust_loss(a, b, alpha=0.5), fullgraph=True)
    torch.testing.assert_close(compiled(x, y), VF.robust_loss(x, y, alpha=0.5))
