"""The shared mechanics in visionloss._core: reduction, checks, precision, dense targets."""

from __future__ import annotations

import subprocess
import sys
from typing import ClassVar

import pytest
import torch

import visionloss
import visionloss.functional as VF
from visionloss._core import (
    check_number,
    gather_classes,
    prepare_dense_target,
    reduce_loss,
    sum_by_class,
)


class TestReduceLoss:
    def test_mean_sum_none(self):
        loss = torch.tensor([1.0, 2.0, 6.0])
        assert reduce_loss(loss, "mean").item() == 3.0
        assert reduce_loss(loss, "sum").item() == 9.0
        assert torch.equal(reduce_loss(loss, "none"), loss)

    def test_weighted_mean_with_fractional_weights(self):
        # sum(w l) / sum(w) = (0.1*1 + 0.3*3) / 0.4 = 2.5; a denominator clamped to 1 would give 1.0
        loss = torch.tensor([1.0, 3.0])
        weight = torch.tensor([0.1, 0.3])
        torch.testing.assert_close(reduce_loss(loss, "mean", weight=weight), torch.tensor(2.5))

    def test_broadcast_weight_counts_every_element(self):
        # a (N, 1) sample weight over (N, C) losses: the mean divides by C * sum(w)
        loss = torch.tensor([[1.0, 3.0], [5.0, 7.0]])
        weight = torch.tensor([[1.0], [0.0]])
        torch.testing.assert_close(reduce_loss(loss, "mean", weight=weight), torch.tensor(2.0))

    def test_mask_leaves_numerator_and_count(self):
        loss = torch.tensor([1.0, float("nan"), 5.0])
        valid = torch.tensor([True, False, True])
        torch.testing.assert_close(reduce_loss(loss, "mean", valid=valid), torch.tensor(3.0))
        torch.testing.assert_close(
            reduce_loss(loss, "none", valid=valid), torch.tensor([1.0, 0.0, 5.0])
        )

    @pytest.mark.parametrize("reduction", ["mean", "sum"])
    def test_fully_masked_and_empty_give_zero_with_zero_grads(self, reduction):
        raw = torch.tensor([1.0, 2.0], requires_grad=True)
        valid = torch.zeros(2, dtype=torch.bool)
        out = reduce_loss(raw * 3, reduction, valid=valid, weight=torch.ones(2))
        out.backward()
        assert out.item() == 0.0 and torch.equal(raw.grad, torch.zeros(2))
        empty = torch.zeros(0, requires_grad=True)
        out = reduce_loss(empty * 2, reduction)
        out.backward()
        assert out.item() == 0.0 and empty.grad.shape == (0,)

    def test_all_zero_weights_give_zero(self):
        out = reduce_loss(torch.tensor([4.0]), "mean", weight=torch.zeros(1))
        assert out.item() == 0.0

    def test_nan_is_not_hidden(self):
        assert torch.isnan(reduce_loss(torch.tensor([1.0, float("nan")]), "mean"))

    def test_bad_weight_shape_and_dtype(self):
        loss = torch.ones(2, 3)
        with pytest.raises(
            ValueError,
            match=r"weight: expected a shape broadcastable to the unreduced loss \(2, 3\), got \(3, 2\)",
        ):
            reduce_loss(loss, "mean", weight=torch.ones(3, 2))
        with pytest.raises(
            TypeError, match="weight: expected a floating-point tensor, got dtype torch.int64"
        ):
            reduce_loss(loss, "mean", weight=torch.ones(2, 3, dtype=torch.long))
        with pytest.raises(TypeError, match="weight: expected a torch.Tensor, got 2.0"):
            reduce_loss(loss, "mean", weight=2.0)

    def test_compiles_fullgraph(self):
        def fn(loss, weight, valid):
            return reduce_loss(loss, "mean", weight=weight, valid=valid)

        args = (torch.rand(4, 3), torch.rand(4, 1), torch.rand(4, 3) > 0.5)
        compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
        torch.testing.assert_close(compiled(*args), fn(*args))


class TestChecks:
    def test_number_messages(self):
        with pytest.raises(ValueError, match=r"delta: expected a value in \(0.0, inf\], got -1.0"):
            check_number(-1.0, "delta", low=0.0, low_inclusive=False)
        with pytest.raises(TypeError, match="delta: expected a real number, got 'big'"):
            check_number("big", "delta")
        with pytest.raises(TypeError, match="delta: expected a real number, got True"):
            check_number(True, "delta")
        with pytest.raises(ValueError, match="eps: expected a value in"):
            check_number(float("nan"), "eps")

    def test_set_checks_switches_data_checks_only(self):
        x = torch.randn(2, 3)
        bad = torch.tensor([0, 5])
        with pytest.raises(
            ValueError,
            match=r"target: expected class ids in \[0, 2\] \(or ignore_index=-100\), got values in \[5, 5\]",
        ):
            prepare_dense_target(x, bad, "multiclass")
        visionloss.set_checks(False)
        assert not visionloss.checks_enabled()
        prepare_dense_target(x, bad, "multiclass")  # not read: no error, no sync
        with pytest.raises(ValueError, match="target: expected class ids of shape"):
            prepare_dense_target(x, torch.zeros(3, dtype=torch.long), "multiclass")  # shape: always
        with pytest.raises(TypeError, match="set_checks: expected enabled to be a bool"):
            visionloss.set_checks("no")

    def test_environment_variable_switches_checks_off(self):
        code = "import visionloss; print(visionloss.checks_enabled())"
        env = {"VISIONLOSS_CHECKS": "0", "PATH": ""}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert out.stdout.strip() == "False", out.stderr

    def test_checks_do_not_break_compile(self):
        def fn(x, t):
            return gather_classes(x, prepare_dense_target(x, t, "multiclass").index).sum()

        x, t = torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4))
        compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
        torch.testing.assert_close(compiled(x, t), fn(x, t))

    def test_data_checks_are_skipped_on_meta_tensors_and_under_functorch(self):
        from visionloss._core import checks_enabled

        x, bad = torch.randn(2, 3), torch.tensor([0, 5])
        assert checks_enabled(x) and not checks_enabled(x.to("meta"))
        prepare_dense_target(x.to("meta"), bad.to("meta"), "multiclass")  # no values to read

        def under_vmap(row):
            assert not checks_enabled(row) and not checks_enabled()
            return row.sum()

        torch.func.vmap(under_vmap)(x)
        torch.func.grad(under_vmap)(x)

    def test_option_checks_trace_with_dynamic_floats(self):
        # torch.compile(dynamic=True) makes a float argument a SymFloat: the range check is a
        # comparison (a guard), never math.isnan (a graph break)
        def fn(x, delta):
            return x * check_number(delta, "delta", low=0.0, low_inclusive=False)

        compiled = torch.compile(fn, fullgraph=True, dynamic=True, backend="aot_eager")
        x = torch.randn(3)
        for delta in (0.5, 2.0):
            torch.testing.assert_close(compiled(x, delta), x * delta)

    def test_autocast_off_keeps_matmuls_in_float32(self):
        from visionloss._core import autocast_off

        x = torch.randn(8, 16)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert (x @ x.T).dtype == torch.bfloat16
            with autocast_off(x):
                assert (x @ x.T).dtype == torch.float32
        with autocast_off(x.to("meta")):  # no autocast for the device: a no-op
            pass

    @pytest.mark.parametrize("kernels", [True, False])
    def test_class_weighted_smoothing_is_float32_under_autocast(self, kernels):
        # the einsum of sum_c w_c log p_c (a bmm inside) is not in the catalogue rows' options
        from visionloss.kernels import set_kernels

        set_kernels(kernels)
        gen = torch.Generator().manual_seed(0)
        x, t = torch.randn(4, 10, 6, 6, generator=gen) * 3, torch.randint(0, 10, (4, 6, 6))
        options = {"class_weight": torch.rand(10, generator=gen), "label_smoothing": 0.1}
        for fn in (VF.cross_entropy, VF.poly1_loss):
            expected = fn(x, t, **options)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                got = fn(x, t, **options)
            torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)

    def test_one_channel_multiclass_raises_pointing_to_binary(self):
        x = torch.randn(2, 1, 4)
        with pytest.raises(ValueError, match=r"at least 2 classes .* use mode='binary'"):
            prepare_dense_target(x, torch.zeros(2, 4, dtype=torch.long), "multiclass")
        prepare_dense_target(x, torch.zeros(2, 1, 4), "binary")  # the one-channel form


class TestDenseTargets:
    def test_multiclass_index_with_ignore(self):
        x = torch.randn(2, 3, 2, 2)
        t = torch.tensor([[[0, 2], [-100, 1]], [[1, 1], [2, -100]]])
        dense = prepare_dense_target(x, t, "multiclass")
        assert dense.is_index and dense.probs is None
        assert torch.equal(dense.valid, t != -100)
        assert dense.index.min() >= 0  # ignored positions are safe to gather

    def test_multiclass_probabilities(self):
        x = torch.randn(2, 3, 4)
        p = torch.softmax(torch.randn(2, 3, 4), 1)
        dense = prepare_dense_target(x, p, "multiclass")
        assert dense.index is None and torch.equal(dense.probs, p)
        with pytest.raises(ValueError, match=r"target: expected probabilities in \[0, 1\]"):
            prepare_dense_target(x, p * 3, "multiclass")

    def test_binary_integer_target_with_ignore(self):
        x = torch.randn(4)
        dense = prepare_dense_target(x, torch.tensor([0, 1, -100, 1]), "binary")
        assert torch.equal(dense.probs, torch.tensor([0.0, 1.0, 0.0, 1.0]))
        assert torch.equal(dense.valid, torch.tensor([True, True, False, True]))
        with pytest.raises(ValueError, match=r"target: expected class ids in \[0, 1\]"):
            prepare_dense_target(x, torch.tensor([0, 2, 1, 1]), "binary")

    def test_mode_and_shape_errors(self):
        with pytest.raises(
            ValueError,
            match="mode: expected one of 'binary', 'multilabel', 'multiclass', got 'softmax'",
        ):
            prepare_dense_target(torch.randn(2, 3), torch.zeros(2, 3), "softmax")
        with pytest.raises(
            ValueError,
            match=r"target: expected the same shape as input \(2, 3\) for mode='multilabel', got \(2,\)",
        ):
            prepare_dense_target(torch.randn(2, 3), torch.zeros(2), "multilabel")
        with pytest.raises(
            TypeError, match="input: expected a floating-point tensor, got dtype torch.int64"
        ):
            prepare_dense_target(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2), "binary")

    def test_gather_and_sum_by_class_equal_one_hot_forms(self, gen):
        values = torch.randn(2, 4, 3, 5, generator=gen)
        index = torch.randint(0, 4, (2, 3, 5), generator=gen)
        one_hot = torch.nn.functional.one_hot(index, 4).movedim(-1, 1).to(values.dtype)
        torch.testing.assert_close(gather_classes(values, index), (values * one_hot).sum(1))
        weights = torch.rand(2, 3, 5, generator=gen)
        torch.testing.assert_close(
            sum_by_class(weights, index, 4), (one_hot * weights.unsqueeze(1)).sum((2, 3))
        )


class TestCpuRule:
    """``auto`` on a CPU tensor picks, per op, the path measured faster on CPU at 1 and 2 threads
    (docs/BENCHMARKS.md, ``visionloss bench --paths --threads 1 2``); ``fused`` stays reachable."""

    # the path "auto" takes on CPU for each op with a fused Function
    CPU_DEFAULT: ClassVar[dict[str, str]] = {
        "log_cosh": "fused",
        "cross_entropy": "fused",
        "sigmoid_focal": "fused",
        "softmax_focal": "reference",
        "overlap": "fused",
        "charbonnier": "fused",
        "gaussian_nll": "fused",
        "robust": "fused",
        "boxes": "fused",
        "ssim": "fused",
    }

    def test_backend_for_follows_fused_on_cpu(self):
        from visionloss.kernels import backend_for, set_kernels

        x = torch.zeros(2)
        assert backend_for("op", x, has_triton=False) == "fused"
        assert backend_for("op", x, has_triton=False, fused_on_cpu=False) == "reference"
        set_kernels("fused")  # the memory-lean path stays available on request
        assert backend_for("op", x, has_triton=False, fused_on_cpu=False) == "fused"

    def _chosen(self, monkeypatch, module, call) -> str:
        from visionloss import kernels

        chosen: list[str] = []

        def spy(*args, **kwargs):
            chosen.append(kernels.backend_for(*args, **kwargs))
            return chosen[-1]

        monkeypatch.setattr(module, "backend_for", spy)
        call()
        assert len(chosen) == 1
        return chosen[0]

    def test_auto_on_cpu_takes_the_measured_path(self, monkeypatch, gen):
        from visionloss.kernels import boxes, cross_entropy, focal, overlap, pointwise, ssim

        x = torch.randn(2, 3, 4, 4, generator=gen, requires_grad=True)
        ids = torch.randint(0, 3, (2, 4, 4), generator=gen)
        calls = {
            "log_cosh": (pointwise, lambda: pointwise.log_cosh(x, torch.zeros_like(x))),
            "cross_entropy": (cross_entropy, lambda: cross_entropy.cross_entropy_ids(x, ids)),
            "sigmoid_focal": (
                focal,
                lambda: focal.sigmoid_focal(
                    x, (x > 0).float(), alpha=0.25, gamma=2.0, ignore_index=None
                ),
            ),
            "softmax_focal": (
                focal,
                lambda: focal.softmax_focal(x, ids, alpha=None, gamma=2.0, ignore_index=None),
            ),
            "overlap": (overlap, lambda: VF.dice_loss(x, ids, mode="multiclass")),
            "charbonnier": (pointwise, lambda: pointwise.charbonnier(x, x.detach(), 1e-3)),
            "gaussian_nll": (
                pointwise,
                lambda: pointwise.gaussian_nll(x, x.detach(), torch.zeros(3, 1, 1), full=True),
            ),
            "robust": (pointwise, lambda: pointwise.robust(x, x.detach(), -2.0, 1.0)),
            "boxes": (
                boxes,
                lambda: VF.giou_loss(
                    torch.tensor([[0.0, 0.0, 2.0, 2.0]], requires_grad=True),
                    torch.tensor([[1.0, 1.0, 3.0, 3.0]]),
                ),
            ),
            "ssim": (ssim, lambda: VF.ssim_loss(x.sigmoid(), torch.rand(2, 3, 4, 4), window_size=3)),
        }
        for op, (module, call) in calls.items():
            assert self._chosen(monkeypatch, module, call) == self.CPU_DEFAULT[op], op
