"""Embedding family: brute-force references of the mining rules, torch equality, properties, sync.

The generic sweep (test_contract.py) covers reductions, weights, module == function, empty input,
extreme inputs and compile for the catalogue rows; here are the facts specific to each loss. The
references below are explicit Python loops over pairs and triplets in float64, written from
DESIGN.md's definitions (they share no code with the vectorised implementation).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import visionloss
import visionloss.functional as VF
from distributed_utils import run_on_ranks

MININGS = ["batch_hard", "batch_all", "semi_hard"]
DISTANCES = ["euclidean", "squared_euclidean", "cosine"]


# --- brute-force references (float64, loops) ------------------------------------------------------


def _dist(x: torch.Tensor, y: torch.Tensor, distance: str) -> float:
    if distance == "cosine":
        nx, ny = max(float(x.norm()), 1e-8), max(float(y.norm()), 1e-8)
        return 1.0 - float(x @ y) / (nx * ny)
    squared = float(((x - y) ** 2).sum())
    if distance == "squared_euclidean":
        return squared
    return math.sqrt(max(squared, 1e-12))  # the documented floor: distances below 1e-6 read 1e-6


def _hinge(gap: float, margin: float, soft: bool) -> float:
    if soft:
        return max(gap, 0.0) + math.log1p(math.exp(-abs(gap)))  # softplus
    return max(gap + margin, 0.0)


def _members(labels, a):
    positives = [p for p in range(len(labels)) if p != a and labels[p] == labels[a]]
    negatives = [n for n in range(len(labels)) if labels[n] != labels[a]]
    return positives, negatives


def ref_batch_hard(x, labels, margin, distance, soft):
    """(none (B,), mean): per anchor the hardest positive and negative; mean over valid anchors."""
    labels = labels.tolist()
    none, kept = torch.zeros(len(labels), dtype=torch.float64), []
    for a in range(len(labels)):
        positives, negatives = _members(labels, a)
        if not positives or not negatives:
            continue
        hardest_p = max(_dist(x[a], x[p], distance) for p in positives)
        hardest_n = min(_dist(x[a], x[n], distance) for n in negatives)
        none[a] = _hinge(hardest_p - hardest_n, margin, soft)
        kept.append(float(none[a]))
    return none, sum(kept) / max(len(kept), 1)


def ref_batch_all(x, labels, margin, distance, soft):
    """(none (B, B, B), mean): every valid triplet; mean over the triplets with a positive loss."""
    labels = labels.tolist()
    b = len(labels)
    none, positive_losses = torch.zeros(b, b, b, dtype=torch.float64), []
    for a in range(b):
        positives, negatives = _members(labels, a)
        for p, n in itertools.product(positives, negatives):
            value = _hinge(_dist(x[a], x[p], distance) - _dist(x[a], x[n], distance), margin, soft)
            if value > 0:
                none[a, p, n] = value
                positive_losses.append(value)
    return none, sum(positive_losses) / max(len(positive_losses), 1)


def ref_semi_hard(x, labels, margin, distance, soft):
    """(none (B, B), mean): per positive pair the closest negative farther than the positive, else
    the farthest negative (TensorFlow Addons' triplet_semihard_loss); mean over positive pairs."""
    labels = labels.tolist()
    b = len(labels)
    none, kept = torch.zeros(b, b, dtype=torch.float64), []
    for a in range(b):
        positives, negatives = _members(labels, a)
        if not negatives:
            continue
        for p in positives:
            d_ap = _dist(x[a], x[p], distance)
            d_an = [_dist(x[a], x[n], distance) for n in negatives]
            farther = [d for d in d_an if d > d_ap]
            chosen = min(farther) if farther else max(d_an)
            none[a, p] = _hinge(d_ap - chosen, margin, soft)
            kept.append(float(none[a, p]))
    return none, sum(kept) / max(len(kept), 1)


REFERENCES = {"batch_hard": ref_batch_hard, "batch_all": ref_batch_all, "semi_hard": ref_semi_hard}


def _batch(kind: str, seed: int = 0):
    """Random labelled batches in float64 (B=10, D=3)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(10, 3, generator=gen, dtype=torch.float64)
    # classes 2 and 4 are singletons (anchors without a positive, still negatives of others)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 3, 4])
    if kind == "duplicates":
        x[3] = x[2]  # an anchor and its positive coincide: d_ap = 0
        x[7] = x[0]  # two classes share an embedding: d_an = 0
        x[9] = x[1]
    elif kind == "single_class":
        labels = torch.zeros(10, dtype=torch.long)
    elif kind == "all_singletons":
        labels = torch.arange(10)
    return x, labels


# --- the mining rules against the brute force ----------------------------------------------------


@pytest.mark.parametrize("soft", [False, True], ids=["hinge", "soft"])
@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("mining", MININGS)
@pytest.mark.parametrize("kind", ["random", "duplicates", "single_class", "all_singletons"])
def test_mining_matches_brute_force(kind, mining, distance, soft):
    margin = 0.2 if distance == "cosine" else 1.0
    for seed in range(2):
        x, labels = _batch(kind, seed)
        expected_none, expected_mean = REFERENCES[mining](x, labels, margin, distance, soft)
        options = dict(margin=margin, mining=mining, distance=distance, soft_margin=soft)
        got_none = VF.batch_triplet_loss(x, labels, **options, reduction="none")
        assert got_none.shape == expected_none.shape
        torch.testing.assert_close(got_none, expected_none, rtol=1e-9, atol=1e-10)
        got_mean = VF.batch_triplet_loss(x, labels, **options)
        torch.testing.assert_close(got_mean, torch.tensor(expected_mean, dtype=torch.float64))
        got_sum = VF.batch_triplet_loss(x, labels, **options, reduction="sum")
        torch.testing.assert_close(got_sum, expected_none.sum())
        if kind in ("single_class", "all_singletons"):
            assert got_mean.item() == 0.0


def test_hand_computed_mining():
    # 1-D points 0, 1 (class 0) and 1.5, 3 (class 1), margin 1.
    x = torch.tensor([[0.0], [1.0], [1.5], [3.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1])
    # batch_hard: anchor 0: 1 - 1.5 + 1 = 0.5; anchor 1: 1 - 0.5 + 1 = 1.5;
    # anchor 1.5: 1.5 - 0.5 + 1 = 2; anchor 3: 1.5 - 2 + 1 = 0.5
    hard = VF.batch_triplet_loss(x, labels, margin=1.0, reduction="none")
    torch.testing.assert_close(hard, torch.tensor([0.5, 1.5, 2.0, 0.5], dtype=torch.float64))
    # batch_all: positive-loss triplets 0.5, 1.5, 1.0, 2.0, 0.5 -> 5.5 / 5
    got = VF.batch_triplet_loss(x, labels, margin=1.0, mining="batch_all")
    torch.testing.assert_close(got, torch.tensor(1.1, dtype=torch.float64))
    # semi_hard: (0,1): closest negative beyond 1 is 1.5 -> 0.5; (1,0): beyond 1 is 2 -> 0;
    # (1.5,3): none beyond 1.5 (1.5 is not strictly farther) -> farthest 1.5 -> 1; (3,1.5): 2 -> 0.5
    semi = VF.batch_triplet_loss(x, labels, margin=1.0, mining="semi_hard", reduction="none")
    assert semi[0, 1] == 0.5 and semi[1, 0] == 0.0 and semi[2, 3] == 1.0 and semi[3, 2] == 0.5
    assert semi.sum() == 2.0
    torch.testing.assert_close(
        VF.batch_triplet_loss(x, labels, margin=1.0, mining="semi_hard"),
        torch.tensor(0.5, dtype=torch.float64),
    )


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("mining", MININGS)
def test_gradcheck(mining, distance):
    x, labels = _batch("random", seed=3)
    x = x[:8].clone().requires_grad_(True)
    labels = labels[:8]

    def fn(x):
        return VF.batch_triplet_loss(x, labels, margin=0.7, mining=mining, distance=distance)

    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5)

    def soft(x):
        return VF.batch_triplet_loss(x, labels, mining=mining, distance=distance, soft_margin=True)

    assert torch.autograd.gradcheck(soft, (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("kind", ["single_class", "all_singletons"])
@pytest.mark.parametrize("mining", MININGS)
def test_no_valid_triplet_gives_zero_with_zero_grads(kind, mining):
    x, labels = _batch(kind)
    x.requires_grad_(True)
    for reduction in ("mean", "sum"):
        loss = VF.batch_triplet_loss(x, labels, mining=mining, reduction=reduction)
        # autograd.grad raises if the result were not connected to x
        (grad,) = torch.autograd.grad(loss, x)
        assert loss.item() == 0.0 and not grad.any()


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("mining", MININGS)
def test_identical_embeddings_give_finite_grads(mining, distance):
    # every distance is 0: the floor of the square root keeps the gradient finite
    for value in (0.0, 0.3):
        x = torch.full((6, 4), value, requires_grad=True)
        labels = torch.tensor([0, 0, 1, 1, 2, 2])
        loss = VF.batch_triplet_loss(x, labels, margin=0.5, mining=mining, distance=distance)
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
        if distance != "cosine":  # d_ap = d_an: every triplet costs the margin
            torch.testing.assert_close(loss, torch.tensor(0.5), atol=2e-6, rtol=0)


@pytest.mark.parametrize("mining", MININGS)
def test_nan_propagates(mining):
    x, labels = _batch("random")
    x[4, 1] = float("nan")
    assert torch.isnan(VF.batch_triplet_loss(x, labels, mining=mining))


@pytest.mark.parametrize("mining", MININGS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_computes_in_float32(mining, dtype):
    x, labels = _batch("random")
    low = x.to(dtype)
    got = VF.batch_triplet_loss(low, labels, mining=mining)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, VF.batch_triplet_loss(low.float(), labels, mining=mining))


def test_memory_batch_hard_keeps_rows_and_semi_hard_no_cube():
    b, d = 48, 4
    x = torch.randn(b, d, requires_grad=True)
    labels = torch.arange(b) % 6
    sizes = {}
    for mining in MININGS:
        saved: list[torch.Tensor] = []

        def pack(t, saved=saved):
            saved.append(t)
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            VF.batch_triplet_loss(x, labels, mining=mining)
        sizes[mining] = max(t.numel() for t in saved)
    # batch_hard mines without gradient and recomputes two rows per anchor: nothing B x B is kept
    assert sizes["batch_hard"] <= b * d
    # semi_hard sorts per anchor instead of comparing every (a, p) with every n
    assert b * d < sizes["semi_hard"] <= b * b
    # batch_all streams its sum and count: (B, B) and (B, B + 1) prefix sums, no (B, B, B) tensor
    assert b * d < sizes["batch_all"] <= b * (b + 1)


# --- properties -----------------------------------------------------------------------------------


@given(
    seed=st.integers(0, 2**16),
    labels=st.lists(st.integers(0, 3), min_size=2, max_size=9),
    soft=st.booleans(),
)
def test_properties_between_minings(seed, labels, soft):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.tensor(labels)
    x = torch.randn(len(labels), 3, generator=gen, dtype=torch.float64)
    opts = dict(margin=0.5, soft_margin=soft)
    hard = VF.batch_triplet_loss(x, labels, **opts, reduction="none")
    every = VF.batch_triplet_loss(x, labels, mining="batch_all", **opts, reduction="none")
    semi = VF.batch_triplet_loss(x, labels, mining="semi_hard", **opts, reduction="none")
    # the hardest triplet of an anchor is its largest triplet loss (the loss is monotone in the gap)
    torch.testing.assert_close(hard, every.amax(dim=(1, 2)))
    # the semi-hard negative is one of the anchor's negatives
    assert (semi <= every.amax(dim=2) + 1e-12).all()
    # joint permutation of the batch and renaming of the labels change nothing
    perm = torch.randperm(len(labels), generator=gen)
    for mining in MININGS:
        base = VF.batch_triplet_loss(x, labels, mining=mining, **opts)
        moved = VF.batch_triplet_loss(x[perm], labels[perm] * 7 + 3, mining=mining, **opts)
        torch.testing.assert_close(moved, base)


@given(seed=st.integers(0, 2**16), scale=st.floats(0.1, 10.0))
def test_euclidean_hinge_at_zero_margin_is_homogeneous(seed, scale):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3])
    for mining in MININGS:
        base = VF.batch_triplet_loss(x, labels, margin=0.0, mining=mining, reduction="sum")
        scaled = VF.batch_triplet_loss(
            scale * x, labels, margin=0.0, mining=mining, reduction="sum"
        )
        torch.testing.assert_close(scaled, scale * base)


# --- triplet_margin_loss ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_triplet_equals_torch(gen, dtype, swap, reduction):
    a, p, n = (torch.randn(16, 5, generator=gen, dtype=dtype, requires_grad=True) for _ in range(3))
    for margin in (1.0, 0.3):
        ours = VF.triplet_margin_loss(a, p, n, margin=margin, swap=swap, reduction=reduction)
        theirs = F.triplet_margin_loss(a, p, n, margin=margin, swap=swap, reduction=reduction)
        torch.testing.assert_close(ours, theirs)
        grads = torch.autograd.grad(ours.sum(), (a, p, n))
        torch.testing.assert_close(grads, torch.autograd.grad(theirs.sum(), (a, p, n)))
    module = visionloss.TripletMarginLoss(swap=swap, reduction=reduction)
    torch.testing.assert_close(
        module(a, p, n), torch.nn.TripletMarginLoss(swap=swap, reduction=reduction)(a, p, n)
    )


@pytest.mark.parametrize("swap", [False, True])
def test_triplet_other_distances_equal_torch_with_distance(gen, swap):
    a, p, n = (torch.randn(16, 5, generator=gen, dtype=torch.float64) for _ in range(3))
    distances = {
        "cosine": lambda x, y: 1 - F.cosine_similarity(x, y, eps=1e-6),
        "squared_euclidean": lambda x, y: (x - y).pow(2).sum(-1),
    }
    for name, fn in distances.items():
        ours = VF.triplet_margin_loss(
            a, p, n, margin=0.4, distance=name, swap=swap, reduction="none"
        )
        theirs = F.triplet_margin_with_distance_loss(
            a, p, n, distance_function=fn, margin=0.4, swap=swap, reduction="none"
        )
        torch.testing.assert_close(ours, theirs)


def test_triplet_soft_margin_and_hand_values():
    a = torch.zeros(2, 2, dtype=torch.float64)
    p = torch.tensor([[3.0, 4.0], [1.0, 0.0]], dtype=torch.float64)  # d_ap = 5, 1
    n = torch.tensor([[0.0, 2.0], [0.0, 3.0]], dtype=torch.float64)  # d_an = 2, 3
    got = VF.triplet_margin_loss(a, p, n, eps=0.0, reduction="none")
    torch.testing.assert_close(got, torch.tensor([4.0, 0.0], dtype=torch.float64))
    # soft margin ignores the margin: log(1 + e^(5-2)), log(1 + e^(1-3))
    soft = VF.triplet_margin_loss(a, p, n, eps=0.0, soft_margin=True, margin=7.0, reduction="none")
    expected = torch.tensor(
        [math.log1p(math.exp(3)), math.log1p(math.exp(-2))], dtype=torch.float64
    )
    torch.testing.assert_close(soft, expected)
    # swap: d(p, n) = sqrt(9 + 4) < 2 is false for row 0; row 1: d(p, n) = sqrt(10) > 3: no change
    torch.testing.assert_close(VF.triplet_margin_loss(a, p, n, eps=0.0, swap=True), got.mean())
    # the swap takes the harder negative: n near p
    n2 = torch.tensor([[3.0, 3.0], [1.0, 0.5]], dtype=torch.float64)  # d_an = sqrt 18, sqrt 1.25
    swapped = VF.triplet_margin_loss(a, p, n2, eps=0.0, swap=True, reduction="none")
    torch.testing.assert_close(swapped, torch.tensor([5.0, 1.5], dtype=torch.float64))


def test_soft_margin_is_stable_for_large_gaps():
    a = torch.zeros(2, 1)
    p = torch.tensor([[1e4], [0.0]], requires_grad=True)
    n = torch.tensor([[0.0], [1e4]])
    loss = VF.triplet_margin_loss(a, p, n, soft_margin=True, reduction="none")
    torch.testing.assert_close(loss, torch.tensor([1e4, 0.0]), rtol=1e-6, atol=1e-6)
    loss.sum().backward()
    assert torch.isfinite(p.grad).all()


# --- contrastive_loss ------------------------------------------------------------------------------


def test_contrastive_hand_values():
    x1 = torch.zeros(4, 2)
    x2 = torch.tensor([[0.6, 0.8], [0.3, 0.4], [3.0, 4.0], [0.0, 0.0]])  # d = 1, 0.5, 5, 0
    same = torch.tensor([1, 0, 0, 0])
    # similar d=1: 0.5; dissimilar d=0.5, m=1: 0.5 * 0.25; beyond the margin: 0; d=0: 0.5 * 1
    got = VF.contrastive_loss(x1, x2, same, reduction="none")
    torch.testing.assert_close(got, torch.tensor([0.5, 0.125, 0.0, 0.5]))
    # squared_euclidean: d = 1, 0.25, 25, 0 -> 0.5 * 1, 0.5 * 0.75^2, 0, 0.5
    got = VF.contrastive_loss(x1, x2, same, distance="squared_euclidean", reduction="none")
    torch.testing.assert_close(got, torch.tensor([0.5, 0.28125, 0.0, 0.5]))
    # a float `same` interpolates the two terms linearly
    half = VF.contrastive_loss(x1, x2, torch.full((4,), 0.5), reduction="none")
    both = [VF.contrastive_loss(x1, x2, torch.full((4,), v), reduction="none") for v in (0, 1)]
    torch.testing.assert_close(half, 0.5 * (both[0] + both[1]))


def test_contrastive_zero_distance_dissimilar_pair_has_finite_grad():
    x = torch.zeros(2, 3, requires_grad=True)
    loss = VF.contrastive_loss(x, x.detach().clone(), torch.tensor([False, True]))
    (grad,) = torch.autograd.grad(loss, x)
    # dissimilar pair at d = 0 (read as the floor 1e-6): 0.5 * (1 - 1e-6)^2, averaged with 0
    assert torch.isfinite(grad).all() and not grad.any()
    assert loss.item() == pytest.approx(0.25 * (1 - 1e-6) ** 2, rel=1e-6)


@given(seed=st.integers(0, 2**16))
def test_contrastive_similar_pairs_are_half_squared_distance(seed):
    gen = torch.Generator().manual_seed(seed)
    x1, x2 = torch.randn(2, 6, 4, generator=gen, dtype=torch.float64)
    got = VF.contrastive_loss(x1, x2, torch.ones(6, dtype=torch.bool), reduction="sum")
    torch.testing.assert_close(got, 0.5 * F.mse_loss(x1, x2, reduction="sum"))


# --- bad inputs -------------------------------------------------------------------------------------


class TestBadInput:
    x = torch.zeros(8, 3)
    labels = torch.zeros(8, dtype=torch.long)

    def test_labels(self):
        with pytest.raises(
            ValueError,
            match=r"labels: expected shape \(8,\), one label per row of embeddings, got \(8, 1\)",
        ):
            VF.batch_triplet_loss(self.x, self.labels[:, None])
        with pytest.raises(
            TypeError, match="labels: expected an integer or bool tensor, got dtype torch.float32"
        ):
            VF.batch_triplet_loss(self.x, self.labels.float())
        with pytest.raises(TypeError, match="labels: expected a torch.Tensor, got list"):
            VF.batch_triplet_loss(self.x, [0] * 8)

    def test_embeddings(self):
        with pytest.raises(
            ValueError, match=r"embeddings: expected a 2-D tensor \(N, D\), got shape \(8,\)"
        ):
            VF.batch_triplet_loss(torch.zeros(8), self.labels)
        with pytest.raises(
            TypeError, match="embeddings: expected a floating-point tensor, got dtype torch.int64"
        ):
            VF.batch_triplet_loss(self.labels[:, None], self.labels)

    def test_options(self):
        with pytest.raises(
            ValueError,
            match="mining: expected one of 'batch_hard', 'batch_all', 'semi_hard', got 'hard'",
        ):
            VF.batch_triplet_loss(self.x, self.labels, mining="hard")
        with pytest.raises(ValueError, match="mining: expected one of"):
            visionloss.BatchTripletLoss(mining="semihard")
        message = "distance: expected one of 'euclidean', 'squared_euclidean', 'cosine', got 'l1'"
        with pytest.raises(ValueError, match=message):
            VF.batch_triplet_loss(self.x, self.labels, distance="l1")
        with pytest.raises(ValueError, match=message):
            VF.triplet_margin_loss(self.x, self.x, self.x, distance="l1")
        with pytest.raises(ValueError, match=message):
            visionloss.ContrastiveLoss(distance="l1")
        with pytest.raises(ValueError, match=r"margin: expected a value in \[0.0, inf\], got -1.0"):
            visionloss.TripletMarginLoss(margin=-1.0)
        with pytest.raises(TypeError, match="soft_margin: expected a bool, got 'yes'"):
            VF.batch_triplet_loss(self.x, self.labels, soft_margin="yes")
        with pytest.raises(TypeError, match="swap: expected a bool, got 1"):
            VF.triplet_margin_loss(self.x, self.x, self.x, swap=1)
        with pytest.raises(TypeError, match="sync: expected a bool, got 1"):
            visionloss.BatchTripletLoss(sync=1)

    def test_triplet_shapes(self):
        with pytest.raises(
            ValueError, match=r"positive: expected the same shape as anchor \(8, 3\), got \(8, 2\)"
        ):
            VF.triplet_margin_loss(self.x, torch.zeros(8, 2), self.x)
        with pytest.raises(
            ValueError, match=r"anchor: expected a 2-D tensor \(N, D\), got shape \(3,\)"
        ):
            VF.triplet_margin_loss(torch.zeros(3), torch.zeros(3), torch.zeros(3))

    def test_contrastive_same(self):
        with pytest.raises(
            ValueError, match=r"same: expected shape \(8,\), one flag per pair, got \(8, 1\)"
        ):
            VF.contrastive_loss(self.x, self.x, self.labels[:, None])
        with pytest.raises(ValueError, match=r"same: expected class ids in \[0, 1\], got values"):
            VF.contrastive_loss(self.x, self.x, self.labels + 2)
        with pytest.raises(ValueError, match=r"same: expected probabilities in \[0, 1\]"):
            VF.contrastive_loss(self.x, self.x, torch.full((8,), 1.5))


# --- modules, compile ------------------------------------------------------------------------------


def test_module_stores_options():
    module = visionloss.BatchTripletLoss(mining="semi_hard", margin=0.3)
    assert "mining='semi_hard'" in repr(module) and "margin=0.3" in repr(module)
    x, labels = _batch("random")
    torch.testing.assert_close(
        module(x, labels), VF.batch_triplet_loss(x, labels, mining="semi_hard", margin=0.3)
    )


@pytest.mark.parametrize("mining", ["semi_hard", "batch_all"])
def test_compile_fullgraph_other_minings(mining):
    # batch_hard and triplet_margin_loss are compiled by the catalogue sweep
    torch._dynamo.reset()
    x, labels = _batch("random")
    x = x.float().requires_grad_(True)

    def fn(x, labels):
        return VF.batch_triplet_loss(x, labels, mining=mining)

    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    got, expected = compiled(x, labels), fn(x, labels)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(torch.autograd.grad(got, x), torch.autograd.grad(expected, x))


def test_compile_batch_hard_with_inductor():
    # the one real inductor build of the family: argmax mining, gathers and the backward
    torch._dynamo.reset()
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    labels = torch.arange(16) % 4

    def fn(x, labels):
        return VF.batch_triplet_loss(x, labels, margin=0.5)

    compiled = torch.compile(fn, fullgraph=True)
    got, expected = compiled(x, labels), fn(x, labels)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(torch.autograd.grad(got, x), torch.autograd.grad(expected, x))


# --- several processes ------------------------------------------------------------------------------


def _global_batch():
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 3, 1, 2, 2, 0, 1, 4, 3])
    return x, labels


SYNC_CASES = [(m, "euclidean") for m in MININGS] + [("batch_hard", "cosine")]


def _sync_worker(rank: int, world_size: int):
    x, labels = _global_batch()
    rows = slice(rank * 6, rank * 6 + 6)
    results = []
    for mining, distance in SYNC_CASES:
        shard = x[rows].clone().requires_grad_(True)
        loss = VF.batch_triplet_loss(
            shard, labels[rows], margin=0.8, mining=mining, distance=distance, sync=True
        )
        loss.backward()
        results.append((loss.detach(), shard.grad))
    # Both ranks finish their collectives before either tears gloo down: without this barrier
    # the harness's destroy_process_group aborts a rank now and then (SIGABRT, "terminate called
    # without an active exception"), seen in about 1 run in 5 of test_distributed.py too.
    torch.distributed.barrier()
    return results


def test_sync_without_process_group_is_a_no_op():
    x, labels = _batch("random")
    module = visionloss.BatchTripletLoss(sync=True, mining="semi_hard")
    torch.testing.assert_close(
        module(x, labels), VF.batch_triplet_loss(x, labels, mining="semi_hard")
    )


def test_sync_two_ranks_equal_one_process():
    per_rank = run_on_ranks(_sync_worker, 2)
    x, labels = _global_batch()
    for i, (mining, distance) in enumerate(SYNC_CASES):
        full = x.clone().requires_grad_(True)
        loss = VF.batch_triplet_loss(full, labels, margin=0.8, mining=mining, distance=distance)
        loss.backward()
        for rank, results in enumerate(per_rank):
            rank_loss, rank_grad = results[i]
            torch.testing.assert_close(rank_loss, loss.detach())
            # DDP convention: each rank's gradient for its shard is K = 2 times the single one
            torch.testing.assert_close(rank_grad, 2 * full.grad[rank * 6 : rank * 6 + 6])


# --- declared by specs: options checked when the Module is built ---------------------------------


@pytest.mark.parametrize(
    ("module", "options", "error", "message"),
    [
        (visionloss.TripletMarginLoss, {"eps": -1.0}, ValueError, r"eps: expected a value in"),
        (visionloss.TripletMarginLoss, {"swap": "yes"}, TypeError, "swap: expected a bool"),
        (visionloss.BatchTripletLoss, {"margin": -0.1}, ValueError, "margin: expected a value"),
        (visionloss.BatchTripletLoss, {"soft_margin": 1}, TypeError, "soft_margin: expected"),
        (visionloss.ContrastiveLoss, {"margin": -1.0}, ValueError, "margin: expected a value"),
        (visionloss.ContrastiveLoss, {"reduction": "batchmean"}, ValueError, "reduction: expected"),
    ],
)
def test_invalid_options_raise_when_the_module_is_built(module, options, error, message):
    with pytest.raises(error, match=message):
        module(**options)


def test_specs_declare_the_family():
    from visionloss.losses import embedding

    assert [s.name for s in embedding.SPECS] == [
        "triplet_margin", "batch_triplet", "contrastive", "nt_xent", "supervised_contrastive",
        "arcface", "cosface", "multi_similarity", "clip",
    ]
    for spec in embedding.SPECS:
        assert spec.family == "embedding" and spec.module is not None
        assert spec.module.spec is spec
        assert spec.function.__name__.removesuffix("_loss") == spec.name
        # the Module is documented by the function's docstring and takes the options' keywords
        assert spec.module.__doc__.startswith(spec.function.__doc__.strip().splitlines()[0])
        assert "__init__" not in spec.module.__dict__
    module = visionloss.BatchTripletLoss(margin=0.5, mining="semi_hard")
    assert module.opts.margin == 0.5 and module.mining == "semi_hard"
    assert "mining='semi_hard'" in repr(module)


# --- batch_all streamed over anchors (O(B^2) memory) ----------------------------------------------


def _broadcast_batch_all(x, labels, margin, distance, soft):
    """The previous implementation's formula, in float64: every triplet as a (B, B, B) tensor,
    the mean over the valid triplets whose loss is not <= 0 (NaN counted)."""
    from visionloss.losses.embedding import _distance_matrix

    d = _distance_matrix(x.double(), distance)
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(labels), dtype=torch.bool)
    gap = d[:, :, None] - d[:, None, :]
    loss = F.softplus(gap) if soft else F.relu((d[:, :, None] + margin) - d[:, None, :])
    valid = positive[:, :, None] & ~same[:, None, :] & ~(loss <= 0)
    total = torch.where(valid, loss, 0).sum()
    count = valid.sum().double()
    return total / count.clamp(min=1), total


@pytest.mark.parametrize("soft", [False, True], ids=["hinge", "soft"])
@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_streamed_batch_all_equals_the_broadcast_formula(gen, distance, soft, dtype):
    # ties on purpose: duplicated rows give equal distances, where "loss > 0" must count exactly
    x = torch.randn(37, 6, generator=gen, dtype=dtype)
    x[5], x[9] = x[3], x[3]
    labels = torch.randint(0, 5, (37,), generator=gen)
    margin = 0.3 if distance == "cosine" else 0.7
    leaf = x.clone().requires_grad_(True)
    ref_leaf = x.double().requires_grad_(True)
    # float32 against the float64 formula: the distance matrix's own rounding (about 1e-7 of
    # |x|^2 by cancellation) dominates, as it did for the broadcast form
    tol = {} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-5}
    for reduction, index in (("mean", 0), ("sum", 1)):
        got = VF.batch_triplet_loss(
            leaf,
            labels,
            margin=margin,
            mining="batch_all",
            distance=distance,
            soft_margin=soft,
            reduction=reduction,
        )
        expected = _broadcast_batch_all(ref_leaf, labels, margin, distance, soft)[index]
        (grad,) = torch.autograd.grad(got, leaf)
        (expected_grad,) = torch.autograd.grad(expected, ref_leaf)
        assert got.dtype == dtype
        torch.testing.assert_close(got.double(), expected.detach(), **tol)
        torch.testing.assert_close(grad.double(), expected_grad, **tol)


def test_streamed_batch_all_soft_chunks_cover_every_anchor(monkeypatch):
    # chunks of one anchor (the chunking boundary is the only difference from one chunk)
    from visionloss.losses import embedding

    x = torch.randn(11, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 0, 2, 1])
    one_chunk = VF.batch_triplet_loss(x, labels, mining="batch_all", soft_margin=True)
    monkeypatch.setattr(embedding, "_SOFT_CHUNK_TRIPLETS", 1)
    assert embedding._soft_chunks(11).step == 1
    many = VF.batch_triplet_loss(x, labels, mining="batch_all", soft_margin=True)
    torch.testing.assert_close(many, one_chunk)
    torch.testing.assert_close(torch.autograd.grad(many, x), torch.autograd.grad(one_chunk, x))
    # the analytic backward is itself differentiable: second order is exact
    assert torch.autograd.gradgradcheck(
        lambda e: VF.batch_triplet_loss(e, labels, mining="batch_all", soft_margin=True), (x,)
    )


@pytest.mark.parametrize("soft", [False, True], ids=["hinge", "soft"])
def test_streamed_batch_all_edge_cases(soft):
    opts = dict(mining="batch_all", soft_margin=soft, margin=0.5)
    # no valid triplet (one class): 0 with zero gradients, never NaN
    x = torch.randn(6, 3, requires_grad=True)
    loss = VF.batch_triplet_loss(x, torch.zeros(6, dtype=torch.long), **opts)
    (grad,) = torch.autograd.grad(loss, x)
    assert loss.item() == 0.0 and not grad.any()
    # a NaN embedding propagates, as in the broadcast form
    nan = torch.randn(6, 3)
    nan[2, 0] = float("nan")
    assert VF.batch_triplet_loss(nan, torch.tensor([0, 0, 1, 1, 2, 2]), **opts).isnan()
    # "none" keeps the documented (B, B, B) form, whose mean over counted triplets is "mean"
    y = torch.randn(9, 2)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2])
    none = VF.batch_triplet_loss(y, labels, reduction="none", **opts)
    assert none.shape == (9, 9, 9)
    mean = VF.batch_triplet_loss(y, labels, **opts)
    torch.testing.assert_close(mean, none.sum() / (none > 0).sum())


@pytest.mark.parametrize("soft", [False, True], ids=["hinge", "soft"])
def test_streamed_batch_all_saves_o_b_squared_bytes(soft):
    from visionloss._core.memory import saved_bytes

    b, d = 256, 16
    x = torch.randn(b, d, requires_grad=True)
    labels = torch.arange(b) % 16
    saved = saved_bytes(
        lambda: VF.batch_triplet_loss(x, labels, mining="batch_all", soft_margin=soft), [x]
    )
    # the (B, B, B) form kept at least one float32 triplet tensor: 4 B^3 = 64 MiB here; the
    # streamed form keeps a few (B, B) matrices (distances, masks, sort indices, prefix sums)
    assert saved < 64 * b * b < 4 * b**3


# =================================================================================================
# NT-Xent and supervised contrastive (losses/_contrastive.py)
# =================================================================================================


def test_nt_xent_hand_values():
    # two orthogonal samples, identical views, tau = 1: each row sees its positive at s = 1 and
    # two negatives at s = 0 (the other sample's two views), so l = -log(e / (e + 2))
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    loss = VF.nt_xent_loss(z1, z1.clone(), temperature=1.0, reduction="none")
    expected = -math.log(math.e / (math.e + 2))
    torch.testing.assert_close(loss, torch.full((4,), expected, dtype=torch.float64))
    # tau = 0.5 (the default) doubles the logits: -log(e^2 / (e^2 + 2))
    torch.testing.assert_close(
        VF.nt_xent_loss(z1, z1.clone()), torch.tensor(-math.log(math.e**2 / (math.e**2 + 2)),
                                                       dtype=torch.float64)
    )


def test_nt_xent_is_scale_invariant_and_symmetric_in_the_views():
    gen = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(6, 5, generator=gen), torch.randn(6, 5, generator=gen)
    loss = VF.nt_xent_loss(z1, z2, reduction="none")
    torch.testing.assert_close(VF.nt_xent_loss(3 * z1, 0.2 * z2, reduction="none"), loss)
    swapped = VF.nt_xent_loss(z2, z1, reduction="none")
    torch.testing.assert_close(swapped, loss.roll(6))


def test_nt_xent_is_stable_at_a_small_temperature():
    gen = torch.Generator().manual_seed(4)
    z1 = torch.randn(8, 16, generator=gen, requires_grad=True)
    z2 = torch.randn(8, 16, generator=gen)
    loss = VF.nt_xent_loss(z1, z2, temperature=1e-3)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z1.grad).all()


def test_supervised_contrastive_hand_values():
    # rows 0, 1 coincide (label 0), row 2 orthogonal (label 1, alone): tau = 1 gives
    # l_0 = l_1 = -log(e / (e + 1)) and row 2 is skipped (no positive)
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1])
    loss = VF.supervised_contrastive_loss(x, labels, temperature=1.0, reduction="none")
    value = -math.log(math.e / (math.e + 1))
    torch.testing.assert_close(loss, torch.tensor([value, value, 0.0], dtype=torch.float64))
    # the mean runs over the two anchors with a positive
    torch.testing.assert_close(
        VF.supervised_contrastive_loss(x, labels, temperature=1.0),
        torch.tensor(value, dtype=torch.float64),
    )


def test_supervised_contrastive_with_pair_labels_is_nt_xent():
    # labels marking only the two views of a sample: SupCon reduces to NT-Xent (Khosla, sec. 3.2)
    gen = torch.Generator().manual_seed(5)
    z1, z2 = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    labels = torch.arange(5).repeat(2)
    torch.testing.assert_close(
        VF.supervised_contrastive_loss(torch.cat([z1, z2]), labels, temperature=0.3,
                                       reduction="none"),
        VF.nt_xent_loss(z1, z2, temperature=0.3, reduction="none"),
    )


def test_supervised_contrastive_without_any_positive_gives_zero_with_zero_grads():
    x = torch.randn(4, 3, requires_grad=True)
    loss = VF.supervised_contrastive_loss(x, torch.arange(4))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x))


# sync=True: tests/test_distributed.py's SYNCED table ("nt_xent", uneven and empty shards)


@pytest.mark.parametrize(
    ("module", "options", "error", "message"),
    [
        (visionloss.NTXentLoss, {"temperature": 0.0}, ValueError, "temperature: expected"),
        (visionloss.NTXentLoss, {"sync": "yes"}, TypeError, "sync: expected a bool"),
        (visionloss.SupervisedContrastiveLoss, {"temperature": -1.0}, ValueError,
         "temperature: expected"),
    ],
)
def test_contrastive_softmax_options_raise_when_the_module_is_built(
    module, options, error, message
):
    with pytest.raises(error, match=message):
        module(**options)


def test_nt_xent_and_supcon_shape_errors():
    with pytest.raises(ValueError, match="z2"):
        VF.nt_xent_loss(torch.randn(3, 2), torch.randn(4, 2))
    with pytest.raises(ValueError, match="labels"):
        VF.supervised_contrastive_loss(torch.randn(3, 2), torch.tensor([0, 1]))


# =================================================================================================
# ArcFace and CosFace (losses/_contrastive.py)
# =================================================================================================


def test_arcface_and_cosface_hand_values():
    # embedding on centre 0, orthogonal to centre 1: theta_0 = 0, theta_1 = pi/2
    centers = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    x = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0])
    # ArcFace, m = 0.5, s = 2: target logit 2 cos(0.5) (up to the clamp at 1 - 1e-6), other 0
    t = 2 * math.cos(math.acos(1 - 1e-6) + 0.5)
    expected = -t + math.log(math.exp(t) + 1)
    torch.testing.assert_close(
        VF.arcface_loss(x, y, centers, margin=0.5, scale=2.0),
        torch.tensor(expected, dtype=torch.float64),
    )
    # CosFace, m = 0.35, s = 2: target logit 2 (1 - 0.35)
    t = 2 * 0.65
    torch.testing.assert_close(
        VF.cosface_loss(x, y, centers, scale=2.0),
        torch.tensor(-t + math.log(math.exp(t) + 1), dtype=torch.float64),
    )


def test_arcface_falls_back_beyond_pi_minus_m():
    # theta = pi (embedding opposite its centre): cos(theta + m) would rise again, the target is
    # cos(theta) - m sin(m) instead, and the gradient stays finite
    centers = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    x = torch.tensor([[-1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    loss = VF.arcface_loss(x, torch.tensor([0]), centers, margin=0.5, scale=1.0)
    t = -1.0 - 0.5 * math.sin(0.5)  # the unclamped cosine, past pi - m
    torch.testing.assert_close(loss, torch.tensor(-t + math.log(math.exp(t) + 1),
                                                  dtype=torch.float64))
    loss.backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("on", [1.0, -1.0])
def test_arcface_gradient_is_finite_exactly_on_or_opposite_the_centre(on):
    centers = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], requires_grad=True)
    x = torch.tensor([[on, 0.0, 0.0]], requires_grad=True)
    VF.arcface_loss(x, torch.tensor([0]), centers).backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(centers.grad).all()


@pytest.mark.parametrize("kind", ["arcface", "cosface"])
def test_margin_module_owns_its_centres_as_a_parameter(kind):
    module_cls = {"arcface": visionloss.ArcFaceLoss, "cosface": visionloss.CosFaceLoss}[kind]
    function = {"arcface": VF.arcface_loss, "cosface": VF.cosface_loss}[kind]
    module = module_cls(num_classes=7, embedding_dim=3, scale=8.0)
    assert [name for name, _ in module.named_parameters()] == ["centers"]
    assert module.centers.shape == (7, 3) and module.centers.requires_grad
    assert set(module.state_dict()) == {"centers"}
    x, y = torch.randn(5, 3), torch.tensor([0, 6, 2, 2, 5])
    torch.testing.assert_close(module(x, y), function(x, y, module.centers, scale=8.0))
    # trained by an optimizer over the Module's parameters
    before = module.centers.detach().clone()
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    module(x, y).backward()
    opt.step()
    assert not torch.equal(before, module.centers.detach())
    # follows .to() and loads from a state dict
    double = module.to(torch.float64)
    assert double.centers.dtype == torch.float64
    other = module_cls(num_classes=7, embedding_dim=3, scale=8.0).double()
    other.load_state_dict(double.state_dict())
    torch.testing.assert_close(other.centers, double.centers)


@pytest.mark.parametrize(
    ("module", "options", "error", "message"),
    [
        (visionloss.ArcFaceLoss, {}, TypeError, "needs the option 'num_classes'"),
        (visionloss.CosFaceLoss, {"num_classes": 3}, TypeError, "needs the option 'embedding_d"),
        (visionloss.ArcFaceLoss, {"num_classes": 0, "embedding_dim": 2}, ValueError,
         "num_classes: expected a positive int"),
        (visionloss.ArcFaceLoss, {"num_classes": 3, "embedding_dim": 2, "margin": 2.0},
         ValueError, "margin: expected a value"),
        (visionloss.CosFaceLoss, {"num_classes": 3, "embedding_dim": 2, "scale": 0.0},
         ValueError, "scale: expected a value"),
    ],
)
def test_margin_options_raise_when_the_module_is_built(module, options, error, message):
    with pytest.raises(error, match=message):
        module(**options)


def test_margin_shape_and_label_errors():
    centers = torch.randn(4, 3)
    with pytest.raises(ValueError, match="centers"):
        VF.arcface_loss(torch.randn(2, 3), torch.tensor([0, 1]), torch.randn(4, 5))
    with pytest.raises(ValueError, match="labels"):
        VF.cosface_loss(torch.randn(2, 3), torch.tensor([0, 4]), centers)


# =================================================================================================
# Multi-similarity (losses/_contrastive.py)
# =================================================================================================


def test_multi_similarity_hand_values():
    # rows 0, 1 coincide (label 0), row 2 orthogonal (label 1); alpha = beta = 1, base 0, all
    # pairs: l_0 = log(1 + e^-1) + log(1 + e^0), l_2 = 0 (no positive) + log(1 + 2 e^0)
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    loss = VF.multi_similarity_loss(x, torch.tensor([0, 0, 1]), alpha=1.0, beta=1.0, base=0.0,
                                    mining=False, reduction="none")
    a = math.log1p(math.exp(-1)) + math.log(2)
    torch.testing.assert_close(loss, torch.tensor([a, a, math.log(3)], dtype=torch.float64))


def test_multi_similarity_mining_drops_easy_pairs():
    # positive at cosine 1, negative at cosine 0: with epsilon 0.1 the negative (0 + 0.1 < 1) and
    # the positive (1 - 0.1 > 0) are both easy, every anchor keeps nothing and the loss is 0
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], requires_grad=True)
    loss = VF.multi_similarity_loss(x, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x))
    assert VF.multi_similarity_loss(x, torch.tensor([0, 0, 1, 1]), mining=False) > 0


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"alpha": 0.0}, ValueError, "alpha: expected"),
        ({"beta": -1.0}, ValueError, "beta: expected"),
        ({"base": 2.0}, ValueError, "base: expected"),
        ({"epsilon": -0.1}, ValueError, "epsilon: expected"),
        ({"mining": 1}, TypeError, "mining: expected a bool"),
    ],
)
def test_multi_similarity_options_raise_when_the_module_is_built(options, error, message):
    with pytest.raises(error, match=message):
        visionloss.MultiSimilarityLoss(**options)


# =================================================================================================
# CLIP's symmetric InfoNCE (losses/_clip.py)
# =================================================================================================


def _open_clip_convention(image, text, scale):
    # open_clip's ClipLoss (read, not installed): features normalised, logits = scale * img @ txt.T,
    # labels arange(B), (CE(logits, labels) + CE(logits.T, labels)) / 2; here in float64
    img = F.normalize(image.double(), dim=1)
    txt = F.normalize(text.double(), dim=1)
    logits = scale * img @ txt.T
    labels = torch.arange(image.shape[0])
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def test_clip_hand_values():
    # two orthogonal pairs, identical image and text, tau = 1: each row and each column sees its
    # positive at s = 1 and one negative at s = 0, so both directions give -log(e / (e + 1))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    value = -math.log(math.e / (math.e + 1))
    torch.testing.assert_close(
        VF.clip_loss(x, x.clone(), temperature=1.0, reduction="none"),
        torch.full((2,), value, dtype=torch.float64),
    )
    # an asymmetric batch: image 1 lies between the two texts, so the two directions differ;
    # image->text rows: [-log(e/(e+1)), -log(e^c/(e^c + e^c))], c = cos 45deg
    image = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    c = math.sqrt(0.5)
    i2t = [-math.log(math.e / (math.e + 1)), math.log(2.0)]
    # text->image columns: text 0 sees images at s = 1 (its own) and c; text 1 at 0 and c (own)
    t2i = [-math.log(math.e / (math.e + math.exp(c))), -math.log(math.exp(c) / (1 + math.exp(c)))]
    expected = torch.tensor([(a + b) / 2 for a, b in zip(i2t, t2i, strict=True)],
                            dtype=torch.float64)
    torch.testing.assert_close(
        VF.clip_loss(image, text, temperature=1.0, reduction="none"), expected
    )


@pytest.mark.parametrize("temperature", [0.07, 0.5, 2.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_clip_equals_the_open_clip_convention(temperature, seed):
    gen = torch.Generator().manual_seed(seed)
    image = torch.randn(7, 5, generator=gen)
    text = image + 0.8 * torch.randn(7, 5, generator=gen)
    expected = _open_clip_convention(image, text, 1.0 / temperature)
    torch.testing.assert_close(
        VF.clip_loss(image.double(), text.double(), temperature=temperature), expected
    )
    # float32 input: a float32 result close to the float64 one
    got = VF.clip_loss(image, text, temperature=temperature)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)
    # a logit_scale tensor (log of the scale, as CLIP's parameter) gives the same value
    log_scale = torch.tensor(math.log(1.0 / temperature), dtype=torch.float64)
    torch.testing.assert_close(
        VF.clip_loss(image.double(), text.double(), log_scale), expected
    )


def test_clip_differs_from_nt_xent_by_the_same_modality_negatives():
    # NT-Xent's row of a first view takes its softmax over the other first views too; CLIP's
    # image->text row only over the texts. Same cosine and temperature convention: adding the
    # image-image terms (self excluded) to CLIP's denominator gives NT-Xent's first-view rows.
    gen = torch.Generator().manual_seed(2)
    z1 = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    z2 = z1 + 0.5 * torch.randn(5, 4, generator=gen, dtype=torch.float64)
    tau = 0.3
    u1, u2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    cross, same = u1 @ u2.T / tau, u1 @ u1.T / tau
    same = same.masked_fill(torch.eye(5, dtype=torch.bool), float("-inf"))
    nt_rows = torch.logsumexp(torch.cat([cross, same], dim=1), dim=1) - cross.diagonal()
    torch.testing.assert_close(
        VF.nt_xent_loss(z1, z2, temperature=tau, reduction="none")[:5], nt_rows
    )
    i2t = torch.logsumexp(cross, dim=1) - cross.diagonal()
    t2i = torch.logsumexp(cross, dim=0) - cross.diagonal()
    torch.testing.assert_close(
        VF.clip_loss(z1, z2, temperature=tau, reduction="none"), (i2t + t2i) / 2
    )
    assert (nt_rows > i2t).all()  # the extra negatives only raise the loss


def test_clip_module_owns_a_learnable_temperature():
    gen = torch.Generator().manual_seed(6)
    image = torch.randn(6, 4, generator=gen)
    text = image + 0.5 * torch.randn(6, 4, generator=gen)
    fixed = visionloss.ClipLoss()
    assert fixed.logit_scale is None and not list(fixed.parameters())
    loss = visionloss.ClipLoss(learn_temperature=True)
    # CLIP's initial value log(1 / 0.07), a scalar Parameter in the state_dict
    assert isinstance(loss.logit_scale, torch.nn.Parameter) and loss.logit_scale.dim() == 0
    torch.testing.assert_close(loss.logit_scale.detach(), torch.tensor(math.log(1 / 0.07)))
    assert set(loss.state_dict()) == {"logit_scale"}
    value = loss(image, text)
    torch.testing.assert_close(value, fixed(image, text))
    value.backward()
    assert loss.logit_scale.grad is not None and loss.logit_scale.grad != 0
    # the gradient of the scale is the derivative of the reference in log t
    log_t = torch.tensor(math.log(1 / 0.07), dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad(_open_clip_convention(image, text, log_t.exp()), log_t)
    torch.testing.assert_close(loss.logit_scale.grad.double(), expected, rtol=1e-4, atol=1e-6)
    # an optimizer step moves it; .double() follows it
    torch.optim.SGD(loss.parameters(), lr=0.1).step()
    assert loss.logit_scale.item() != math.log(1 / 0.07)
    assert loss.double().logit_scale.dtype == torch.float64


def test_clip_learned_scale_is_clamped_at_max_scale():
    gen = torch.Generator().manual_seed(7)
    image = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    text = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    beyond = torch.tensor(math.log(1000.0), dtype=torch.float64, requires_grad=True)
    value = VF.clip_loss(image, text, beyond)  # scale clipped to 100
    torch.testing.assert_close(value, _open_clip_convention(image, text, 100.0))
    (grad,) = torch.autograd.grad(value, beyond)
    assert grad == 0  # no push beyond the bound
    # a custom bound
    torch.testing.assert_close(
        VF.clip_loss(image, text, beyond, max_scale=20.0),
        _open_clip_convention(image, text, 20.0),
    )
    # below the bound the scale is exp(logit_scale) exactly
    below = torch.tensor(math.log(30.0), dtype=torch.float64)
    torch.testing.assert_close(
        VF.clip_loss(image, text, below), _open_clip_convention(image, text, 30.0)
    )


def test_clip_is_symmetric_in_the_modalities():
    gen = torch.Generator().manual_seed(8)
    image, text = torch.randn(6, 5, generator=gen), torch.randn(6, 5, generator=gen)
    torch.testing.assert_close(
        VF.clip_loss(image, text, reduction="none"), VF.clip_loss(text, image, reduction="none")
    )


# sync=True: tests/test_distributed.py's SYNCED table ("clip", uneven and empty shards)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"temperature": 0.0}, ValueError, "temperature: expected"),
        ({"max_scale": -1.0}, ValueError, "max_scale: expected"),
        ({"learn_temperature": "yes"}, TypeError, "learn_temperature: expected a bool"),
        ({"sync": 1}, TypeError, "sync: expected a bool"),
    ],
)
def test_clip_options_raise_when_the_module_is_built(options, error, message):
    with pytest.raises(error, match=message):
        visionloss.ClipLoss(**options)


def test_clip_shape_errors():
    with pytest.raises(ValueError, match="text_embeddings"):
        VF.clip_loss(torch.randn(3, 2), torch.randn(4, 2))
    with pytest.raises(ValueError, match="logit_scale"):
        VF.clip_loss(torch.randn(3, 2), torch.randn(3, 2), torch.zeros(2))
