"""The shared contract, swept over every loss of the catalogue (tests/catalogue).

What each test would catch: a wrong formula (reference), a reduction that is not the shared one
(reductions, weights), a Module that drifts from its function, a wrong backward (gradcheck), NaN on
empty input, a lost precision policy (half), overflow (extreme), a graph break (compile).
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

import visionloss
from catalogue import LossCase, all_cases
from conftest import LOW_PRECISION_TOL

CASES = all_cases()
IDS = [case.id for case in CASES]


def _where(attribute: str) -> dict:
    """Parametrize over the cases for which a test applies (no skipped-forever tests)."""
    cases = [case for case in CASES if getattr(case, attribute)]
    return {"argvalues": cases, "ids": [case.id for case in cases]}


def _inputs(case: LossCase, dtype=torch.float64, seed=0):
    return case.make_inputs(torch.Generator().manual_seed(seed), dtype)


@pytest.mark.parametrize("case", **_where("reference"))
def test_matches_float64_reference(case: LossCase):
    for seed in range(3):
        inputs = _inputs(case, seed=seed)
        got = case.function(*inputs, **case.options, reduction="none")
        expected = case.reference(*inputs, **case.options)
        rtol, atol = case.tolerance
        torch.testing.assert_close(got, expected.to(got.dtype), rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reductions_and_shapes(case: LossCase):
    inputs = _inputs(case)
    none = case.function(*inputs, **case.options, reduction="none")
    assert tuple(none.shape) == tuple(case.none_shape(inputs))
    total = case.function(*inputs, **case.options, reduction="sum")
    mean = case.function(*inputs, **case.options, reduction="mean")
    default = case.function(*inputs, **case.options)
    assert total.shape == mean.shape == ()
    torch.testing.assert_close(total, none.sum())
    torch.testing.assert_close(mean, none.mean())
    torch.testing.assert_close(default, mean)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_invalid_reduction_raises(case: LossCase):
    inputs = _inputs(case)
    with pytest.raises(
        ValueError, match=r"reduction: expected one of 'none', 'mean', 'sum', got 'avg'"
    ):
        case.function(*inputs, **case.options, reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        case.module(**case.options, reduction="elementwise")


@pytest.mark.parametrize("case", **_where("weighted"))
def test_weighted_mean_is_sum_wl_over_sum_w(case: LossCase):
    inputs = _inputs(case)
    none = case.function(*inputs, **case.options, reduction="none")
    weight = torch.rand(none.shape, generator=torch.Generator().manual_seed(7), dtype=none.dtype)
    got = case.function(*inputs, **case.options, weight=weight)
    torch.testing.assert_close(got, (weight * none).sum() / weight.sum())
    got_none = case.function(*inputs, **case.options, weight=weight, reduction="none")
    torch.testing.assert_close(got_none, weight * none)
    with pytest.raises(ValueError, match="weight: expected non-negative values"):
        case.function(*inputs, **case.options, weight=-weight)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_module_equals_function(case: LossCase):
    inputs = _inputs(case)
    module = case.module(**case.options, reduction="sum")
    torch.testing.assert_close(
        module(*inputs), case.function(*inputs, **case.options, reduction="sum")
    )
    assert repr(module).startswith(type(module).__name__)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck_float64(case: LossCase):
    inputs = list(_inputs(case))
    for i in case.grad_inputs:
        inputs[i] = inputs[i].detach().requires_grad_(True)

    def fn(*args):
        return case.function(*args, **case.options, reduction="sum")

    assert torch.autograd.gradcheck(fn, tuple(inputs), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("case", **_where("make_empty"))
def test_empty_input_gives_zero_and_zero_grads(case: LossCase):
    inputs = [
        t.requires_grad_(True) if t.is_floating_point() else t
        for t in case.make_empty(torch.float64)
    ]
    for reduction in ("mean", "sum"):
        loss = case.function(*inputs, **case.options, reduction=reduction)
        assert loss.item() == 0.0
        grads = torch.autograd.grad(loss, [t for t in inputs if t.requires_grad], allow_unused=True)
        assert all(g is None or not g.any() for g in grads)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("case", **_where("low_precision"))
def test_low_precision_computes_in_float32(case: LossCase, dtype):
    low = _inputs(case, dtype=dtype)
    as_float32 = [t.float() if t.is_floating_point() else t for t in low]
    got = case.function(*low, **case.options)
    assert got.dtype == torch.float32
    rtol, atol = LOW_PRECISION_TOL[dtype]
    torch.testing.assert_close(
        got, case.function(*as_float32, **case.options), rtol=rtol, atol=atol
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("case", **_where("make_extreme"))
def test_extreme_inputs_give_finite_loss_and_grads(case: LossCase, dtype):
    inputs = [
        t.requires_grad_(True) if t.is_floating_point() else t for t in case.make_extreme(dtype)
    ]
    loss = case.function(*inputs, **case.options)
    assert torch.isfinite(loss)
    loss.backward()
    for t in inputs:
        if t.grad is not None:
            assert torch.isfinite(t.grad).all()


@pytest.mark.parametrize("case", **_where("compile"))
def test_compile_fullgraph_matches_eager(case: LossCase):
    torch._dynamo.reset()
    inputs = _inputs(case, dtype=torch.float32)

    def fn(*args):
        return case.function(*args, **case.options)

    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(*inputs), fn(*inputs), rtol=1e-5, atol=1e-6)


# --- the production path (issue 14): memory formats, NaN, autocast, dynamic compile, meta, C=1 ---


def _layout_cases(predicate) -> dict:
    cases = [case for case in CASES if predicate(_inputs(case))]
    return {"argvalues": cases, "ids": [case.id for case in cases]}


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    if t.dim() == 4:
        return t.contiguous(memory_format=torch.channels_last)
    if t.dim() == 5:
        return t.contiguous(memory_format=torch.channels_last_3d)
    return t


def _strided(t: torch.Tensor) -> torch.Tensor:
    """The same values, every other element of a buffer: a non-contiguous slice."""
    buffer = t.new_zeros(*t.shape, 2)
    buffer[..., 0] = t
    return buffer[..., 0]


def _transposed(t: torch.Tensor) -> torch.Tensor:
    """The same values as a transposed view (non-contiguous, strides reversed in two dims)."""
    return t.mT.contiguous().mT if t.dim() >= 2 else t


def _value_and_grads(case: LossCase, inputs, layout=lambda i, t: t):
    inputs = [
        layout(i, t.detach().clone()).requires_grad_(i in case.grad_inputs)
        if t.is_floating_point()
        else layout(i, t.clone())
        for i, t in enumerate(inputs)
    ]
    loss = case.function(*inputs, **case.options)
    differentiable = [inputs[i] for i in case.grad_inputs]
    grads = torch.autograd.grad(loss, differentiable, allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for t, g in zip(differentiable, grads, strict=True)]
    return loss, grads


def _assert_same_value_and_grads(case: LossCase, layout, *, on=lambda i, t: True):
    inputs = _inputs(case)
    expected = _value_and_grads(case, inputs)
    got = _value_and_grads(case, inputs, lambda i, t: layout(t) if on(i, t) else t)
    torch.testing.assert_close(got, expected)


def _has_dims(*dims: int):
    return lambda inputs: any(t.dim() in dims for t in inputs)


@pytest.mark.parametrize("case", **_layout_cases(_has_dims(4, 5)))
def test_channels_last_gives_the_same_values_and_grads(case: LossCase):
    _assert_same_value_and_grads(case, _channels_last)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_strided_and_transposed_views_give_the_same_values_and_grads(case: LossCase):
    _assert_same_value_and_grads(case, _strided)
    _assert_same_value_and_grads(case, _transposed)


def _expandable(i: int, t: torch.Tensor, case: LossCase) -> bool:
    return i not in case.grad_inputs and t.dim() >= 1 and t.shape[0] > 1


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if any(_expandable(i, t, c) for i, t in enumerate(_inputs(c)))],
    ids=lambda c: c.id,
)
def test_expanded_targets_give_the_same_values_and_grads(case: LossCase):
    """A stride-0 target (one sample broadcast over the batch) equals its contiguous copy."""
    inputs = [
        t[:1].expand_as(t).contiguous() if _expandable(i, t, case) else t
        for i, t in enumerate(_inputs(case))
    ]
    expected = _value_and_grads(case, inputs)
    got = _value_and_grads(
        case,
        inputs,
        lambda i, t: t[:1].expand_as(t) if _expandable(i, t, case) else t,
    )
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_nan_in_the_input_gives_nan(case: LossCase):
    """NaN is never hidden: one NaN in the differentiated input makes every reduction NaN."""
    inputs = list(_inputs(case))
    i = case.grad_inputs[0]
    inputs[i] = inputs[i].clone()
    inputs[i].view(-1)[-1] = float("nan")  # the last element: valid (not ignored) in every row
    for reduction in ("mean", "sum"):
        assert torch.isnan(case.function(*inputs, **case.options, reduction=reduction)), reduction


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_autocast_keeps_the_loss_in_float32(case: LossCase):
    """Under CPU bfloat16 autocast the library's own matmuls and convolutions stay float32."""
    inputs = _inputs(case, dtype=torch.float32)
    expected = case.function(*inputs, **case.options)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = case.function(*inputs, **case.options)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def _grown_batch(inputs, size: int):
    """The inputs grown to ``size`` samples (the first repeated): another batch size."""
    return tuple(torch.cat([t] + [t[:1]] * (size - len(t))) for t in inputs)


@pytest.mark.parametrize("case", **_where("compile"))
def test_compile_dynamic_with_two_batch_sizes_matches_eager(case: LossCase):
    """One graph for two batch sizes: 11 and 13, above 1 (torch specialises 0 and 1), unlike the
    other dims of the rows (dims of equal size share one symbol) and at most 15 (a convolution
    guards on that)."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()

    def fn(*args):
        return case.function(*args, **case.options)

    compiled = torch.compile(fn, fullgraph=True, dynamic=True, backend="aot_eager")
    inputs = _inputs(case, dtype=torch.float32)
    for size in (11, 13):
        batch = _grown_batch(inputs, size)
        torch.testing.assert_close(compiled(*batch), fn(*batch), rtol=1e-5, atol=1e-6)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1  # no recompilation


def _to_meta(value):
    if isinstance(value, torch.Tensor):
        return value.to("meta")
    if isinstance(value, dict):
        return {k: _to_meta(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_meta_tensors_give_the_shape(case: LossCase):
    """Shape inference: on the meta device the data checks are skipped and shapes come out."""
    inputs = [t.to("meta") for t in _inputs(case)]
    options = _to_meta(case.options)
    none = case.function(*inputs, **options, reduction="none")
    assert none.is_meta and tuple(none.shape) == tuple(case.none_shape(inputs))
    mean = case.function(*inputs, **options)
    assert mean.is_meta and mean.shape == ()


def _softmax_over_dim1(case: LossCase) -> bool:
    """A loss with a softmax over the classes: declared by the row, or ``mode="multiclass"``."""
    if case.multiclass:
        return True
    mode = inspect.signature(case.function).parameters.get("mode")
    return mode is not None and case.options.get("mode", mode.default) == "multiclass"


@pytest.mark.parametrize("case", [c for c in CASES if _softmax_over_dim1(c)], ids=lambda c: c.id)
def test_one_channel_multiclass_raises(case: LossCase):
    """Softmax over one class is constant: a silent 0 unless it raises, pointing to binary."""
    x, target = _inputs(case)[:2]
    x = x[:, :1]
    target = target[:, :1] if target.is_floating_point() else torch.zeros_like(target)
    with pytest.raises(ValueError, match="mode='binary'"):
        case.function(x, target, **case.options)


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if _softmax_over_dim1(c) and not _inputs(c)[1].is_floating_point()],
    ids=lambda c: c.id,
)
def test_unknown_class_id_with_checks_off_is_not_read_as_a_class(case: LossCase):
    """With the data checks off, an id out of [0, C) other than ignore_index raises (as torch's
    cross-entropy: the gather's bound check) or gives NaN; it is never read as some class."""
    visionloss.set_checks(False)
    x, target = _inputs(case)[:2]
    target = target.clone()
    target.view(-1)[-1] = -5
    try:
        loss = case.function(x, target, **case.options)
    except (IndexError, RuntimeError) as error:
        assert "out of" in str(error)  # "index -5 is out of bounds", "out of range"
    else:
        assert torch.isnan(loss)


# --- the catalogue's declarations: one spec per loss, Module and function from the same source ---

from visionloss.losses import SPECS  # noqa: E402

SPEC_IDS = [spec.name for spec in SPECS]
#: per-call keyword arguments (data, not options): the per-element weight, a penalty's own
#: interpolation points and random generator
_PER_CALL = {"weight", "interpolation", "generator"}


def _keyword_options(function, declared) -> dict:
    parameters = inspect.signature(function).parameters.values()
    return {
        p.name: p.default
        for p in parameters
        if p.kind is p.KEYWORD_ONLY and (p.name in declared or p.name not in _PER_CALL)
    }


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_function_module_and_options_declare_the_same_options(spec):
    fields = {f.name: f for f in dataclasses.fields(spec.options)}
    declared = {
        name: (inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default)
        for name, f in fields.items()
    }
    # the function's explicit keyword options are exactly the options object's, same defaults
    assert _keyword_options(spec.function, declared) == declared
    if spec.module is not None:
        module_parameters = inspect.signature(spec.module).parameters
        assert {n: p.default for n, p in module_parameters.items()} == declared


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_spec_is_complete_and_documents_its_module(spec):
    assert spec.name == spec.function_name.removesuffix("_loss")
    assert spec.summary and spec.formula
    assert spec.family in visionloss._core.FAMILIES
    if spec.module is not None and spec.module.spec is spec:
        doc = spec.module.__doc__
        # help(Module) starts with the loss's own documentation: summary, then the formula
        assert doc.startswith(inspect.cleandoc(spec.function.__doc__).splitlines()[0])
        assert ("math::" in doc or ":math:" in doc) and "Module form" in doc
        assert spec.module.forward.__doc__, f"{spec.module.__name__}.forward has no docstring"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_module_stores_the_options_the_function_would_build(case: LossCase):
    module = case.module(**case.options)
    spec = type(module).spec
    expected = spec.options(**case.options).as_dict()
    for name, value in module.options().items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(value, expected[name])
        else:
            assert value == expected[name], name


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_module_follows_to_and_state_dict(case: LossCase):
    module = case.module(**case.options)
    tensors = {k: v for k, v in module.options().items() if isinstance(v, torch.Tensor)}
    if not tensors:
        assert module.state_dict() == {} or all(
            isinstance(v, torch.Tensor) for v in module.state_dict().values()
        )
        return
    moved = module.to(torch.float64)
    for name in tensors:
        if tensors[name].is_floating_point():
            assert getattr(moved.opts, name).dtype == torch.float64, name
    assert set(tensors) <= set(module.state_dict())


# =================================================================================================
# torch.func transforms, forward-mode AD and second-order gradients (issue 14, items 5-7)
#
# Every catalogue case, on the default backend (the fused Functions on CPU): torch.func.grad
# equals autograd; vmap over a leading batch equals a loop; jvp (torch.func and
# torch.autograd.forward_ad) equals a central finite difference; gradgradcheck in float64 (the
# double backward of the fused Functions is the reference's, exactly). The custom Functions give
# way to the reference under transforms (kernels.backend_for), so these compare the fused and
# reference paths too. Data checks are left on: they are skipped under functorch transforms.
# =================================================================================================

from torch.func import grad as func_grad  # noqa: E402
from torch.func import jvp as func_jvp  # noqa: E402
from torch.func import vmap  # noqa: E402


def _differentiable(case: LossCase, inputs, reduction="sum"):
    """``(fn, primals)``: the loss as a function of the inputs in ``case.grad_inputs`` only."""

    def fn(*diff):
        args = list(inputs)
        for i, value in zip(case.grad_inputs, diff, strict=True):
            args[i] = value
        return case.function(*args, **case.options, reduction=reduction)

    return fn, tuple(inputs[i] for i in case.grad_inputs)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_func_grad_equals_autograd(case: LossCase):
    fn, primals = _differentiable(case, _inputs(case))
    got = func_grad(fn, argnums=tuple(range(len(primals))))(*primals)
    leaves = [p.detach().clone().requires_grad_(True) for p in primals]
    expected = torch.autograd.grad(fn(*leaves), leaves)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vmap_over_a_batch_equals_a_loop(case: LossCase, reduction):
    batch = [_inputs(case, seed=seed) for seed in range(2)]
    stacked = [torch.stack(parts) for parts in zip(*batch, strict=True)]

    def fn(*args):
        return case.function(*args, **case.options, reduction=reduction)

    got = vmap(fn)(*stacked)
    expected = torch.stack([fn(*inputs) for inputs in batch])
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jvp_equals_finite_difference(case: LossCase):
    inputs = _inputs(case)
    fn, primals = _differentiable(case, inputs)
    gen = torch.Generator().manual_seed(3)
    tangents = tuple(torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in primals)
    value, got = func_jvp(fn, primals, tangents)
    torch.testing.assert_close(value, fn(*primals))
    eps = 1e-6
    plus = fn(*(p + eps * t for p, t in zip(primals, tangents, strict=True)))
    minus = fn(*(p - eps * t for p, t in zip(primals, tangents, strict=True)))
    torch.testing.assert_close(got, (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-6)
    # forward-mode AD outside torch.func takes the same path
    import torch.autograd.forward_ad as fwAD

    with fwAD.dual_level():
        dual = fn(*(fwAD.make_dual(p, t) for p, t in zip(primals, tangents, strict=True)))
        torch.testing.assert_close(fwAD.unpack_dual(dual).tangent, got, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradgradcheck_float64(case: LossCase):
    fn, primals = _differentiable(case, _inputs(case))
    leaves = tuple(p.detach().clone().requires_grad_(True) for p in primals)
    assert torch.autograd.gradgradcheck(fn, leaves, eps=1e-6, atol=1e-5)


# --- the penalties call torch.autograd.grad: a clear error where autograd cannot run -----------


def _penalties():
    critic = torch.nn.Linear(4, 1).double()
    real, fake = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)

    def gradient_penalty(real):
        return visionloss.functional.gradient_penalty(
            critic, real, fake, interpolation=torch.full((3,), 0.5, dtype=torch.float64)
        )

    def r1_penalty(real):
        real = real.detach().requires_grad_(True)
        return visionloss.functional.r1_penalty(critic(real).squeeze(1), real)

    return real, {"gradient_penalty": gradient_penalty, "r1_penalty": r1_penalty}


@pytest.mark.parametrize("name", ["gradient_penalty", "r1_penalty"])
def test_penalties_raise_a_clear_error_where_autograd_cannot_run(name):
    real, penalties = _penalties()
    penalty = penalties[name]
    assert torch.isfinite(penalty(real))
    message = rf"{name} needs autograd .* cannot run under"
    with torch.inference_mode(), pytest.raises(RuntimeError, match=message + " torch.inference"):
        penalty(real)
    if name == "gradient_penalty":  # r1 asks its input to require grad, which torch.func refuses
        with pytest.raises(RuntimeError, match=message + " a torch.func transform"):
            func_grad(penalty)(real)
        with pytest.raises(RuntimeError, match=message + " a torch.func transform"):
            vmap(penalty, randomness="same")(torch.stack([real, real]))

    class Penalty(torch.nn.Module):
        def forward(self, real):
            return penalty(real)

    with pytest.raises(RuntimeError, match=message + " torch.export"):
        torch.export.export(Penalty(), (real,))
