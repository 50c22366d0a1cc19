"""The Triton overlap-statistics kernels against the plain PyTorch reference, on CPU under the
Triton interpreter (``TRITON_INTERPRET=1``, set before triton is imported).

Expected values: ``overlap_statistics_reference`` (autograd through plain torch ops) on the same
inputs in float64, or on the float32 cast of a half / bfloat16 input. Shapes are small and odd
(S = 37, C = 3 and 5: partial tiles and padded class blocks) because the interpreter is slow.
"""

from __future__ import annotations

import pytest
import torch

from triton_interpreter import import_interpreted
from visionloss._core.memory import saved_bytes
from visionloss.kernels.overlap import overlap_statistics_reference

tri = import_interpreted("visionloss.kernels.triton.overlap")

pytestmark = pytest.mark.usefixtures("triton_interpreter")

ACTIVATIONS = ("softmax", "sigmoid", "identity", "exp")


def _input(gen, shape, activation, dtype=torch.float64):
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 2
    if activation == "identity":
        x = torch.rand(shape, generator=gen, dtype=torch.float64)
    elif activation == "exp":
        x = torch.log_softmax(x, 1)
    return x.to(dtype).requires_grad_(True)


def _target(gen, shape, dense, ignore_index, *, probabilities=False):
    """``(N, S...)`` ids or ``(N, C, S...)`` 0-1 ints (or probabilities), about 20% ignored."""
    n, c, *spatial = shape
    if dense:
        if probabilities:
            return torch.rand(shape, generator=gen, dtype=torch.float64)
        t = torch.randint(0, 2, shape, generator=gen)
        drop = torch.rand(shape, generator=gen) < 0.2
    else:
        t = torch.randint(0, c, (n, *spatial), generator=gen)
        drop = torch.rand((n, *spatial), generator=gen) < 0.2
    if ignore_index is not None:
        t = torch.where(drop, ignore_index, t)
    return t


def _flat(x, t):
    n, c = x.shape[:2]
    t = t.reshape(n, c, -1) if t.dim() == x.dim() else t.reshape(n, -1)
    return x.reshape(n, c, -1), t


def _both(x, t, grad_out, **options):
    """Stats and input gradients (for a random grad_output) of the kernels and the reference."""
    xf, tf = _flat(x, t)
    ours = tri.overlap_statistics_triton(xf, tf, **options)
    (grad_ours,) = torch.autograd.grad(ours, x, grad_out)
    ref_x = x.detach().to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    ref_x.requires_grad_(True)
    rf, rt = _flat(ref_x, t)
    ref = overlap_statistics_reference(rf, rt, **options)
    (grad_ref,) = torch.autograd.grad(ref, ref_x, grad_out.to(ref.dtype))
    return ours, grad_ours, ref, grad_ref


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dense", [False, True], ids=["ids", "dense"])
@pytest.mark.parametrize("ignore_index", [None, -100])
@pytest.mark.parametrize("squared", [False, True])
def test_matches_reference(gen, activation, dense, ignore_index, squared):
    shape = (3, 5, 37)  # S = 37 fills no tile; C = 5 pads the class block to 8
    x = _input(gen, shape, activation)
    t = _target(gen, shape, dense, ignore_index)
    grad_out = torch.randn(4, 3, 5, generator=gen, dtype=torch.float64)
    options = dict(activation=activation, ignore_index=ignore_index, squared=squared)
    ours, grad_ours, ref, grad_ref = _both(x, t, grad_out, **options)
    assert ours.shape == (4, 3, 5) and ours.dtype == torch.float64
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_ours, grad_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "shape",
    [(1, 3, 37), (3, 3, 5, 7), (1, 5, 3, 4, 5), (3, 2, 2, 3, 7)],
    ids=["N1-1d", "2d", "3d-N1", "3d"],
)
@pytest.mark.parametrize("dense", [False, True], ids=["ids", "dense"])
def test_spatial_shapes(gen, shape, dense):
    x = _input(gen, shape, "softmax")
    t = _target(gen, shape, dense, -100)
    grad_out = torch.randn(4, shape[0], shape[1], generator=gen, dtype=torch.float64)
    options = dict(activation="softmax", ignore_index=-100, squared=False)
    ours, grad_ours, ref, grad_ref = _both(x, t, grad_out, **options)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_ours, grad_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_many_chunks_and_class_blocks(gen, monkeypatch, activation):
    """Tiny tiles and few programs: several tiles per chunk (the last one partial), several
    chunks per sample, and (sigmoid) several class blocks."""
    monkeypatch.setattr(tri, "TILE_ELEMENTS", 64)
    monkeypatch.setattr(tri, "MAX_BLOCK_C", 4)
    monkeypatch.setattr(tri, "INTERPRET_PROGRAMS", 4)
    shape = (2, 6, 101)
    x = _input(gen, shape, activation)
    for dense in (False, True):
        t = _target(gen, shape, dense, 3 if not dense else -100)
        grad_out = torch.randn(4, 2, 6, generator=gen, dtype=torch.float64)
        options = dict(activation=activation, ignore_index=3, squared=True)
        ours, grad_ours, ref, grad_ref = _both(x, t, grad_out, **options)
        torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(grad_ours, grad_ref, rtol=1e-12, atol=1e-12)


def test_probability_targets_and_other_dtypes(gen):
    """Dense float targets ignore nothing (as the reference); bool and uint8 targets decode as
    the reference decodes them."""
    shape = (2, 3, 37)
    x = _input(gen, shape, "sigmoid")
    grad_out = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64)
    targets = [
        _target(gen, shape, True, None, probabilities=True),  # float64 probabilities
        _target(gen, shape, True, None, probabilities=True).float(),  # float32 probabilities
        torch.rand(shape, generator=gen) < 0.5,  # bool
        torch.randint(0, 2, shape, generator=gen, dtype=torch.uint8),
        torch.randint(0, 3, (2, 37), generator=gen, dtype=torch.uint8),  # uint8 ids
        torch.randint(0, 3, (2, 37), generator=gen, dtype=torch.int32),  # int32 ids
    ]
    for t in targets:
        for ignore_index in (None, -100, 1):
            options = dict(activation="sigmoid", ignore_index=ignore_index, squared=False)
            ours, grad_ours, ref, grad_ref = _both(x, t, grad_out, **options)
            torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(grad_ours, grad_ref, rtol=1e-12, atol=1e-12)


def test_strided_inputs(gen):
    """channels_last logits, a sliced (non-contiguous) batch and an expanded target are read in
    place; the gradient of a channels_last input keeps its layout."""
    x = _input(gen, (2, 4, 5, 6), "softmax").detach()
    x_cl = x.to(memory_format=torch.channels_last).requires_grad_(True)
    t = _target(gen, (2, 4, 5, 6), False, -100)
    grad_out = torch.randn(4, 2, 4, generator=gen, dtype=torch.float64)
    options = dict(activation="softmax", ignore_index=-100, squared=True)
    ours, grad_ours, ref, grad_ref = _both(x_cl, t, grad_out, **options)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_ours, grad_ref, rtol=1e-12, atol=1e-12)
    assert grad_ours.is_contiguous(memory_format=torch.channels_last)

    big = _input(gen, (4, 3, 40), "softmax")
    sliced = big[::2, :, 1:38]  # (2, 3, 37), strides of the parent
    t = _target(gen, (2, 3, 37), False, None)
    expanded = torch.randint(0, 3, (1, 37), generator=gen).expand(2, 37)
    for target in (t, expanded):
        stats = tri.overlap_statistics_triton(
            sliced, target, activation="softmax", ignore_index=None, squared=False
        )
        (grad,) = torch.autograd.grad(stats, big, torch.ones_like(stats))
        ref_in = big.detach().clone().requires_grad_(True)
        ref = overlap_statistics_reference(
            ref_in[::2, :, 1:38], target, activation="softmax", ignore_index=None, squared=False
        )
        (grad_ref,) = torch.autograd.grad(ref, ref_in, torch.ones_like(ref))
        torch.testing.assert_close(stats, ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(grad, grad_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("dense", [False, True], ids=["ids", "dense"])
def test_low_precision(gen, dtype, dense):
    """float32 accumulation: the statistics of a half / bfloat16 input are float32 and match the
    reference on the float32 cast of the same (rounded) values; the gradient comes back in the
    input's dtype, within its rounding of the float32 gradient."""
    shape = (3, 5, 37)
    x = _input(gen, shape, "softmax", dtype)
    t = _target(gen, shape, dense, -100)
    grad_out = torch.randn(4, 3, 5, generator=gen)
    options = dict(activation="softmax", ignore_index=-100, squared=False)
    ours, grad_ours, ref, grad_ref = _both(x, t, grad_out, **options)
    assert ours.dtype == torch.float32 and grad_ours.dtype == dtype
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(grad_ours.float(), grad_ref, rtol=2 * eps, atol=1e-6)


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")  # numpy, in the interpreter
def test_extreme_logits_are_finite(gen):
    x = (torch.randn(2, 3, 37, generator=gen) * 1e4).requires_grad_(True)
    t = torch.randint(0, 3, (2, 37), generator=gen)
    for activation in ("softmax", "sigmoid"):
        stats = tri.overlap_statistics_triton(
            x, t, activation=activation, ignore_index=None, squared=True
        )
        (grad,) = torch.autograd.grad(stats, x, torch.randn(4, 2, 3, generator=gen))
        assert torch.isfinite(stats).all() and torch.isfinite(grad).all()


def test_nan_propagates(gen):
    x = torch.randn(1, 3, 37, generator=gen, dtype=torch.float64)
    x[0, 1, 4] = float("nan")
    t = torch.randint(0, 3, (1, 37), generator=gen)
    for ignore_index in (None, -100):
        if ignore_index is not None:
            t[0, 4] = ignore_index  # NaN at an ignored position still shows, as in the reference
        options = dict(activation="softmax", ignore_index=ignore_index, squared=False)
        ours = tri.overlap_statistics_triton(x, t, **options)
        ref = overlap_statistics_reference(x, t, **options)
        # P is NaN for every class, so is every loss built on it
        assert ours[1].isnan().all() and ref[1].isnan().all()
        if ignore_index is None:
            assert torch.equal(ours.isnan(), ref.isnan())
        # (with the position ignored the reference also puts the NaN into class 0's I, from the
        # placeholder class its gather uses there; the kernels gather no placeholder)


def test_empty(gen):
    for shape in ((0, 3, 5), (2, 3, 0)):
        x = torch.randn(shape, generator=gen, requires_grad=True)
        t = torch.zeros(shape[0], shape[2], dtype=torch.long)
        stats = tri.overlap_statistics_triton(
            x, t, activation="softmax", ignore_index=-100, squared=False
        )
        assert stats.shape == (4, shape[0], 3) and not stats.any()
        (grad,) = torch.autograd.grad(stats.sum(), x)
        assert grad.shape == x.shape


def test_deterministic(gen, monkeypatch):
    monkeypatch.setattr(tri, "TILE_ELEMENTS", 64)  # several chunks: the two-stage sum matters
    x = _input(gen, (2, 5, 301), "softmax", torch.float32)
    t = _target(gen, (2, 5, 301), False, -100)
    grad_out = torch.randn(4, 2, 5, generator=gen)
    runs = []
    for _ in range(2):
        stats = tri.overlap_statistics_triton(
            x, t, activation="softmax", ignore_index=-100, squared=False
        )
        runs.append((stats, *torch.autograd.grad(stats, x, grad_out)))
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))


@pytest.mark.parametrize("dense", [False, True], ids=["ids", "dense"])
def test_saves_only_inputs(gen, dense):
    """Nothing per element is kept for backward: the caller's input and target only (at most
    O(N*C) and one value per position are allowed)."""
    n, c, s = 2, 5, 37
    x = _input(gen, (n, c, s), "softmax", torch.float32)
    t = _target(gen, (n, c, s), dense, -100)
    kept = saved_bytes(
        lambda: tri.overlap_statistics_triton(
            x, t, activation="softmax", ignore_index=-100, squared=True
        ),
        [x, t],
    )
    assert kept <= 4 * n * c * 4 + n * s * 4
    assert kept == 0


@pytest.mark.parametrize(
    ("activation", "dense"), [("softmax", False), ("softmax", True), ("sigmoid", True)]
)
def test_second_derivative_is_exact(gen, activation, dense):
    """A differentiated backward (create_graph=True) returns the reference's gradient as a graph:
    gradgradcheck (numerical second derivatives) passes, with ignored positions."""
    x = _input(gen, (2, 3, 11), activation)
    t = _target(gen, (2, 3, 11), dense, -100)

    def stats(x):
        return tri.overlap_statistics_triton(
            x, t, activation=activation, ignore_index=-100, squared=True
        )

    assert torch.autograd.gradgradcheck(stats, (x,), eps=1e-6, atol=1e-5)


def test_not_covered(gen, monkeypatch):
    t = torch.zeros(1, 7, dtype=torch.long)
    options = dict(ignore_index=None, squared=False)
    wide = torch.randn(1, tri.MAX_SOFTMAX_CLASSES + 1, 7, generator=gen)
    assert not tri.covers(wide, t, "softmax")
    with pytest.raises(NotImplementedError, match="classes"):
        tri.overlap_statistics_triton(wide, t, activation="softmax", **options)
    # the elementwise activations have no class limit
    assert tri.covers(wide, t, "sigmoid")
    x = torch.randn(1, 3, 7, generator=gen)
    assert tri.covers(x, t, "softmax")
    uncovered = [
        (x, t.float(), "softmax"),  # float class ids
        (x.to(torch.complex64), t, "softmax"),
        (x, t, "tanh"),
    ]
    for args in uncovered:
        assert not tri.covers(*args)
        with pytest.raises(NotImplementedError):
            tri.overlap_statistics_triton(args[0], args[1], activation=args[2], **options)
    monkeypatch.delenv("TRITON_INTERPRET")
    assert not tri.covers(x, t, "softmax")  # a CPU tensor without the interpreter
    with pytest.raises(NotImplementedError, match="cpu"):
        tri.overlap_statistics_triton(x, t, activation="softmax", **options)


def test_wrong_target_shape(gen):
    x = torch.randn(2, 3, 7, generator=gen)
    with pytest.raises(ValueError, match="target"):
        tri.overlap_statistics_triton(
            x,
            torch.zeros(2, 6, dtype=torch.long),
            activation="softmax",
            ignore_index=None,
            squared=False,
        )


@pytest.mark.parametrize("loss", ["dice_loss", "tversky_loss", "dice_ce_loss"])
def test_forced_triton_backend_runs_the_losses_through_the_kernel(gen, monkeypatch, loss):
    """VISIONLOSS_KERNELS=triton sends the overlap losses through the kernel (interpreted on
    CPU): same values and gradients as the reference backend."""
    import visionloss.functional as VF
    from visionloss.kernels import set_kernels

    calls = []
    original = tri.overlap_statistics_triton
    monkeypatch.setattr(
        tri, "overlap_statistics_triton", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    x = torch.randn(2, 4, 5, 7, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 4, (2, 5, 7), generator=gen)
    t[0, 0, :3] = -100
    results = {}
    for backend in ("triton", "reference"):
        set_kernels(backend)
        xi = x.clone().requires_grad_(True)
        value = getattr(VF, loss)(xi, t, mode="multiclass")
        (grad,) = torch.autograd.grad(value * 1.7, xi)
        results[backend] = (value, grad)
    set_kernels("auto")
    assert calls, "the triton backend did not run the kernel"
    torch.testing.assert_close(results["triton"][0], results["reference"][0])
    torch.testing.assert_close(results["triton"][1], results["reference"][1])
