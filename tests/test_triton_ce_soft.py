"""The Triton kernels of softmax cross-entropy with probability (soft) targets
(``kernels/triton/cross_entropy_soft.py``) against the op's reference
(``kernels.cross_entropy.cross_entropy_probs_reference``) and torch's own ``F.cross_entropy``
with probability targets, on CPU under the Triton interpreter (``TRITON_INTERPRET=1``, set before
triton is imported).

Expected values: those references differentiated by autograd in float64, or on the float32 cast
of a half / bfloat16 input. Shapes are small and odd (S = 37, C = 5: partial blocks and padded
class chunks) because the interpreter is slow.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import visionloss.functional as VF
from triton_interpreter import import_interpreted
from visionloss._core.memory import saved_bytes
from visionloss.kernels import set_kernels
from visionloss.kernels.cross_entropy import (
    cross_entropy_probs,
    cross_entropy_probs_reference,
)

soft = import_interpreted("visionloss.kernels.triton.cross_entropy_soft")

pytestmark = pytest.mark.usefixtures("triton_interpreter")

F64 = dict(rtol=1e-12, atol=1e-12)


def _grad(out, x, grad_out):
    (grad,) = torch.autograd.grad(out, x, grad_out)
    return grad


def _logits(gen, shape, dtype=torch.float64, scale=3.0):
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * scale
    return x.to(dtype).requires_grad_(True)


def _probs(gen, shape, dtype=torch.float64):
    """Probabilities over dim 1, some of them exactly 0 (a soft target with holes)."""
    q = torch.softmax(torch.randn(shape, generator=gen, dtype=torch.float64) * 2, dim=1)
    q = torch.where(torch.rand(shape, generator=gen) < 0.2, 0.0, q)
    return q.to(dtype)


def _class_weight(gen, c):
    w = torch.rand(c, generator=gen, dtype=torch.float64) + 0.1
    w[1] = 0.0  # a class of weight 0
    return w


SHAPES = [(3, 5, 37), (6, 7), (2, 3, 5, 6)]
SHAPE_IDS = ["1d", "rows", "2d"]


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("weighted", [False, True], ids=["", "class_weight"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_matches_reference_and_torch(gen, shape, weighted, smoothing):
    """float64: the kernel equals the op's reference and ``F.cross_entropy`` with probability
    targets (``weight=class_weight``: the class weight multiplies each class's term, inside the
    loss), values and gradients, with ``grad_out != 1``."""
    x = _logits(gen, shape)
    q = _probs(gen, shape)
    cw = _class_weight(gen, shape[1]) if weighted else None
    grad_out = torch.randn(x.shape[:1] + x.shape[2:], generator=gen, dtype=torch.float64)
    options = dict(class_weight=cw, label_smoothing=smoothing)
    ours = soft.cross_entropy_probs_triton(x, q, **options)
    ref = cross_entropy_probs_reference(x, q, **options)
    torch_ref = F.cross_entropy(x, q, weight=cw, label_smoothing=smoothing, reduction="none")
    assert ours.shape == grad_out.shape and ours.dtype == torch.float64
    torch.testing.assert_close(ours, ref, **F64)
    torch.testing.assert_close(ours, torch_ref, **F64)
    grad = _grad(ours, x, grad_out)
    torch.testing.assert_close(grad, _grad(ref, x, grad_out), **F64)
    torch.testing.assert_close(grad, _grad(torch_ref, x, grad_out), **F64)


def test_gradient_formula(gen):
    """The closed form the backward kernel writes, g (W softmax(x) - w q'), W = sum_k w_k q'_k,
    derived by hand, against the kernel (float64, class weights and smoothing)."""
    x = _logits(gen, (4, 5))
    q = _probs(gen, (4, 5))
    cw = _class_weight(gen, 5)
    s = 0.2
    g = torch.randn(4, generator=gen, dtype=torch.float64)
    wq = cw * (q * (1 - s) + s / 5)
    expected = g[:, None] * (torch.softmax(x.detach(), 1) * wq.sum(1, keepdim=True) - wq)
    ours = soft.cross_entropy_probs_triton(x, q, class_weight=cw, label_smoothing=s)
    torch.testing.assert_close(_grad(ours, x, g), expected, **F64)


@pytest.mark.parametrize("rows", [False, True], ids=["maps", "rows"])
def test_several_class_chunks(gen, monkeypatch, rows):
    """Class chunks smaller than C (the online log-sum-exp and the weighted sum rescale across
    chunks, the last chunk partial; the backward's two-loop path) and position blocks smaller
    than S."""
    monkeypatch.setattr(soft, "MAX_BLOCK_C", 4)
    monkeypatch.setattr(soft, "MAX_ROW_BLOCK_C", 4)
    monkeypatch.setattr(soft, "TILE_ELEMENTS", 64)
    shape = (9, 11) if rows else (2, 11, 23)
    x = _logits(gen, shape, scale=6.0)
    q = _probs(gen, shape)
    cw = _class_weight(gen, 11)
    grad_out = torch.randn(x.shape[:1] + x.shape[2:], generator=gen, dtype=torch.float64)
    for options in (dict(), dict(class_weight=cw, label_smoothing=0.3)):
        ours = soft.cross_entropy_probs_triton(x, q, **options)
        ref = cross_entropy_probs_reference(x, q, **options)
        torch.testing.assert_close(ours, ref, **F64)
        torch.testing.assert_close(_grad(ours, x, grad_out), _grad(ref, x, grad_out), **F64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("shape", [(2, 5, 37), (2, 5, 3, 4)], ids=["1d", "2d"])
def test_low_precision(gen, dtype, shape):
    """float32 math: the loss of a half / bfloat16 input and target (computed in float32, as
    the library asks with ``dtype=float32``) matches the reference on the float32 casts; the
    gradient comes back in the input's dtype."""
    x = _logits(gen, shape, dtype)
    q = _probs(gen, shape, dtype)
    cw = _class_weight(gen, 5).float()
    grad_out = torch.randn(x.shape[:1] + x.shape[2:], generator=gen)
    options = dict(class_weight=cw, label_smoothing=0.1, dtype=torch.float32)
    ours = soft.cross_entropy_probs_triton(x, q, **options)
    grad = _grad(ours, x, grad_out)
    ref_x = x.detach().float().requires_grad_(True)
    ref = cross_entropy_probs_reference(ref_x, q.float(), **options)
    assert ours.dtype == torch.float32 and grad.dtype == dtype
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(grad.float(), _grad(ref, ref_x, grad_out), rtol=2 * eps, atol=1e-6)
    # the default compute dtype is the logits' own (the reference's rule)
    assert soft.cross_entropy_probs_triton(x, q).dtype == dtype


def test_channels_last_and_strided(gen):
    """Logits and target read in place with their own strides: channels_last logits with a
    contiguous target and the other way round, a sliced batch, an expanded target, rows of a
    transposed matrix."""
    x = _logits(gen, (2, 4, 5, 6)).detach()
    q = _probs(gen, (2, 4, 5, 6))
    grad_out = torch.randn(2, 5, 6, generator=gen, dtype=torch.float64)
    cw = _class_weight(gen, 4)
    for xi, qi in (
        (x.to(memory_format=torch.channels_last), q),
        (x, q.to(memory_format=torch.channels_last)),
    ):
        xi = xi.clone(memory_format=torch.preserve_format).requires_grad_(True)
        ours = soft.cross_entropy_probs_triton(xi, qi, class_weight=cw, label_smoothing=0.1)
        ref = cross_entropy_probs_reference(xi, qi, class_weight=cw, label_smoothing=0.1)
        torch.testing.assert_close(ours, ref, **F64)
        grad = _grad(ours, xi, grad_out)
        torch.testing.assert_close(grad, _grad(ref, xi, grad_out), **F64)
        assert grad.stride() == xi.stride()
    big = _logits(gen, (4, 3, 40))
    sliced = big[::2, :, 1:38]
    expanded = _probs(gen, (1, 3, 37)).expand(2, 3, 37)
    ours = soft.cross_entropy_probs_triton(sliced, expanded)
    ref = cross_entropy_probs_reference(sliced, expanded)
    torch.testing.assert_close(ours, ref, **F64)
    g = torch.randn(2, 37, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(_grad(ours, big, g), _grad(ref, big, g), **F64)
    rows = _logits(gen, (7, 9)).detach().t()  # (9, 7), column-major: classes strided
    q_rows = _probs(gen, (9, 7))
    torch.testing.assert_close(
        soft.cross_entropy_probs_triton(rows, q_rows),
        cross_entropy_probs_reference(rows, q_rows),
        **F64,
    )


def test_second_derivative_is_the_references(gen):
    """A differentiated backward (create_graph=True) is the reference's gradient as a graph:
    the Hessian-vector product through the kernel equals the one through plain torch."""
    for shape in ((2, 5, 7), (3, 4)):
        x = _logits(gen, shape)
        q = _probs(gen, shape)
        cw = _class_weight(gen, shape[1])
        options = dict(class_weight=cw, label_smoothing=0.1)
        weights = torch.randn(x.shape[:1] + x.shape[2:], generator=gen, dtype=torch.float64)
        v = torch.randn(shape, generator=gen, dtype=torch.float64)
        results = []
        for fn in (soft.cross_entropy_probs_triton, cross_entropy_probs_reference):
            (grad,) = torch.autograd.grad(fn(x, q, **options), x, weights, create_graph=True)
            (hvp,) = torch.autograd.grad(grad, x, v)
            results.append((grad, hvp))
        torch.testing.assert_close(results[0][0], results[1][0], **F64)
        torch.testing.assert_close(results[0][1], results[1][1], **F64)


def test_saves_only_inputs_and_one_value_per_position(gen):
    for dtype in (torch.float32, torch.bfloat16):
        x = _logits(gen, (2, 5, 3, 4), dtype)
        q = _probs(gen, (2, 5, 3, 4), dtype)
        cw = _class_weight(gen, 5).float()

        def run(x=x, q=q, cw=cw):
            return soft.cross_entropy_probs_triton(
                x, q, class_weight=cw, label_smoothing=0.1, dtype=torch.float32
            )

        # the float32 log-sum-exp of each position (the class weights are the caller's tensor)
        assert saved_bytes(run, (x, q, cw)) == 2 * 3 * 4 * 4


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy overflow in the interpreter
def test_extreme_logits_nan_empty_deterministic(gen):
    x = _logits(gen, (2, 5, 37), torch.float32, scale=1e4)
    q = _probs(gen, (2, 5, 37), torch.float32)
    with torch.no_grad():
        x[0, :, :2] = torch.tensor([[1e4], [-1e4], [1e4], [-1e4], [0.0]])
    results = []
    for _ in range(2):
        out = soft.cross_entropy_probs_triton(x, q, label_smoothing=0.1)
        results.append((out, _grad(out, x, torch.ones_like(out))))
    assert all(torch.isfinite(t).all() for t in results[0])
    assert all(torch.equal(a, b) for a, b in zip(*results, strict=True))
    nan_x = torch.randn(1, 3, 7, dtype=torch.float64)
    nan_x[0, 1, 4] = float("nan")
    out = soft.cross_entropy_probs_triton(nan_x, _probs(gen, (1, 3, 7)))
    assert out[0, 4].isnan() and out.isnan().sum() == 1
    empty = torch.zeros(0, 3, 5, requires_grad=True)
    out = soft.cross_entropy_probs_triton(empty, torch.zeros(0, 3, 5))
    assert out.shape == (0, 5) and _grad(out.sum(), empty, None).shape == empty.shape


def test_not_covered_and_wrong_shapes(gen, monkeypatch):
    x = torch.randn(2, 3, 7, generator=gen)
    q = _probs(gen, (2, 3, 7), torch.float32)
    assert soft.covers(x, q) and soft.covers(x, q, torch.ones(3), torch.float32)
    needs_grad = q.clone().requires_grad_(True)
    assert not soft.covers(x, needs_grad)
    with torch.no_grad():
        assert soft.covers(x, needs_grad)  # nothing to differentiate
    cases = [
        (lambda: soft.cross_entropy_probs_triton(x, needs_grad), "requires grad"),
        (lambda: soft.cross_entropy_probs_triton(x, q.long()), "dtype"),
        (lambda: soft.cross_entropy_probs_triton(x.to(torch.complex64), q), "dtype"),
        (lambda: soft.cross_entropy_probs_triton(x, q, dtype=torch.int32), "dtype"),
        (lambda: soft.cross_entropy_probs_triton(x, q, class_weight=torch.ones(3, 1)), "class_w"),
    ]
    for run, match in cases:
        with pytest.raises(NotImplementedError, match=match):
            run()
    with pytest.raises(ValueError, match="target"):
        soft.cross_entropy_probs_triton(x, q[:, :2])
    with pytest.raises(ValueError, match="class_weight"):
        soft.cross_entropy_probs_triton(x, q, class_weight=torch.ones(4))
    monkeypatch.delenv("TRITON_INTERPRET")
    assert not soft.covers(x, q)
    with pytest.raises(NotImplementedError, match="cpu"):
        soft.cross_entropy_probs_triton(x, q)


def _count_calls(monkeypatch):
    calls = []
    original = soft.cross_entropy_probs_triton
    monkeypatch.setattr(
        soft, "cross_entropy_probs_triton", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    return calls


WEIGHTED = {"class_weight": [0.5, 0.0, 2.0, 1.0], "label_smoothing": 0.2}


@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (5, 4)], ids=["2d", "rows"])
@pytest.mark.parametrize("options", [{}, WEIGHTED], ids=["", "weighted"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_forced_triton_backend_runs_the_loss_through_the_kernel(
    gen, monkeypatch, shape, options, reduction
):
    """VISIONLOSS_KERNELS=triton sends ``cross_entropy`` with probability targets through the
    kernel (interpreted on CPU): the same values and gradients as the reference backend and as
    ``F.cross_entropy`` (its mean over positions, the class weights inside)."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    calls = _count_calls(monkeypatch)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    q = _probs(gen, shape)
    results = {}
    for backend in ("triton", "reference"):
        set_kernels(backend)
        xi = x.clone().requires_grad_(True)
        value = VF.cross_entropy(xi, q, reduction=reduction, **options)
        results[backend] = (value, _grad(value * 1.7, xi, None))
    set_kernels("auto")
    assert calls, "the triton backend did not run the kernel"
    torch.testing.assert_close(results["triton"][0], results["reference"][0])
    torch.testing.assert_close(results["triton"][1], results["reference"][1])
    cw = options.get("class_weight")
    expected = F.cross_entropy(
        x,
        q,
        weight=None if cw is None else torch.tensor(cw, dtype=torch.float64),
        label_smoothing=options.get("label_smoothing", 0.0),
        reduction=reduction,
    )
    torch.testing.assert_close(results["triton"][0], expected)


def test_dispatch(gen, monkeypatch):
    """``auto`` on CPU keeps the reference (the kernel is a CUDA path); forced ``triton`` raises
    on a call the kernel does not cover (a target that requires grad) rather than falling back;
    ``reference`` differentiates the target."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    calls = _count_calls(monkeypatch)
    x = torch.randn(2, 3, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    q = _probs(gen, (2, 3, 7)).requires_grad_(True)
    set_kernels("auto")
    cross_entropy_probs(x, q.detach()).sum().backward()
    assert not calls
    set_kernels("triton")
    with pytest.raises(NotImplementedError, match="does not cover"):
        VF.cross_entropy(x, q)
    cross_entropy_probs(x, q.detach())
    assert calls
    set_kernels("reference")
    (grad_q,) = torch.autograd.grad(VF.cross_entropy(x, q), q)
    assert grad_q.abs().sum() > 0
    set_kernels("auto")
