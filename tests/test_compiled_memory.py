"""Compiled users keep the memory win (issue 18 item 3).

Under ``torch.compile`` the fused ops run as ``torch.library`` custom ops
(``visionloss.kernels._library.FusedOp``): the compiled graph saves what the eager fused
Function saves (inputs and small statistics), not what AOTAutograd's partitioner would keep
when tracing through the Function (class ids as int64, masks, activations: 6x the eager figure
for multiclass Dice before this). Eager calls keep the Function (exact double backward).

Saved bytes are read with ``visionloss._core.memory.saved_bytes``: AOTAutograd's compiled
Function saves its tensors through ``ctx.save_for_backward``, so
``torch.autograd.graph.saved_tensors_hooks`` sees them as it sees an eager graph's.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch

import visionloss.functional as VF
from visionloss._core.memory import saved_bytes
from visionloss.kernels import _library
from visionloss.kernels import overlap as overlap_kernels

# a few scalars (the reduction's) may differ between the eager and the compiled graph
SLACK = 256


def _multiclass(shape, seed=0, ignore=False):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, requires_grad=True)
    t = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=gen)
    if ignore:
        t[:, :2] = -100
    return x, t


def _multilabel(shape, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, requires_grad=True)
    return x, (torch.rand(shape, generator=gen) > 0.5).float()


CASES = {
    "dice multiclass 2D": (lambda: _multiclass((2, 4, 32, 32)), dict(mode="multiclass")),
    "dice multiclass 3D ignore": (
        lambda: _multiclass((2, 3, 8, 16, 16), ignore=True),
        dict(mode="multiclass"),
    ),
    "dice multiclass squared": (
        lambda: _multiclass((2, 4, 32, 32)),
        dict(mode="multiclass", squared=True),
    ),
    "dice multilabel": (lambda: _multilabel((2, 4, 32, 32)), dict(mode="multilabel")),
}


def _value_and_grad(fn, x, t):
    loss = fn(x, t)
    (grad,) = torch.autograd.grad(loss, x)
    return loss.detach(), grad


def _check(name, *, dynamic, backend="aot_eager"):
    make, options = CASES[name]
    x, t = make()

    def loss(x, t):
        return VF.dice_loss(x, t, **options)

    torch._dynamo.reset()
    compiled = torch.compile(loss, fullgraph=True, dynamic=dynamic, backend=backend)
    eager_value, eager_grad = _value_and_grad(loss, x, t)
    value, grad = _value_and_grad(compiled, x, t)
    torch.testing.assert_close(value, eager_value, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, eager_grad, rtol=1e-5, atol=1e-7)
    eager_bytes = saved_bytes(lambda: loss(x, t), [x, t])
    compiled_bytes = saved_bytes(lambda: compiled(x, t), [x, t])
    assert compiled_bytes <= eager_bytes + SLACK, (name, compiled_bytes, eager_bytes)


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_keeps_eager_saved_bytes(name):
    _check(name, dynamic=False)


@pytest.mark.parametrize("name", ["dice multiclass 2D", "dice multiclass 3D ignore"])
def test_compiled_dynamic_keeps_eager_saved_bytes(name):
    _check(name, dynamic=True)


def test_inductor_keeps_eager_saved_bytes():
    """The default backend (inductor), what users run."""
    _check("dice multiclass 2D", dynamic=False, backend="inductor")


def test_the_compiled_graph_calls_the_custom_op():
    x, t = _multiclass((2, 4, 8, 8))
    seen = []

    def backend(gm, example_inputs):
        from functorch.compile import make_boxed_func
        from torch._dynamo.backends.common import aot_autograd

        def record(graph, _inputs):
            seen.extend(str(node.target) for node in graph.graph.nodes)
            return make_boxed_func(graph)

        return aot_autograd(fw_compiler=record, bw_compiler=record)(gm, example_inputs)

    torch._dynamo.reset()
    compiled = torch.compile(
        lambda x, t: VF.dice_loss(x, t, mode="multiclass"), fullgraph=True, backend=backend
    )
    compiled(x, t).backward()
    assert "visionloss.overlap_softmax_index.default" in seen
    assert "visionloss.overlap_softmax_index_backward.default" in seen


def test_eager_keeps_the_function_and_exact_double_backward():
    """Eager calls never go through the custom op (``usable`` is false outside compile), so the
    Function's differentiated backward (the reference's graph) stays: gradgradcheck passes."""
    assert not overlap_kernels._SOFTMAX_INDEX_OP.usable()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    t = torch.randint(0, 3, (2, 5), generator=gen)
    assert torch.autograd.gradgradcheck(lambda x: VF.dice_loss(x, t, mode="multiclass"), (x,))


def test_compiled_torch_func_grad_takes_the_reference():
    """Under compile, a torch.func transform still routes to the reference before the custom op
    (which has no vmap or jvp rule)."""
    x, t = _multiclass((2, 3, 8, 8))
    x = x.detach()

    def loss(x):
        return VF.dice_loss(x, t, mode="multiclass")

    torch._dynamo.reset()
    got = torch.compile(torch.func.grad(loss), fullgraph=True, backend="aot_eager")(x)
    torch.testing.assert_close(got, torch.func.grad(loss)(x))


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
def test_opcheck_softmax_index(squared, ignore):
    """Schema, fake (meta) kernel, autograd registration, AOT dispatch: torch.library.opcheck."""
    op = overlap_kernels._SOFTMAX_INDEX_OP
    assert op.register()
    x, t = _multiclass((2, 3, 40), ignore=ignore)
    index, valid = overlap_kernels._decode_index(t, -100 if ignore else None)
    args = (x, t, index, valid, -100 if ignore else None, squared)
    torch.library.opcheck(torch.ops.visionloss.overlap_softmax_index.default, args)


@pytest.mark.parametrize("activation", ["sigmoid", "identity", "exp", "softmax"])
def test_opcheck_general(activation):
    op = overlap_kernels._OVERLAP_OP
    assert op.register()
    x, t = _multilabel((2, 3, 40))
    args = (x, t, None, None, activation, None, False)
    torch.library.opcheck(torch.ops.visionloss.overlap_statistics.default, args)


def test_meta_tensors_through_the_ops():
    assert overlap_kernels._SOFTMAX_INDEX_OP.register()
    x = torch.empty(2, 3, 50, device="meta", dtype=torch.float16)
    t = torch.empty(2, 50, device="meta", dtype=torch.long)
    stats, lse = torch.ops.visionloss.overlap_softmax_index(x, t, t, None, None, False)
    assert stats.shape == (4, 2, 3) and lse.shape == (2, 50)
    assert stats.dtype == lse.dtype == torch.float32  # the compute dtype for half inputs
    (grad,) = torch.ops.visionloss.overlap_softmax_index_backward([x, t, lse], [stats], None, False)
    assert grad.shape == x.shape and grad.dtype == x.dtype and grad.device.type == "meta"


def test_ops_are_in_the_visionloss_namespace():
    for op in (overlap_kernels._SOFTMAX_INDEX_OP, overlap_kernels._OVERLAP_OP):
        assert op.name.startswith(f"{_library.NAMESPACE}::")


def test_import_registers_nothing():
    """Registration costs a few ms per op: it waits for the first compiled call."""
    code = (
        "import visionloss, torch\n"
        "from visionloss.kernels import _library\n"
        "assert _library._DECLARED, 'no op declared'\n"
        "assert all(op._state == 'declared' for op in _library._DECLARED.values())\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_without_custom_op_api_the_function_is_traced(monkeypatch):
    """torch without ``torch.library.custom_op``: ``usable`` is false and the op is never
    defined; the compiled loss still equals eager (the Function traced, as before)."""
    monkeypatch.delattr(torch.library, "custom_op")
    op = _library.FusedOp(
        "test_unavailable",
        tensors="Tensor x",
        options="",
        outputs=1,
        forward=lambda x: x * 2,
        fake=lambda x: torch.empty_like(x),
        save=lambda args, out: (args[0],),
        backward=lambda saved, grads: (grads[0] * 2,),
    )
    try:
        assert not op.register()
        with pytest.raises(RuntimeError, match="torch >= 2.4"):
            op(torch.ones(2))
    finally:
        _library._DECLARED.pop(op.name, None)


def test_unavailable_op_falls_back_to_the_traced_function(monkeypatch):
    """An op that could not be registered (an older torch): the compiled loss traces the
    Function, as before the custom ops, and still equals eager."""
    monkeypatch.setattr(overlap_kernels._SOFTMAX_INDEX_OP, "_state", "unavailable")
    x, t = _multiclass((2, 3, 8, 8))

    def loss(x, t):
        return VF.dice_loss(x, t, mode="multiclass")

    torch._dynamo.reset()
    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x, t), loss(x, t))
    torch._dynamo.reset()


def test_bench_compiled_row_reports_the_compiled_saved_bytes():
    """``visionloss bench --compiled``: a compiled row beside the eager one, with the compiled
    graph's saved bytes (equal to eager's for the fused ops)."""
    from visionloss.cli import bench, bench_cases

    ours = [c for c in bench_cases._overlap_contenders("dice") if c.name == bench.OURS]
    case = bench.BenchCase("dice", (2, 4, 16, 16), bench_cases._dense_inputs, ours, dispatched=True)
    case = bench.with_compiled(case)
    assert [c.name for c in case.contenders] == ["visionloss", "visionloss [compiled]"]
    results = {
        r.contender: r for r in bench.measure(case, torch.device("cpu"), rounds=1, min_time=0.001)
    }
    eager, compiled = results["visionloss"], results["visionloss [compiled]"]
    assert compiled.time_ms is not None  # it ran and was timed
    assert eager.saved_bytes and compiled.saved_bytes is not None
    assert compiled.saved_bytes <= eager.saved_bytes + SLACK
    torch._dynamo.reset()


def _interpreted_triton(monkeypatch):
    """Triton's kernels interpreted on the CPU (TRITON_INTERPRET=1, set by the root conftest
    before triton is imported on a machine without CUDA), or skip."""
    if not torch.cuda.is_available():
        monkeypatch.setenv("TRITON_INTERPRET", "1")
    triton = pytest.importorskip("triton")
    helper = triton.language.standard._sum_combine
    if not torch.cuda.is_available() and type(helper).__name__ != "InterpretedFunction":
        pytest.skip("triton was imported before TRITON_INTERPRET=1 was set")


@pytest.mark.parametrize("mode", ["multiclass", "multilabel"])
def test_compiled_calls_the_triton_kernels(monkeypatch, mode):
    """While compiling, the Triton kernels run inside ``visionloss::overlap_triton`` (CUDA, or
    forced on the CPU under the interpreter): value and gradient equal the eager Triton path's,
    and the compiled graph keeps nothing but the inputs."""
    from visionloss.kernels import set_kernels

    _interpreted_triton(monkeypatch)
    set_kernels("triton")
    x, t = _multiclass((2, 3, 4, 5)) if mode == "multiclass" else _multilabel((2, 3, 4, 5))
    seen = []

    def backend(gm, example_inputs):
        from functorch.compile import make_boxed_func
        from torch._dynamo.backends.common import aot_autograd

        def record(graph, _inputs):
            seen.extend(str(node.target) for node in graph.graph.nodes)
            return make_boxed_func(graph)

        return aot_autograd(fw_compiler=record, bw_compiler=record)(gm, example_inputs)

    def loss(x, t):
        return VF.dice_loss(x, t, mode=mode)

    torch._dynamo.reset()
    compiled = torch.compile(loss, fullgraph=True, backend=backend)
    value, grad = _value_and_grad(compiled, x, t)
    eager_value, eager_grad = _value_and_grad(loss, x, t)
    torch.testing.assert_close(value, eager_value, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, eager_grad, rtol=1e-5, atol=1e-7)
    assert "visionloss.overlap_triton.default" in seen
    assert "visionloss.overlap_triton_backward.default" in seen
    assert saved_bytes(lambda: compiled(x, t), [x, t]) <= SLACK
    torch._dynamo.reset()


def test_compiled_triton_op_falls_back_where_the_kernels_do_not_cover(monkeypatch):
    """``auto`` on CUDA compiles to the Triton op; a call its kernels do not cover (here: more
    softmax classes than they take) runs the fused forward and backward with the same saved
    set inside the op. Forced ``triton``: the op raises NotImplementedError, as eager does."""
    _interpreted_triton(monkeypatch)
    tri = pytest.importorskip("visionloss.kernels.triton.overlap")
    monkeypatch.setattr(tri, "MAX_SOFTMAX_CLASSES", 2)
    op = overlap_kernels._TRITON_OP
    assert op.register()
    x, t = _multiclass((2, 3, 20), ignore=True)
    args = (x, t, "softmax", -100, False)
    got = torch.ops.visionloss.overlap_triton(*args, False)
    expected = overlap_kernels.overlap_statistics_reference(
        x, t, activation="softmax", ignore_index=-100, squared=False
    )
    torch.testing.assert_close(got, expected)
    (grad,) = torch.autograd.grad(got[:2].square().sum(), x)
    (expected_grad,) = torch.autograd.grad(expected[:2].square().sum(), x)
    torch.testing.assert_close(grad, expected_grad)
    with pytest.raises(NotImplementedError, match="softmax over 3 classes"):
        torch.ops.visionloss.overlap_triton(*args, True)


# --- the other fused ops (focal, SSIM): one harness over the ops ------------------------------
# Not cross-entropy ids: its Function keeps exp(x - max), the logits' size, while the graph that
# AOTAutograd traces through it recomputes that and keeps less (8x19x96x96: 1.2 MiB against
# 6.3), so it stays traced.


def _images(shape=(2, 3, 24, 24), seed=0, y_grad=False):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=gen, requires_grad=True)
    y = torch.rand(shape, generator=gen).requires_grad_(y_grad)
    return x, y


def _soft_target(shape=(2, 5, 8, 8), seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, requires_grad=True)
    return x, torch.softmax(torch.randn(shape, generator=gen), 1)


#: name -> (inputs, loss, the custom op the compiled graph must call)
FUSED_OPS = {
    "sigmoid focal": (
        lambda: _multilabel((64, 20)),
        lambda x, t: VF.focal_loss(x, t, mode="binary", alpha=0.25),
        "sigmoid_focal",
    ),
    "sigmoid focal gamma<1 int target": (
        lambda: (lambda x, t: (x, t.long()))(*_multilabel((64, 20))),
        lambda x, t: VF.focal_loss(x, t, mode="binary", gamma=0.5),
        "sigmoid_focal",
    ),
    "softmax focal ids": (
        lambda: _multiclass((2, 5, 8, 8), ignore=True),
        lambda x, t: VF.focal_loss(x, t, mode="multiclass", alpha=[0.1, 0.2, 0.3, 0.2, 0.2]),
        "softmax_focal",
    ),
    "softmax focal probabilities": (
        _soft_target,
        lambda x, t: VF.focal_loss(x, t, mode="multiclass", alpha=0.3),
        "softmax_focal",
    ),
    "ssim": (_images, lambda x, y: VF.ssim_loss(x, y), "ssim_cs"),
    "ssim both images": (
        lambda: _images(y_grad=True),
        lambda x, y: VF.ssim_loss(x, y),
        "ssim_cs_both",
    ),
    "ms-ssim": (
        lambda: _images((1, 2, 96, 96)),
        lambda x, y: VF.ms_ssim_loss(x, y, window_size=5),
        "ssim_cs",
    ),
}


def _recording_backend(seen):
    def backend(gm, example_inputs):
        from functorch.compile import make_boxed_func
        from torch._dynamo.backends.common import aot_autograd

        def record(graph, _inputs):
            seen.extend(str(node.target) for node in graph.graph.nodes)
            return make_boxed_func(graph)

        return aot_autograd(fw_compiler=record, bw_compiler=record)(gm, example_inputs)

    return backend


def _check_op(name, *, dynamic, backend):
    from visionloss.kernels import set_kernels

    make, loss, op = FUSED_OPS[name]
    x, t = make()
    inputs = (x, t) if t.requires_grad else (x,)
    set_kernels("fused")  # the fused path on CPU (some ops take the reference under "auto")
    try:
        seen: list[str] = []
        torch._dynamo.reset()
        compiled = torch.compile(
            loss,
            fullgraph=True,
            dynamic=dynamic,
            backend=_recording_backend(seen) if backend == "record" else backend,
        )
        eager_value = loss(x, t)
        eager_grads = torch.autograd.grad(eager_value, inputs)
        value = compiled(x, t)
        grads = torch.autograd.grad(value, inputs)
        torch.testing.assert_close(value, eager_value, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grads, eager_grads, rtol=1e-5, atol=1e-7)
        if backend == "record":
            assert f"visionloss.{op}.default" in seen, seen
            assert f"visionloss.{op}_backward.default" in seen
        eager_bytes = saved_bytes(lambda: loss(x, t), [x, t])
        compiled_bytes = saved_bytes(lambda: compiled(x, t), [x, t])
        assert compiled_bytes <= eager_bytes + SLACK, (name, compiled_bytes, eager_bytes)
    finally:
        set_kernels("auto")
        torch._dynamo.reset()


@pytest.mark.parametrize("name", list(FUSED_OPS))
def test_fused_op_compiled_keeps_eager_saved_bytes(name):
    _check_op(name, dynamic=False, backend="record")


@pytest.mark.parametrize("name", list(FUSED_OPS))
def test_fused_op_compiled_dynamic_keeps_eager_saved_bytes(name):
    _check_op(name, dynamic=True, backend="aot_eager")


@pytest.mark.parametrize("name", ["sigmoid focal", "softmax focal ids", "ssim"])
def test_fused_op_inductor_keeps_eager_saved_bytes(name):
    _check_op(name, dynamic=False, backend="inductor")


def _opcheck_args():
    from visionloss.kernels import focal, ssim

    x, t = _multiclass((2, 5, 7))
    xb, tb = _multilabel((6, 5))
    xp, tp = _soft_target((2, 5, 7))
    xi, yi = _images((1, 2, 16, 16))
    window = torch.softmax(torch.randn(5), 0)
    return [
        (focal._SIGMOID_FOCAL_OP, (xb, tb, None, 0.25, 2.0, None)),
        (focal._SIGMOID_FOCAL_OP, (xb, tb, torch.rand(5), None, 0.5, None)),
        (focal._SOFTMAX_FOCAL_OP, (x, t, None, None, 2.0, None, True)),
        (focal._SOFTMAX_FOCAL_OP, (x, t, torch.rand(5), None, 1.5, None, True)),
        (focal._SOFTMAX_FOCAL_OP, (xp, tp, None, 0.3, 2.0, None, True)),
        (ssim._SSIM_CS_OP, (xi, yi, window, 1e-4, 9e-4)),
        (ssim._SSIM_CS_BOTH_OP, (xi, yi.detach().requires_grad_(), window, 1e-4, 9e-4)),
    ]


@pytest.mark.parametrize("index", range(7))
def test_opcheck_fused_ops(index):
    """Schema, fake (meta) kernel, autograd registration, AOT dispatch of each op."""
    op, args = _opcheck_args()[index]
    assert op.register()
    short = op.name.split("::")[1]
    torch.library.opcheck(getattr(torch.ops.visionloss, short).default, args)


# --- pointwise and box losses (kernels/pointwise.py, kernels/boxes.py) ---------------------------
# Traced through, each fused Function let inductor save one full-size intermediate (the
# difference; a boxes-sized tensor) where the Function saves only its inputs.

from visionloss.kernels import boxes as box_kernels  # noqa: E402
from visionloss.kernels import pointwise as pointwise_kernels  # noqa: E402


def _pair(shape=(8, 33), seed=0, target_grad=False):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, requires_grad=True)
    y = torch.randn(shape, generator=gen, requires_grad=target_grad)
    return x, y


def _boxes(n=40, seed=0, target_grad=False):
    gen = torch.Generator().manual_seed(seed)

    def make():
        xy = torch.rand(n, 2, generator=gen) * 10
        return torch.cat([xy, xy + torch.rand(n, 2, generator=gen) * 4 + 0.1], 1)

    return make().requires_grad_(), make().requires_grad_(target_grad)


def _box_case(kind):
    box_format = "cxcywh" if kind == "ciou" else "xyxy"
    return lambda p, t: box_kernels.box_loss(p, t, kind=kind, box_format=box_format, eps=1e-7)


POINTWISE_CASES = {
    "log_cosh": lambda x, y: pointwise_kernels.log_cosh(x, y),
    "charbonnier": lambda x, y: pointwise_kernels.charbonnier(x, y, 1e-3),
    "robust alpha=1": lambda x, y: pointwise_kernels.robust(x, y, 1.0, 0.7),
    "robust alpha=-inf": lambda x, y: pointwise_kernels.robust(x, y, -math.inf, 1.3),
    "gaussian_nll": lambda x, y: pointwise_kernels.gaussian_nll(x, y, 0.1 * x.detach(), full=True),
    **{f"box {kind}": _box_case(kind) for kind in box_kernels.BOX_LOSS_KINDS},
}


def _check_fused(name, *, dynamic, target_grad=False, backend="inductor"):
    from visionloss.kernels import set_kernels

    op = POINTWISE_CASES[name]
    make = _boxes if name.startswith("box") else _pair
    x, y = make(target_grad=target_grad)
    inputs = [x, y] if target_grad else [x]

    def loss(x, y):
        out = op(x, y)
        return (out * torch.linspace(0.5, 1.5, out.numel()).view_as(out)).sum()

    set_kernels("fused")
    try:
        torch._dynamo.reset()
        compiled = torch.compile(loss, fullgraph=True, dynamic=dynamic, backend=backend)
        eager_value = loss(x, y)
        eager_grads = torch.autograd.grad(eager_value, inputs)
        value = compiled(x, y)
        grads = torch.autograd.grad(value, inputs)
        torch.testing.assert_close(value, eager_value, rtol=1e-5, atol=1e-6)
        for got, expected in zip(grads, eager_grads, strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
        eager_bytes = saved_bytes(lambda: loss(x, y), [x, y])
        compiled_bytes = saved_bytes(lambda: compiled(x, y), [x, y])
        assert compiled_bytes <= eager_bytes + SLACK, (name, compiled_bytes, eager_bytes)
    finally:
        set_kernels("auto")
        torch._dynamo.reset()


@pytest.mark.parametrize("name", list(POINTWISE_CASES))
def test_pointwise_and_boxes_compiled_keep_eager_saved_bytes(name):
    _check_fused(name, dynamic=False)


@pytest.mark.parametrize("name", ["log_cosh", "gaussian_nll", "box giou", "box ciou"])
def test_pointwise_and_boxes_compiled_dynamic(name):
    _check_fused(name, dynamic=True)


@pytest.mark.parametrize("name", ["charbonnier", "gaussian_nll", "box diou"])
def test_pointwise_and_boxes_compiled_target_grad(name):
    """A target that requires grad takes the ``<name>_target`` op (both gradients)."""
    _check_fused(name, dynamic=False, target_grad=True, backend="aot_eager")


def _opcheck_pair(op, args):
    assert op.register()
    torch.library.opcheck(getattr(torch.ops.visionloss, op.name.split("::")[1]).default, args)


@pytest.mark.parametrize(
    ("ops", "options"),
    [
        ("_LOG_COSH_OPS", ()),
        ("_CHARBONNIER_OPS", (1e-3,)),
        ("_ROBUST_OPS", (0.0, 0.5)),
        ("_ROBUST_OPS", (math.inf, 2.0)),
    ],
)
@pytest.mark.parametrize("target_grad", [False, True])
def test_opcheck_pointwise(ops, options, target_grad):
    x, y = _pair((3, 7), target_grad=target_grad)
    op = getattr(pointwise_kernels, ops)[1 if target_grad else 0]
    _opcheck_pair(op, (x, y if target_grad else y.detach(), *options))


@pytest.mark.parametrize("target_grad", [False, True])
def test_opcheck_gaussian_nll(target_grad):
    mean, y = _pair((3, 7), target_grad=target_grad)
    logvar = (0.1 * torch.randn(3, 1)).requires_grad_()  # broadcast over the last axis
    op = pointwise_kernels._NLL_OPS[1 if target_grad else 0]
    _opcheck_pair(op, (mean, logvar, y if target_grad else y.detach(), False))


@pytest.mark.parametrize("kind", list(box_kernels.BOX_LOSS_KINDS))
@pytest.mark.parametrize("target_grad", [False, True])
def test_opcheck_boxes(kind, target_grad):
    p, t = _boxes(12, target_grad=target_grad)
    op = box_kernels._BOX_OPS[1 if target_grad else 0]
    _opcheck_pair(op, (p, t if target_grad else t.detach(), kind, "xywh", 1e-7))


# --- BCE with logits (kernels/bce.py): torch's kernel eagerly, a custom op while compiling -------


@pytest.mark.parametrize("with_pos_weight", [False, True])
@pytest.mark.parametrize("dynamic", [False, True])
def test_bce_compiled_keeps_only_its_inputs(with_pos_weight, dynamic):
    """Traced through, BCE let the partitioner keep full-size intermediates (50000x80: 15 MiB
    against none eagerly); the op saves the inputs only and gives torch's value and gradient."""
    x, t = _multilabel((64, 20))
    pos_weight = torch.rand(20) + 0.5 if with_pos_weight else None

    def loss(x, t):
        return VF.binary_cross_entropy(x, t, pos_weight=pos_weight)

    seen: list[str] = []
    torch._dynamo.reset()
    try:
        compiled = torch.compile(
            loss, fullgraph=True, dynamic=dynamic, backend=_recording_backend(seen)
        )
        value = compiled(x, t)
        (grad,) = torch.autograd.grad(value, x)
        expected = torch.nn.functional.binary_cross_entropy_with_logits(
            x, t, pos_weight=pos_weight
        )
        (expected_grad,) = torch.autograd.grad(expected, x)
        torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(grad, expected_grad, rtol=1e-6, atol=1e-8)
        assert "visionloss.bce_with_logits.default" in seen
        assert "visionloss.bce_with_logits_backward.default" in seen
        assert saved_bytes(lambda: compiled(x, t), [x, t]) <= SLACK
    finally:
        torch._dynamo.reset()


def test_bce_compiled_with_inductor_saves_nothing_extra():
    x, t = _multilabel((64, 20))
    torch._dynamo.reset()
    try:
        compiled = torch.compile(lambda x, t: VF.binary_cross_entropy(x, t), fullgraph=True)
        torch.testing.assert_close(
            compiled(x, t), torch.nn.functional.binary_cross_entropy_with_logits(x, t)
        )
        assert saved_bytes(lambda: compiled(x, t), [x, t]) <= SLACK
    finally:
        torch._dynamo.reset()


@pytest.mark.parametrize("with_pos_weight", [False, True])
def test_opcheck_bce(with_pos_weight):
    from visionloss.kernels import bce

    x, t = _multilabel((6, 5))
    assert bce._BCE_OP.register()
    args = (x, t, torch.rand(5) + 0.5 if with_pos_weight else None)
    torch.library.opcheck(torch.ops.visionloss.bce_with_logits.default, args)
