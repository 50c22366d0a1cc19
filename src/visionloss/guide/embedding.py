"""Cards of the embedding losses: triplet margin, mined batch triplet, contrastive, NT-Xent,
supervised contrastive, ArcFace, CosFace,
multi-similarity, CLIP."""

from __future__ import annotations

from ._card import Card, Claim, demo, paper, plot, test

__all__ = ["CARDS"]

_HERMANS = (
    "A. Hermans, L. Beyer, B. Leibe, In Defense of the Triplet Loss for Person "
    "Re-Identification, 2017, arXiv:1703.07737"
)
_FACENET = "F. Schroff et al., FaceNet, CVPR 2015, arXiv:1503.03832"
_SIMCLR = (
    "T. Chen, S. Kornblith, M. Norouzi, G. Hinton, A Simple Framework for Contrastive Learning "
    "of Visual Representations, ICML 2020, arXiv:2002.05709"
)
_ARCFACE = (
    "J. Deng, J. Guo, N. Xue, S. Zafeiriou, ArcFace: Additive Angular Margin Loss for Deep Face "
    "Recognition, CVPR 2019, arXiv:1801.07698"
)
_COSFACE = (
    "H. Wang et al., CosFace: Large Margin Cosine Loss for Deep Face Recognition, CVPR 2018, "
    "arXiv:1801.09414"
)
_MS = (
    "X. Wang, X. Han, W. Huang, D. Dong, M. R. Scott, Multi-Similarity Loss with General Pair "
    "Weighting for Deep Metric Learning, CVPR 2019, arXiv:1904.06627"
)
_SUPCON = "P. Khosla et al., Supervised Contrastive Learning, NeurIPS 2020, arXiv:2004.11362"
_WANG_LIU = (
    "F. Wang, H. Liu, Understanding the Behaviour of Contrastive Loss, CVPR 2021, "
    "arXiv:2012.09740"
)
# the evidence tests of the cards added in issue 19 (one block at the end of the file)
_E19 = "tests/test_guide_evidence.py"
_CLIP = (
    "A. Radford et al., Learning Transferable Visual Models From Natural Language Supervision, "
    "ICML 2021, arXiv:2103.00020"
)
_EVC = "tests/test_guide_evidence_i19emb.py"
_EMB = "tests/test_embedding.py"

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
    "nt_xent": Card(
        definition="SimCLR's NT-Xent (InfoNCE): the two augmented views of a sample are a "
        "positive pair and every other row of the batch a negative; each row takes a softmax "
        "over its 2N - 1 temperature-scaled cosine similarities and must pick its other view.",
        application="Self-supervised pre-training of image encoders without labels (SimCLR, "
        "MoCo-style objectives), then a linear probe or fine-tuning on the labelled task.",
        advantages=(
            Claim(
                "Needs no labels: the augmentations define the positives, and the loss falls "
                "as the two views of each sample align relative to the rest of the batch.",
                (test("test_nt_xent_needs_no_labels_and_falls_as_the_views_align", _E19),
                 paper(_SIMCLR)),
            ),
            Claim(
                "Weighs hard negatives by their softmax probability: at a low temperature "
                "almost all of the push goes to the closest negatives.",
                (test("test_nt_xent_weighs_hard_negatives_more_at_a_low_temperature", _E19),
                 paper(_WANG_LIU)),
            ),
            Claim(
                "With sync=True the negatives come from every rank: K processes compute "
                "exactly the loss of one process with the global batch.",
                (test("test_synced_loss_equals_one_process_on_the_concatenated_batch",
                      "tests/test_distributed.py"),),
            ),
        ),
        disadvantages=(
            Claim(
                "The negatives are the batch: the value of an uninformative embedding is "
                "log(2N - 1), values are not comparable across batch sizes, and SimCLR needs "
                "large batches (its accuracy still rose at 4096).",
                (test("test_nt_xent_value_grows_with_the_batch_as_log_2n_minus_1", _E19),
                 paper(_SIMCLR)),
            ),
            Claim(
                "Other samples of the same class are negatives too and are pushed apart "
                "(class collision).",
                (test("test_nt_xent_pushes_apart_samples_of_the_same_class", _E19),
                 paper(_SUPCON)),
            ),
            Claim(
                "The temperature is a sensitive hyperparameter: it sets how strongly hard "
                "negatives dominate (SimCLR tunes it per batch size).",
                (test("test_nt_xent_weighs_hard_negatives_more_at_a_low_temperature", _E19),
                 paper(_SIMCLR)),
            ),
            Claim(
                "Given labels, it did not beat the best triplet loss on the demo's digits: with "
                "two images of a digit as the views, recall@1 0.974 ± 0.008 against batch-all "
                "triplet's 0.980 ± 0.003, within the noise (p = 0.044 over 5 seeds).",
                (
                    demo("embedding, issue 19 rerun", "NT-Xent τ=0.1, same-digit views"),
                    demo("embedding, issue 19 rerun", "triplet, batch-all"),
                ),
            ),
        ),
        alternatives=(
            ("supervised_contrastive", "labels are available: same-class samples as positives"),
            ("batch_triplet", "labelled P x K batches and a margin rather than a softmax"),
        ),
    ),
    "supervised_contrastive": Card(
        definition="SupCon (the L_out form): NT-Xent where every other sample with the anchor's "
        "label is a positive; the log-probabilities of the positives are averaged per anchor.",
        application="Supervised representation learning with class labels (pre-training before "
        "a linear classifier), fine-grained retrieval, labelled multi-view batches.",
        advantages=(
            Claim(
                "Same-class samples are pulled together instead of being pushed apart as "
                "NT-Xent's negatives.",
                (test("test_supervised_contrastive_pulls_together_samples_of_the_same_class",
                      _E19), paper(_SUPCON)),
            ),
            Claim(
                "Reduces exactly to NT-Xent when the labels mark only the two views of each "
                "sample, so one loss covers both settings.",
                (test("test_supervised_contrastive_with_pair_labels_is_nt_xent", _EMB),),
            ),
        ),
        disadvantages=(
            Claim(
                "An anchor alone in its class contributes nothing (a batch of singletons gives "
                "0 and no gradient): batches need several samples per class.",
                (test("test_supervised_contrastive_without_any_positive_gives_zero_with_zero_"
                      "grads", _EMB),),
            ),
            Claim(
                "Like NT-Xent it leans on large batches and a tuned temperature (the paper "
                "trains with batches of 6144 at tau = 0.1).",
                (test("test_nt_xent_value_grows_with_the_batch_as_log_2n_minus_1", _E19),
                 paper(_SUPCON)),
            ),
        ),
        alternatives=(
            ("nt_xent", "no labels: the two views are the only positives"),
            ("batch_triplet", "a margin on distances with mined triplets"),
        ),
    ),
    "arcface": Card(
        definition="A softmax over C learnt class centres on the cosine of the angle between "
        "the normalised embedding and each centre, scaled by s, with an additive angular "
        "margin m on the true class: its logit is s cos(theta + m).",
        application="Face recognition and verification, person and product re-identification: "
        "many identities, embeddings compared by cosine at test time.",
        advantages=(
            Claim(
                "The margin is constant in angle (geodesic): a sample must beat every other "
                "centre by m radians, so it keeps being pulled after a plain softmax would "
                "have stopped.",
                (test("test_margin_losses_keep_pulling_a_sample_already_classified", _E19),
                 paper(_ARCFACE)),
            ),
            Claim(
                "A classification loss per sample: no pair or triplet mining, no dependence on "
                "the batch's composition.",
                (test("test_margin_losses_are_per_sample_and_need_no_mining", _E19),),
            ),
            Claim(
                "The Module owns the centres as a Parameter, trained, moved and saved with the "
                "network; its value equals pytorch-metric-learning's ArcFaceLoss.",
                (test("test_margin_module_owns_its_centres_as_a_parameter[arcface]", _EMB),
                 test("test_margin_losses_match_pml", "tests/peers/test_embedding_peers.py")),
            ),
        ),
        disadvantages=(
            Claim(
                "The scale s must be large enough: with s = 1 even perfectly separated classes "
                "keep a loss above 1, so s and m are tuned together.",
                (test("test_margin_losses_cannot_reach_zero_with_a_small_scale", _E19),
                 paper(_ARCFACE)),
            ),
            Claim(
                "cos(theta + m) rises again beyond theta = pi - m and arccos has an infinite "
                "slope at cos = 1: a fallback and a clamp are needed (both built in).",
                (test("test_arcface_falls_back_beyond_pi_minus_m", _EMB),
                 test("test_arcface_gradient_is_finite_exactly_on_or_opposite_the_centre", _EMB)),
            ),
            Claim(
                "C x D centre parameters: memory and compute grow with the number of "
                "identities.",
                (test("test_margin_module_owns_its_centres_as_a_parameter[arcface]", _EMB),),
            ),
        ),
        alternatives=(
            ("cosface", "a margin on the cosine: no arccos, smooth everywhere"),
            ("batch_triplet", "no fixed set of classes (open-set, new identities in training)"),
            ("supervised_contrastive", "labels but no class centres to store"),
        ),
    ),
    "cosface": Card(
        definition="A softmax over C learnt class centres on scaled cosines, the true class's "
        "cosine lowered by a margin m: its logit is s (cos theta - m).",
        application="Face recognition and verification, re-identification, any "
        "many-class embedding compared by cosine at test time.",
        advantages=(
            Claim(
                "No arccos: smooth everywhere, finite gradients with the embedding on or "
                "opposite its centre, no fallback branch.",
                (test("test_margin_losses_keep_pulling_a_sample_already_classified", _E19),
                 test("test_margin_module_owns_its_centres_as_a_parameter[cosface]", _EMB),
                 paper(_COSFACE)),
            ),
            Claim(
                "A classification loss per sample: no mining, independent of the batch; its "
                "value equals pytorch-metric-learning's CosFaceLoss.",
                (test("test_margin_losses_are_per_sample_and_need_no_mining", _E19),
                 test("test_margin_losses_match_pml", "tests/peers/test_embedding_peers.py")),
            ),
        ),
        disadvantages=(
            Claim(
                "The scale s must be large enough: with s = 1 even perfectly separated classes "
                "keep a loss above 1.",
                (test("test_margin_losses_cannot_reach_zero_with_a_small_scale", _E19),
                 paper(_COSFACE)),
            ),
            Claim(
                "C x D centre parameters, growing with the number of identities.",
                (test("test_margin_module_owns_its_centres_as_a_parameter[cosface]", _EMB),),
            ),
        ),
        alternatives=(
            ("arcface", "a margin constant in angle"),
            ("batch_triplet", "no fixed set of classes"),
        ),
    ),
    "multi_similarity": Card(
        definition="Every positive and negative pair of a labelled batch, on cosine "
        "similarities: (1/alpha) log(1 + sum_P exp(-alpha (S - base))) + (1/beta) log(1 + "
        "sum_N exp(beta (S - base))) per anchor, after mining the informative pairs with a "
        "margin epsilon.",
        application="Deep metric learning for image retrieval (CUB, Cars, SOP, In-Shop) with "
        "P x K batches; a strong default among the pair-based losses.",
        advantages=(
            Claim(
                "Soft pair weighting: each pair's weight grows with its hardness relative to "
                "the others, so the hard negatives take nearly all of the gradient.",
                (test("test_multi_similarity_gives_hard_negatives_most_of_the_gradient", _E19),
                 paper(_MS)),
            ),
            Claim(
                "Mining drops the easy pairs: a well-separated batch costs nothing and gives no "
                "gradient. Equal to pytorch-metric-learning's loss with its miner.",
                (test("test_multi_similarity_mining_drops_easy_pairs", _EMB),
                 test("test_multi_similarity_matches_pml", "tests/peers/test_embedding_peers.py")),
            ),
        ),
        disadvantages=(
            Claim(
                "Four hyperparameters (alpha, beta, base, epsilon); with mining an anchor whose "
                "class is alone in the batch contributes nothing, so batches need P x K "
                "sampling.",
                (test("test_multi_similarity_anchors_without_a_positive_count_nothing_when_"
                      "mining", _E19), paper(_MS)),
            ),
            Claim(
                "Sees only directions (cosines): embedding norms get no training signal, and "
                "retrieval must compare by cosine.",
                (test("test_multi_similarity_sees_only_directions_not_norms", _E19),),
            ),
        ),
        alternatives=(
            ("batch_triplet", "one hard triplet per anchor with a margin on distances"),
            ("supervised_contrastive", "a softmax over the batch rather than pair weights"),
        ),
    ),
    "clip": Card(
        definition="CLIP's symmetric InfoNCE over a batch of B image-text pairs: the (B, B) "
        "scaled cosine similarities between images and texts, the pairs on the diagonal; each "
        "image takes a softmax over the texts and each text over the images, and the two "
        "cross-entropies are averaged.",
        application="Contrastive pre-training of two encoders on paired data (image-caption, "
        "image-report, video-text, any two modalities), for zero-shot classification and "
        "cross-modal retrieval.",
        advantages=(
            Claim(
                "Needs only the pairing, no class labels: the loss falls as each image and its "
                "text align relative to the rest of the batch, in both directions.",
                (test("test_clip_falls_as_the_pairs_align_in_both_directions", _EVC),
                 paper(_CLIP)),
            ),
            Claim(
                "The temperature can be learned (the Module owns CLIP's log-scale parameter, "
                "clipped at a scale of 100), instead of being tuned by hand.",
                (test("test_clip_module_owns_a_learnable_temperature", _EMB),
                 test("test_clip_learned_scale_is_clamped_at_max_scale", _EMB), paper(_CLIP)),
            ),
            Claim(
                "With sync=True the negatives come from every rank: K processes compute "
                "exactly the loss of one process with the global batch.",
                (test("test_synced_loss_equals_one_process_on_the_concatenated_batch",
                      "tests/test_distributed.py"),),
            ),
        ),
        disadvantages=(
            Claim(
                "The negatives are the batch: an uninformative embedding scores log B, so "
                "values are not comparable across batch sizes, and CLIP trained with batches "
                "of 32768.",
                (test("test_clip_value_of_an_uninformative_embedding_is_log_b", _EVC),
                 paper(_CLIP)),
            ),
            Claim(
                "Every other pair of the batch is a negative, a duplicate caption included: "
                "two pairs with the same text cannot go below log 2 in their rows.",
                (test("test_clip_treats_a_duplicate_caption_as_a_negative", _EVC),),
            ),
        ),
        alternatives=(
            ("nt_xent", "one modality: two augmented views of each image"),
            ("supervised_contrastive", "class labels that mark several positives per anchor"),
        ),
    ),
}
