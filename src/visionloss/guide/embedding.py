"""Cards of the embedding losses: triplet margin, mined batch triplet, contrastive."""

from __future__ import annotations

from ._card import Card, Claim, demo, paper, plot, test

__all__ = ["CARDS"]

_HERMANS = (
    "A. Hermans, L. Beyer, B. Leibe, In Defense of the Triplet Loss for Person "
    "Re-Identification, 2017, arXiv:1703.07737"
)
_FACENET = "F. Schroff et al., FaceNet, CVPR 2015, arXiv:1503.03832"

CARDS: dict[str, Card] = {
    "triplet_margin": Card(
        definition="max(0, d(a, p) - d(a, n) + margin) for given (anchor, positive, negative) "
        "rows: the negative must be a margin farther from the anchor than the positive.",
        application="Metric learning when triplets are built outside the loss (offline mining, "
        "a fixed triplet dataset); face and product retrieval.",
        advantages=(
            Claim(
                "Only relative distances matter, and easy triplets cost nothing (zero loss and "
                "gradient once the margin is met).",
                (test("test_triplet_easy_triplets_give_no_gradient"), plot("embedding")),
            ),
            Claim(
                "Defaults equal torch's F.triplet_margin_loss.",
                (test("test_triplet_margin_matches_torch"),),
            ),
        ),
        disadvantages=(
            Claim(
                "Most random triplets are easy and give no gradient, so without mining "
                "training stalls.",
                (test("test_triplet_easy_triplets_give_no_gradient"), paper(_HERMANS)),
            ),
            Claim(
                "The margin is in distance units and must be set with the embedding's scale.",
                (test("test_triplet_easy_triplets_give_no_gradient"),),
            ),
        ),
        alternatives=(
            ("batch_triplet", "labelled batches: the loss mines its own triplets"),
            ("contrastive", "pair labels (same/different) rather than triplets"),
        ),
    ),
    "batch_triplet": Card(
        definition="The triplet loss mined inside a labelled batch: batch-hard (the farthest "
        "positive and nearest negative per anchor), batch-all (every valid triplet with a "
        "positive loss) or semi-hard (FaceNet's negatives farther than the positive but within "
        "the margin).",
        application="Person re-identification, face recognition, image retrieval with P x K "
        "batches (P identities, K images each).",
        advantages=(
            Claim(
                "Mines informative triplets itself, from the whole batch; on the demo's "
                "digits semi-hard mining gave the best mean recall@1 and the smallest spread "
                "(0.978 ± 0.003, batch-hard 0.972 ± 0.009; p = 0.061 over 5 seeds, so not "
                "beyond the noise at full size; p = 0.003 in quick mode).",
                (
                    test("test_batch_all_averages_over_every_valid_triplet"),
                    demo("embedding", "triplet, semi-hard"),
                    demo("embedding", "triplet, batch-hard"),
                    paper(_HERMANS),
                ),
            ),
            Claim(
                "Semi-hard mining avoids the collapse that batch-hard can show early: on "
                "hard, overlapping classes batch-hard drives every embedding to one point "
                "(mean distance < 0.1, loss = margin), semi-hard keeps them spread (> 3).",
                (
                    test("test_semi_hard_mining_avoids_the_collapse_batch_hard_shows"),
                    paper(_FACENET),
                ),
            ),
        ),
        disadvantages=(
            Claim(
                "Batch-hard can collapse all embeddings to a point on hard data, a stationary "
                "point with loss equal to the margin.",
                (test("test_semi_hard_mining_avoids_the_collapse_batch_hard_shows"),),
            ),
            Claim(
                "Needs batches with several samples per class; the hardest pairs are often "
                "label noise.",
                (test("test_batch_all_averages_over_every_valid_triplet"), paper(_HERMANS)),
            ),
        ),
        alternatives=(
            ("triplet_margin", "triplets chosen offline"),
            ("contrastive", "pair supervision"),
        ),
    ),
    "contrastive": Card(
        definition="Hadsell et al.'s pair loss: d^2 for similar pairs, max(0, margin - d)^2 for "
        "dissimilar ones.",
        application="Siamese networks for verification (signatures, faces, patches), "
        "dimensionality reduction with pair labels.",
        advantages=(
            Claim(
                "Needs only pair labels (same / different); dissimilar pairs beyond the margin "
                "cost nothing.",
                (
                    test(
                        "test_contrastive_pulls_positives_always_pushes_negatives_only_inside_margin"
                    ),
                    plot("embedding"),
                    paper(
                        "R. Hadsell, S. Chopra, Y. LeCun, Dimensionality Reduction by Learning "
                        "an Invariant Mapping, CVPR 2006"
                    ),
                ),
            ),
            Claim(
                "Simple and cheap: one distance per pair.",
                (
                    test(
                        "test_contrastive_pulls_positives_always_pushes_negatives_only_inside_margin"
                    ),
                ),
            ),
        ),
        disadvantages=(
            Claim(
                "Similar pairs are pulled all the way to distance 0 (even at 0.1), removing all "
                "intra-class variation; triplet losses only ask for a relative margin.",
                (
                    test(
                        "test_contrastive_pulls_positives_always_pushes_negatives_only_inside_margin"
                    ),
                ),
            ),
            Claim(
                "An absolute margin in distance units, to be tuned with the embedding scale.",
                (
                    test(
                        "test_contrastive_pulls_positives_always_pushes_negatives_only_inside_margin"
                    ),
                ),
            ),
        ),
        alternatives=(
            ("batch_triplet", "class labels and P x K batches"),
            ("triplet_margin", "relative rather than absolute distances"),
        ),
    ),
}
