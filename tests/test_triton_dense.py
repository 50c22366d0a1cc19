"""The Triton kernels of the dense and pointwise losses (cross-entropy, sigmoid and softmax focal,
log-cosh, Charbonnier, Huber, Smooth L1) against the plain PyTorch references, on CPU under the
Triton interpreter (``TRITON_INTERPRET=1``, set before triton is imported).

Expected values: the references of ``visionloss.kernels`` (or torch's own ``F.cross_entropy``,
``F.huber_loss``, ``F.smooth_l1_loss``) differentiated by autograd in float64, or on the float32
cast of a half / bfloat16 input. Shapes are small and odd (S = 37, C = 5: partial blocks and
padded class chunks) because the interpreter is slow.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from triton_interpreter import import_interpreted
from visionloss._core.memory import saved_bytes
from visionloss.kernels.cross_entropy import cross_entropy_ids_reference
from visionloss.kernels.focal import (
    sigmoid_focal_reference,
    softmax_focal_reference,
)
from visionloss.kernels.pointwise import log_cosh_stable

ce = import_interpreted("visionloss.kernels.triton.cross_entropy")
focal = import_interpreted("visionloss.kernels.triton.focal")
pw = import_interpreted("visionloss.kernels.triton.pointwise")

pytestmark = pytest.mark.usefixtures("triton_interpreter")

F64 = dict(rtol=1e-12, atol=1e-12)


def _grads(out, inputs, grad_out):
    return torch.autograd.grad(out, inputs, grad_out)


def _logits(gen, shape, dtype=torch.float64, scale=3.0):
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * scale
    return x.to(dtype).requires_grad_(True)


def _ids(gen, shape, num_classes, ignore_index=None, frac=0.25):
    n, _, *spatial = shape
    t = torch.randint(0, num_classes, (n, *spatial), generator=gen)
    if ignore_index is not None:
        t = torch.where(torch.rand(t.shape, generator=gen) < frac, ignore_index, t)
    return t


def _class_weight(gen, c):
    w = torch.rand(c, generator=gen, dtype=torch.float64) + 0.1
    w[1] = 0.0  # a class of weight 0
    return w


# --- cross-entropy -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 5, 37), (6, 7), (2, 3, 5, 6), (1, 4, 3, 4, 5)],
                         ids=["1d", "rows", "2d", "3d"])  # fmt: skip
@pytest.mark.parametrize("weighted", [False, True], ids=["", "class_weight"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_ce_ids_matches_reference(gen, shape, weighted, smoothing):
    x = _logits(gen, shape)
    t = _ids(gen, shape, shape[1])
    cw = _class_weight(gen, shape[1]) if weighted else None
    grad_out = torch.randn(t.shape, generator=gen, dtype=torch.float64)
    options = dict(class_weight=cw, label_smoothing=smoothing)
    ours = ce.cross_entropy_ids_triton(x, t, **options)
    ref = cross_entropy_ids_reference(x, t, **options)
    assert ours.shape == t.shape and ours.dtype == torch.float64
    torch.testing.assert_close(ours, ref, **F64)
    torch.testing.assert_close(_grads(ours, x, grad_out), _grads(ref, x, grad_out), **F64)


@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("weighted", [False, True], ids=["", "class_weight"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_ce_torch_semantics_with_ignore_index(gen, ignore_index, weighted, smoothing):
    """``cross_entropy_triton`` is ``F.cross_entropy(reduction="none")``: torch's weighting,
    0 (and a zero gradient) at ignored positions, fully ignored samples included."""
    shape = (3, 5, 37)
    x = _logits(gen, shape)
    t = _ids(gen, shape, 5, ignore_index)
    t[1] = ignore_index  # a sample with every position ignored
    cw = _class_weight(gen, 5) if weighted else None
    grad_out = torch.randn(t.shape, generator=gen, dtype=torch.float64)
    ours = ce.cross_entropy_triton(
        x, t, class_weight=cw, ignore_index=ignore_index, label_smoothing=smoothing
    )
    ref = F.cross_entropy(
        x, t, weight=cw, ignore_index=ignore_index, label_smoothing=smoothing, reduction="none"
    )
    torch.testing.assert_close(ours, ref, **F64)
    (grad,) = _grads(ours, x, grad_out)
    torch.testing.assert_close((grad,), _grads(ref, x, grad_out), **F64)
    assert not ours[1].any() and not grad[1].any()


@pytest.mark.parametrize("rows", [False, True], ids=["maps", "rows"])
def test_ce_several_class_chunks(gen, monkeypatch, rows):
    """Class chunks smaller than C (the online log-sum-exp rescales across chunks, the last
    chunk partial) and position blocks smaller than S."""
    monkeypatch.setattr(ce, "MAX_BLOCK_C", 4)
    monkeypatch.setattr(ce, "MAX_ROW_BLOCK_C", 4)
    monkeypatch.setattr(ce, "TILE_ELEMENTS", 64)
    shape = (9, 11) if rows else (2, 11, 23)
    x = _logits(gen, shape, scale=6.0)
    t = _ids(gen, shape, 11)
    cw = _class_weight(gen, 11)
    grad_out = torch.randn(t.shape, generator=gen, dtype=torch.float64)
    for options in (dict(), dict(class_weight=cw, label_smoothing=0.3)):
        ours = ce.cross_entropy_ids_triton(x, t, **options)
        ref = cross_entropy_ids_reference(x, t, **options)
        torch.testing.assert_close(ours, ref, **F64)
        torch.testing.assert_close(_grads(ours, x, grad_out), _grads(ref, x, grad_out), **F64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_ce_low_precision(gen, dtype):
    """float32 math: the loss of a half / bfloat16 input (computed in float32, as the library
    asks with ``dtype=float32``) matches the reference on the float32 cast; the gradient comes
    back in the input's dtype."""
    shape = (2, 5, 37)
    x = _logits(gen, shape, dtype)
    t = _ids(gen, shape, 5)
    cw = _class_weight(gen, 5).float()
    grad_out = torch.randn(t.shape, generator=gen)
    options = dict(class_weight=cw, label_smoothing=0.1, dtype=torch.float32)
    ours = ce.cross_entropy_ids_triton(x, t, **options)
    (grad,) = _grads(ours, x, grad_out)
    ref_x = x.detach().float().requires_grad_(True)
    ref = cross_entropy_ids_reference(ref_x, t, **options)
    assert ours.dtype == torch.float32 and grad.dtype == dtype
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(
        grad.float(), _grads(ref, ref_x, grad_out)[0], rtol=2 * eps, atol=1e-6
    )
    # the default compute dtype is the logits' own (the reference's rule)
    assert ce.cross_entropy_ids_triton(x, t).dtype == dtype
    torch_semantics = ce.cross_entropy_triton(x, t)
    assert torch_semantics.dtype == torch.float32


def test_ce_channels_last_and_strided(gen):
    x = _logits(gen, (2, 4, 5, 6)).detach()
    x_cl = x.to(memory_format=torch.channels_last).requires_grad_(True)
    t = _ids(gen, (2, 4, 5, 6), 4)
    grad_out = torch.randn(t.shape, generator=gen, dtype=torch.float64)
    ours = ce.cross_entropy_ids_triton(x_cl, t, label_smoothing=0.1)
    ref = cross_entropy_ids_reference(x_cl, t, label_smoothing=0.1)
    torch.testing.assert_close(ours, ref, **F64)
    (grad,) = _grads(ours, x_cl, grad_out)
    torch.testing.assert_close((grad,), _grads(ref, x_cl, grad_out), **F64)
    assert grad.is_contiguous(memory_format=torch.channels_last)
    # a sliced batch and an expanded target, read in place; rows of a transposed matrix
    big = _logits(gen, (4, 3, 40))
    expanded = torch.randint(0, 3, (1, 37), generator=gen).expand(2, 37)
    sliced = big[::2, :, 1:38]
    ours = ce.cross_entropy_ids_triton(sliced, expanded)
    torch.testing.assert_close(ours, cross_entropy_ids_reference(sliced, expanded), **F64)
    rows = _logits(gen, (7, 9)).detach().t()  # (9, 7), column-major: classes strided
    t = torch.randint(0, 7, (9,), generator=gen)
    torch.testing.assert_close(
        ce.cross_entropy_ids_triton(rows, t), cross_entropy_ids_reference(rows, t), **F64
    )


# --- focal -------------------------------------------------------------------------------------


def _alpha(gen, kind, shape):
    if kind == "none":
        return None
    if kind == "scalar":
        return 0.3
    return torch.rand(shape, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 2.5])
@pytest.mark.parametrize("alpha", ["none", "scalar", "tensor"])
def test_sigmoid_focal_matches_reference(gen, gamma, alpha):
    shape = (3, 4, 37)
    x = _logits(gen, shape)
    a = _alpha(gen, alpha, (4, 1))  # broadcast over the positions: read with zero strides
    grad_out = torch.randn(shape, generator=gen, dtype=torch.float64)
    targets = [
        (torch.rand(shape, generator=gen, dtype=torch.float64), None),  # soft targets
        (_ids(gen, (3, 1, 4, 37), 2, -100).view(shape), -100),  # 0/1 ids, ignored read as 0
        (torch.rand(shape, generator=gen) < 0.3, -100),  # bool
    ]
    for t, ignore_index in targets:
        options = dict(alpha=a, gamma=gamma, ignore_index=ignore_index)
        ours = focal.sigmoid_focal(x, t, **options)
        ref = sigmoid_focal_reference(x, t, **options)
        assert ours.dtype == torch.float64
        torch.testing.assert_close(ours, ref, **F64)
        torch.testing.assert_close(_grads(ours, x, grad_out), _grads(ref, x, grad_out), **F64)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha", ["none", "scalar", "tensor"])
@pytest.mark.parametrize("ignore_index", [None, -100, 1])
def test_softmax_focal_matches_reference(gen, gamma, alpha, ignore_index):
    shape = (3, 5, 37)
    x = _logits(gen, shape)
    t = _ids(gen, shape, 5, ignore_index if ignore_index is not None and ignore_index < 0 else None)
    if ignore_index is not None:
        t[1] = ignore_index  # a fully ignored sample: computed as class 0, as the reference
    a = _alpha(gen, alpha, (5,))
    grad_out = torch.randn(t.shape, generator=gen, dtype=torch.float64)
    options = dict(alpha=a, gamma=gamma, ignore_index=ignore_index)
    ours = focal.softmax_focal(x, t, **options)
    ref = softmax_focal_reference(x, t, **options)
    torch.testing.assert_close(ours, ref, **F64)
    torch.testing.assert_close(_grads(ours, x, grad_out), _grads(ref, x, grad_out), **F64)


def test_softmax_focal_rows_and_3d(gen, monkeypatch):
    monkeypatch.setattr(ce, "MAX_ROW_BLOCK_C", 4)  # several class chunks of (N, C) rows
    for shape in ((6, 9), (1, 3, 3, 4, 5)):
        x = _logits(gen, shape)
        t = _ids(gen, shape, shape[1])
        grad_out = torch.randn(t.shape, generator=gen, dtype=torch.float64)
        options = dict(alpha=0.25, gamma=2.0, ignore_index=-100)
        ours = focal.softmax_focal(x, t, **options)
        ref = softmax_focal_reference(x, t, **options)
        torch.testing.assert_close(ours, ref, **F64)
        torch.testing.assert_close(_grads(ours, x, grad_out), _grads(ref, x, grad_out), **F64)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_focal_low_precision(gen, dtype):
    shape = (2, 5, 37)
    x = _logits(gen, shape, dtype)
    ref_x = x.detach().float().requires_grad_(True)
    eps = torch.finfo(dtype).eps
    t = torch.rand(shape, generator=gen)
    grad_out = torch.randn(shape, generator=gen)
    ids = _ids(gen, shape, 5)
    grad_ids = torch.randn(ids.shape, generator=gen)
    for fn, ref_fn, target, g in (
        (focal.sigmoid_focal, sigmoid_focal_reference, t, grad_out),
        (focal.softmax_focal, softmax_focal_reference, ids, grad_ids),
    ):
        options = dict(alpha=0.25, gamma=2.0, ignore_index=None)
        ours = fn(x, target, **options)
        ref = ref_fn(ref_x, target, **options)
        (grad,) = _grads(ours, x, g)
        assert ours.dtype == torch.float32 and grad.dtype == dtype
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(grad.float(), _grads(ref, ref_x, g)[0], rtol=2 * eps, atol=1e-6)


# the pointwise kernels' own tests: tests/test_triton_pointwise.py


# --- shared properties -------------------------------------------------------------------------


def _all_ops(gen, dtype=torch.float32, scale=3.0):
    """``(name, run, inputs)`` of every kernel on small inputs."""
    shape = (2, 5, 37)
    x = _logits(gen, shape, dtype, scale=scale)
    ids = _ids(gen, shape, 5)
    y = torch.rand(shape, generator=gen).to(dtype)
    focal_options = dict(alpha=0.25, gamma=2.0, ignore_index=-100)
    return [
        ("ce", lambda: ce.cross_entropy_ids_triton(x, ids, label_smoothing=0.1), (x, ids)),
        ("ce_torch", lambda: ce.cross_entropy_triton(x, ids), (x, ids)),
        ("sigmoid_focal", lambda: focal.sigmoid_focal(x, y, **focal_options), (x, y)),
        ("softmax_focal", lambda: focal.softmax_focal(x, ids, **focal_options), (x, ids)),
        ("log_cosh", lambda: pw.log_cosh(x, y), (x, y)),
        ("charbonnier", lambda: pw.charbonnier(x, y, eps=1e-3), (x, y)),
        ("huber", lambda: pw.huber(x, y, delta=1.0), (x, y)),
        ("smooth_l1", lambda: pw.smooth_l1(x, y, beta=1.0), (x, y)),
    ]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy overflow in the interpreter
def test_extreme_logits_are_finite(gen):
    for name, run, (x, _) in _all_ops(gen, scale=1e4):
        with torch.no_grad():
            x.view(-1)[:4] = torch.tensor([1e4, -1e4, 1e4, -1e4])
        out = run()
        (grad,) = torch.autograd.grad(out, x, torch.randn(out.shape, generator=gen))
        assert torch.isfinite(out).all() and torch.isfinite(grad).all(), name


def test_deterministic(gen):
    for name, run, (x, _) in _all_ops(gen):
        results = []
        for _ in range(2):
            out = run()
            results.append((out, *torch.autograd.grad(out, x, torch.ones_like(out))))
        assert all(torch.equal(a, b) for a, b in zip(*results, strict=True)), name


def test_saves_only_inputs_and_one_value_per_position(gen):
    for name, run, inputs in _all_ops(gen):
        kept = saved_bytes(run, inputs)
        positions = inputs[0].numel() // inputs[0].shape[1]
        if name in ("ce", "ce_torch", "softmax_focal"):
            assert kept == positions * 4, name  # the float32 log-sum-exp of each position
        else:
            assert kept == 0, name


def test_second_derivative_is_the_references(gen):
    # a differentiated backward (create_graph=True) is the reference's gradient as a graph: the
    # Hessian-vector product through the kernel equals the one through plain torch (float64)
    references = {
        "ce": lambda x, ids, y: cross_entropy_ids_reference(x, ids, label_smoothing=0.1),
        "ce_torch": lambda x, ids, y: torch.nn.functional.cross_entropy(x, ids, reduction="none"),
        "sigmoid_focal": lambda x, ids, y: sigmoid_focal_reference(
            x, y, alpha=0.25, gamma=2.0, ignore_index=-100
        ),
        "softmax_focal": lambda x, ids, y: softmax_focal_reference(
            x, ids, alpha=0.25, gamma=2.0, ignore_index=-100
        ),
        "log_cosh": lambda x, ids, y: log_cosh_stable(x - y),
        "charbonnier": lambda x, ids, y: torch.sqrt((x - y) ** 2 + 1e-6) - 1e-3,
        "huber": lambda x, ids, y: torch.nn.functional.huber_loss(x, y, reduction="none"),
        "smooth_l1": lambda x, ids, y: torch.nn.functional.smooth_l1_loss(x, y, reduction="none"),
    }
    ops = _all_ops(gen, dtype=torch.float64)
    ids = ops[0][2][1]
    y = ops[2][2][1]
    for name, run, (x, _) in ops:
        out = run()
        weights = torch.randn(out.shape, generator=gen, dtype=torch.float64)
        (grad,) = torch.autograd.grad(out, x, weights, create_graph=True)
        v = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        (hvp,) = torch.autograd.grad(grad, x, v)
        ref_out = references[name](x, ids, y)
        (ref_grad,) = torch.autograd.grad(ref_out, x, weights, create_graph=True)
        (ref_hvp,) = torch.autograd.grad(ref_grad, x, v)
        torch.testing.assert_close(grad, ref_grad, msg=name)
        torch.testing.assert_close(hvp, ref_hvp, msg=name)


def test_nan_propagates():
    x = torch.randn(1, 3, 7, dtype=torch.float64)
    x[0, 1, 4] = float("nan")
    t = torch.zeros(1, 7, dtype=torch.long)
    assert ce.cross_entropy_ids_triton(x, t)[0, 4].isnan()
    assert focal.softmax_focal(x, t, alpha=None, gamma=2.0, ignore_index=None)[0, 4].isnan()
    assert (
        focal.sigmoid_focal(x, x.abs(), alpha=None, gamma=2.0, ignore_index=None).isnan().sum() == 1
    )
    for fn in (
        pw.log_cosh,
        lambda a, b: pw.charbonnier(a, b, eps=1e-3),
        lambda a, b: pw.huber(a, b, delta=0.7),
        lambda a, b: pw.smooth_l1(a, b, beta=0.3),
        lambda a, b: pw.smooth_l1(a, b, beta=0.0),
    ):
        assert fn(x, torch.zeros_like(x)).isnan().sum() == 1


def test_empty():
    x = torch.zeros(0, 3, 5, requires_grad=True)
    t = torch.zeros(0, 5, dtype=torch.long)
    for out in (
        ce.cross_entropy_ids_triton(x, t),
        focal.softmax_focal(x, t, alpha=None, gamma=2.0, ignore_index=None),
        focal.sigmoid_focal(x, x.detach(), alpha=None, gamma=2.0, ignore_index=None),
        pw.log_cosh(x, x.detach()),
    ):
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert grad.shape == x.shape


def test_not_covered(gen, monkeypatch):
    x = torch.randn(2, 3, 7, generator=gen)
    ids = torch.randint(0, 3, (2, 7), generator=gen)
    probs = torch.rand(2, 3, 7, generator=gen)
    assert ce.covers(x, ids) and focal.covers(x, ids, alpha=None, gamma=2.0, softmax=True)
    assert focal.covers(x, probs, alpha=0.25, gamma=2.0, softmax=False) and pw.covers(x, probs)
    cases = [
        (lambda: ce.cross_entropy_ids_triton(x, ids.float()), "dtype"),
        (lambda: ce.cross_entropy_ids_triton(x.to(torch.complex64), ids), "dtype"),
        (lambda: ce.cross_entropy_ids_triton(x, ids, dtype=torch.int32), "dtype"),
        (lambda: focal.softmax_focal(x, probs, alpha=None, gamma=2.0, ignore_index=None),
         "probability"),
        (lambda: focal.softmax_focal(x, ids, alpha=torch.ones(4), gamma=2.0, ignore_index=None),
         "alpha"),
        (lambda: focal.sigmoid_focal(x, probs.requires_grad_(True), alpha=None, gamma=2.0,
                                     ignore_index=None), "grad"),
        (lambda: focal.sigmoid_focal(x, probs[:, :1].detach(), alpha=None, gamma=2.0,
                                     ignore_index=None), "shape"),
        (lambda: focal.sigmoid_focal(x, probs.detach(), alpha=None, gamma=-1.0,
                                     ignore_index=None), "gamma"),
        (lambda: pw.huber(x, probs.detach()[:, :2], delta=1.0), "shape"),
        (lambda: pw.log_cosh(x.to(torch.complex64), x), "dtype"),
    ]  # fmt: skip
    for run, match in cases:
        with pytest.raises(NotImplementedError, match=match):
            run()
    assert not ce.covers(x, ids.float())
    assert not focal.covers(x, probs, alpha=None, gamma=2.0, softmax=True)
    monkeypatch.delenv("TRITON_INTERPRET")
    assert not ce.covers(x, ids) and not pw.covers(x, probs)
    assert not focal.covers(x, ids, alpha=None, gamma=2.0, softmax=True)
    for run in (lambda: ce.cross_entropy_ids_triton(x, ids), lambda: pw.log_cosh(x, probs)):
        with pytest.raises(NotImplementedError, match="cpu"):
            run()


def test_wrong_shapes_raise_value_error(gen):
    x = torch.randn(2, 3, 7, generator=gen)
    with pytest.raises(ValueError, match="target"):
        ce.cross_entropy_ids_triton(x, torch.zeros(2, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="class_weight"):
        ce.cross_entropy_ids_triton(x, torch.zeros(2, 7, dtype=torch.long),
                                    class_weight=torch.ones(4))  # fmt: skip


@pytest.mark.parametrize(
    ("loss", "make"),
    [
        (
            "cross_entropy",
            lambda g: (
                torch.randn(3, 4, 5, 6, generator=g, dtype=torch.float64),
                torch.randint(0, 4, (3, 5, 6), generator=g),
                {},
            ),
        ),
        (
            "focal_loss",
            lambda g: (
                torch.randn(3, 4, 5, generator=g, dtype=torch.float64),
                torch.randint(0, 4, (3, 5), generator=g),
                {"mode": "multiclass"},
            ),
        ),
        (
            "focal_loss",
            lambda g: (
                torch.randn(3, 1, 5, generator=g, dtype=torch.float64),
                torch.randint(0, 2, (3, 1, 5), generator=g).double(),
                {"mode": "binary", "alpha": 0.25},
            ),
        ),
        (
            "log_cosh_loss",
            lambda g: (
                torch.randn(3, 7, generator=g, dtype=torch.float64),
                torch.randn(3, 7, generator=g, dtype=torch.float64),
                {},
            ),
        ),
    ],
    ids=["cross_entropy", "softmax_focal", "sigmoid_focal", "log_cosh"],
)
def test_forced_triton_backend_runs_the_losses_through_the_kernels(gen, monkeypatch, loss, make):
    """VISIONLOSS_KERNELS=triton sends the losses through these kernels (interpreted on CPU):
    the same values and gradients as the reference backend."""
    import visionloss.functional as VF
    from visionloss.kernels import set_kernels

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    calls = []
    for module in (ce, focal, pw):
        for name in ("cross_entropy_ids_triton", "sigmoid_focal", "softmax_focal", "log_cosh"):
            original = getattr(module, name, None)
            if original is not None:
                monkeypatch.setattr(
                    module, name, lambda *a, _f=original, **k: calls.append(1) or _f(*a, **k)
                )
    x, t, options = make(gen)
    results = {}
    for backend in ("triton", "reference"):
        set_kernels(backend)
        xi = x.clone().requires_grad_(True)
        value = getattr(VF, loss)(xi, t, **options)
        (grad,) = torch.autograd.grad(value * 1.7, xi)
        results[backend] = (value, grad)
    set_kernels("auto")
    assert calls, "the triton backend did not run a kernel"
    torch.testing.assert_close(results["triton"][0], results["reference"][0])
    torch.testing.assert_close(results["triton"][1], results["reference"][1])
