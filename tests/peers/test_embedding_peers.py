"""Embedding family against pytorch-metric-learning (written against pml 2.9.0).

pml's conventions, and where they meet ours:

* distances: ``LpDistance`` normalises embeddings by default; ``normalize_embeddings=False`` gives
  the raw Euclidean distance, ``power=2`` the squared one; ``CosineSimilarity`` is an inverted
  distance (similarity s), and pml's triplet margin ``s_an - s_ap`` equals our
  ``(1 - s_ap) - (1 - s_an)``, so our ``"cosine"`` matches it.
* ``TripletMarginLoss`` reduces with ``AvgNonZeroReducer`` by default: the mean over the mined
  triplets whose loss is > 0. Our ``batch_all`` is defined that way; our ``batch_hard`` averages
  over every valid anchor (zeros included), which is pml with ``MeanReducer``; the two agree with
  the default reducer only when every mined triplet has a positive loss.
* ``smooth_loss=True`` is ``softplus(d_ap - d_an + margin)``: our ``soft_margin`` at margin 0.
* ``TripletMarginMiner(type_of_triplets="semihard")`` keeps *every* triplet with
  ``d_ap < d_an <= d_ap + margin``; ours keeps one negative per positive pair (the closest farther
  one, TensorFlow Addons' rule) with a fallback to the farthest. They coincide when each positive
  pair has exactly one negative in that window (asserted before comparing).
* ``BatchEasyHardMiner(pos_strategy="hard", neg_strategy="semihard")`` takes the hardest positive
  and the closest negative farther than it, dropping anchors with none: with classes of two
  (one positive per anchor) and a farther negative for every anchor it is our ``semi_hard``.
* ``ContrastiveLoss`` is ``relu(d - pos_margin)`` and ``relu(neg_margin - d)`` (not squared, not
  halved), reduced over positive and negative pairs separately: compared per pair through
  ``DoNothingReducer``.
"""

from __future__ import annotations

import pytest
import torch

import visionloss.functional as VF

pml = pytest.importorskip("pytorch_metric_learning")
from pytorch_metric_learning import distances, losses, miners, reducers  # noqa: E402

DISTANCE_PAIRS = {
    "euclidean": lambda: distances.LpDistance(normalize_embeddings=False),
    "squared_euclidean": lambda: distances.LpDistance(normalize_embeddings=False, power=2),
    "cosine": lambda: distances.CosineSimilarity(),
}


def _batch(seed=0, b=12, d=4):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, d, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 4, 4, 4, 5])[:b]  # 2 and 5 are singletons
    return x, labels


def _value_and_grad(fn, x):
    x = x.clone().requires_grad_(True)
    loss = fn(x)
    (grad,) = torch.autograd.grad(loss, x)
    return loss.detach(), grad


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("distance", list(DISTANCE_PAIRS))
def test_batch_hard_equals_pml_batch_hard_miner_with_mean_reducer(distance, seed):
    margin = 0.1 if distance == "cosine" else 0.5
    x, labels = _batch(seed)
    pml_distance = DISTANCE_PAIRS[distance]()
    miner = miners.BatchHardMiner(distance=pml_distance)
    loss_fn = losses.TripletMarginLoss(
        margin=margin, distance=pml_distance, reducer=reducers.MeanReducer()
    )

    def theirs(e):
        return loss_fn(e, labels, miner(e, labels))

    def ours(e):
        return VF.batch_triplet_loss(e, labels, margin=margin, distance=distance)

    expected, expected_grad = _value_and_grad(theirs, x)
    got, got_grad = _value_and_grad(ours, x)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got_grad, expected_grad)


def test_batch_hard_equals_pml_default_reducer_when_every_triplet_is_active():
    x, labels = _batch(5)
    margin = 4.0  # large: every mined triplet has a positive loss, so AvgNonZero = mean
    ours_none = VF.batch_triplet_loss(x, labels, margin=margin, reduction="none")
    has_triplet = torch.tensor([(labels == c).sum() > 1 for c in labels])
    assert (ours_none[has_triplet] > 0).all()
    pml_distance = DISTANCE_PAIRS["euclidean"]()
    miner = miners.BatchHardMiner(distance=pml_distance)
    loss_fn = losses.TripletMarginLoss(margin=margin, distance=pml_distance)
    torch.testing.assert_close(
        VF.batch_triplet_loss(x, labels, margin=margin), loss_fn(x, labels, miner(x, labels))
    )


@pytest.mark.parametrize("with_miner", [False, True], ids=["all_triplets", "miner_all"])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("distance", list(DISTANCE_PAIRS))
def test_batch_all_equals_pml_all_triplets_avg_nonzero(distance, seed, with_miner):
    margin = 0.1 if distance == "cosine" else 0.5
    x, labels = _batch(seed)
    pml_distance = DISTANCE_PAIRS[distance]()
    # no miner: every triplet (triplets_per_anchor="all"), AvgNonZeroReducer
    loss_fn = losses.TripletMarginLoss(margin=margin, distance=pml_distance)
    # the "all" miner keeps d_an - d_ap <= margin (loss >= 0): the same after the reducer
    miner = miners.TripletMarginMiner(margin=margin, type_of_triplets="all", distance=pml_distance)

    def theirs(e):
        return loss_fn(e, labels, miner(e, labels) if with_miner else None)

    def ours(e):
        return VF.batch_triplet_loss(
            e, labels, margin=margin, mining="batch_all", distance=distance
        )

    expected, expected_grad = _value_and_grad(theirs, x)
    got, got_grad = _value_and_grad(ours, x)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got_grad, expected_grad)


def test_batch_all_soft_margin_equals_pml_smooth_loss_at_zero_margin():
    x, labels = _batch(2)
    theirs = losses.TripletMarginLoss(
        margin=0.0, smooth_loss=True, distance=DISTANCE_PAIRS["euclidean"]()
    )
    got = VF.batch_triplet_loss(x, labels, mining="batch_all", soft_margin=True)
    torch.testing.assert_close(got, theirs(x, labels))


def _semi_hard_window_counts(x, labels, margin):
    """Brute force: for each positive pair, how many negatives have d_ap < d_an <= d_ap + margin."""
    dist = torch.cdist(x, x)
    counts = []
    for a in range(len(labels)):
        for p in range(len(labels)):
            if p != a and labels[p] == labels[a]:
                negatives = dist[a][labels != labels[a]]
                counts.append(
                    int(((negatives > dist[a, p]) & (negatives <= dist[a, p] + margin)).sum())
                )
    return counts


def test_semi_hard_equals_pml_semihard_miner_where_they_coincide():
    # seed 2722 was searched for a batch where each positive pair has exactly one negative in the
    # semi-hard window (the precondition is asserted, not assumed)
    margin = 0.3
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(2722), dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    assert _semi_hard_window_counts(x, labels, margin) == [1] * 6
    pml_distance = DISTANCE_PAIRS["euclidean"]()
    miner = miners.TripletMarginMiner(
        margin=margin, type_of_triplets="semihard", distance=pml_distance
    )
    loss_fn = losses.TripletMarginLoss(margin=margin, distance=pml_distance)

    def ours(e):
        return VF.batch_triplet_loss(e, labels, margin=margin, mining="semi_hard")

    got, got_grad = _value_and_grad(ours, x)
    expected, expected_grad = _value_and_grad(lambda e: loss_fn(e, labels, miner(e, labels)), x)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got_grad, expected_grad)


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_semi_hard_equals_pml_easy_hard_miner_with_pairs(distance):
    # classes of two: each anchor has one positive, so "hardest positive" is that positive
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    margin = 0.2 if distance == "cosine" else 1.0
    compared = 0
    for seed in range(20):
        x = torch.randn(10, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        pml_distance = DISTANCE_PAIRS[distance]()
        miner = miners.BatchEasyHardMiner(
            pos_strategy="hard", neg_strategy="semihard", distance=pml_distance
        )
        mined = miner(x, labels)
        if len(mined[0]) != len(labels):
            continue  # an anchor has no farther negative: pml drops it, we fall back; skip
        compared += 1
        loss_fn = losses.TripletMarginLoss(
            margin=margin, distance=pml_distance, reducer=reducers.MeanReducer()
        )
        expected = loss_fn(x, labels, mined)
        got = VF.batch_triplet_loss(x, labels, margin=margin, mining="semi_hard", distance=distance)
        torch.testing.assert_close(got, expected)
    assert compared >= 5  # 8 of the 20 seeds qualify for either distance


def test_contrastive_per_pair_against_pml():
    gen = torch.Generator().manual_seed(4)
    x1 = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    x2 = x1 + 0.5 * torch.randn(8, 3, generator=gen, dtype=torch.float64)
    same = torch.tensor([1, 0, 1, 0, 0, 1, 0, 0])
    margin = 1.2
    # pml on the 16 embeddings [x1; x2] with explicit pairs (i, 8 + i), per-pair losses
    index = torch.arange(8)
    pos, neg = index[same == 1], index[same == 0]
    loss_fn = losses.ContrastiveLoss(
        pos_margin=0.0,
        neg_margin=margin,
        distance=DISTANCE_PAIRS["euclidean"](),
        reducer=reducers.DoNothingReducer(),
    )
    out = loss_fn(torch.cat([x1, x2]), indices_tuple=(pos, pos + 8, neg, neg + 8))
    expected = torch.zeros(8, dtype=torch.float64)
    # ours: 0.5 d^2 = 0.5 relu(d - 0)^2 and 0.5 relu(m - d)^2
    expected[pos] = 0.5 * out["pos_loss"]["losses"] ** 2
    expected[neg] = 0.5 * out["neg_loss"]["losses"] ** 2
    got = VF.contrastive_loss(x1, x2, same, margin=margin, reduction="none")
    torch.testing.assert_close(got, expected)


# --- NT-Xent and SupCon ---------------------------------------------------------------------------
# pml's NTXentLoss takes the two views concatenated, with labels marking the pairs; with one
# positive per row its per-pair losses are our 2N rows. Its SupConLoss reduces with
# AvgNonZeroReducer (anchors without a positive give 0 and drop out: our mean).


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_nt_xent_matches_pml(temperature):
    gen = torch.Generator().manual_seed(0)
    z1 = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    z2 = z1 + 0.5 * torch.randn(7, 5, generator=gen, dtype=torch.float64)
    theirs = losses.NTXentLoss(temperature=temperature)(
        torch.cat([z1, z2]), torch.arange(7).repeat(2)
    )
    ours = VF.nt_xent_loss(z1, z2, temperature=temperature)
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("temperature", [0.1, 0.7])
def test_supervised_contrastive_matches_pml(temperature):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(12, 4, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 4, 4, 4, 5])  # 2 and 5 alone
    theirs = losses.SupConLoss(temperature=temperature)(x, labels)
    ours = VF.supervised_contrastive_loss(x, labels, temperature=temperature)
    torch.testing.assert_close(ours, theirs)


# --- ArcFace and CosFace: pml's weight W is (D, C) (our centres transposed); its ArcFace margin
# is in degrees. The centres are copied from our Module into pml's.


@pytest.mark.parametrize(("kind", "margin", "scale"),
                         [("arcface", 0.5, 64.0), ("arcface", 0.2, 10.0),
                          ("cosface", 0.35, 64.0), ("cosface", 0.1, 5.0)])
def test_margin_losses_match_pml(kind, margin, scale):
    import math

    import visionloss

    torch.manual_seed(0)
    b, d, c = 16, 6, 5
    x = torch.randn(b, d, dtype=torch.float64)
    y = torch.randint(0, c, (b,))
    ours_cls = {"arcface": visionloss.ArcFaceLoss, "cosface": visionloss.CosFaceLoss}[kind]
    ours = ours_cls(num_classes=c, embedding_dim=d, margin=margin, scale=scale).double()
    if kind == "arcface":
        theirs = losses.ArcFaceLoss(c, d, margin=math.degrees(margin), scale=scale)
    else:
        theirs = losses.CosFaceLoss(c, d, margin=margin, scale=scale)
    theirs = theirs.double()
    theirs.W.data = ours.centers.detach().T.clone()
    torch.testing.assert_close(ours(x, y), theirs(x, y))


# --- MultiSimilarityLoss: pml's loss on every pair is our mining=False; with its
# MultiSimilarityMiner(epsilon) the mined pairs are ours with mining=True. Both average over every
# anchor (MeanReducer).


@pytest.mark.parametrize("mining", [False, True])
@pytest.mark.parametrize(("alpha", "beta", "base"), [(2.0, 50.0, 0.5), (1.0, 10.0, 0.2)])
def test_multi_similarity_matches_pml(mining, alpha, beta, base):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(16, 4, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 4, 4, 4, 5, 1, 2, 6, 6])
    loss_fn = losses.MultiSimilarityLoss(alpha=alpha, beta=beta, base=base)
    if mining:
        theirs = loss_fn(x, labels, miners.MultiSimilarityMiner(epsilon=0.1)(x, labels))
    else:
        theirs = loss_fn(x, labels)
    ours = VF.multi_similarity_loss(x, labels, alpha=alpha, beta=beta, base=base, mining=mining)
    torch.testing.assert_close(ours, theirs)
