"""Cards of the classification losses: BCE, cross-entropy, focal, Poly-1, and the dense
detection heads' varifocal, quality focal and distribution focal losses."""

from __future__ import annotations

from ._card import Card, Claim, demo, paper, plot, test

__all__ = ["CARDS"]

_LIN = "T.-Y. Lin et al., Focal Loss for Dense Object Detection, ICCV 2017, arXiv:1708.02002"
_MUKHOTI = (
    "J. Mukhoti et al., Calibrating Deep Neural Networks using Focal Loss, NeurIPS 2020, "
    "arXiv:2002.09437"
)

_I19C = "tests/test_guide_evidence_i19c.py"
_VFL = (
    "H. Zhang, Y. Wang, F. Dayoub, N. Sünderhauf, VarifocalNet: An IoU-aware Dense Object "
    "Detector, CVPR 2021, arXiv:2008.13367"
)
_GFL = (
    "X. Li et al., Generalized Focal Loss: Learning Qualified and Distributed Bounding Boxes "
    "for Dense Object Detection, NeurIPS 2020, arXiv:2006.04388"
)
_OPTIMUM_IS_IOU = test("test_varifocal_and_quality_focal_optimum_is_the_iou", _I19C)
_MEAN_OVER_ANCHORS = test("test_varifocal_mean_is_over_anchors_not_positives", _I19C)

CARDS: dict[str, Card] = {
    "binary_cross_entropy": Card(
        definition="The negative log-likelihood of independent Bernoulli labels: "
        "-[y log p + (1 - y) log(1 - p)] per element, computed from logits in a stable form. "
        "pos_weight scales the positive term; label smoothing pulls the targets from 0/1.",
        application="Binary and multi-label classification (several labels per image), binary "
        "segmentation masks, objectness scores, the discriminator of a GAN.",
        advantages=(
            Claim(
                "Each label is its own problem: one channel's gradient does not depend on the "
                "others' logits, which is what multi-label targets need (softmax couples them).",
                (test("test_bce_treats_each_label_independently"),),
            ),
            Claim(
                "pos_weight rebalances rare positives by scaling exactly the positive term.",
                (test("test_bce_pos_weight_scales_the_positive_term"),),
            ),
        ),
        disadvantages=(
            Claim(
                "A per-pixel mean: on segmentation, the same missed object weighs less in a "
                "larger image (diluted by background), unlike Dice.",
                (test("test_dice_insensitive_to_background_size_unlike_ce"),),
            ),
            Claim(
                "Many easy negatives add up to more loss than a few hard positives.",
                (
                    test("test_cross_entropy_many_easy_examples_outweigh_few_hard_ones"),
                    plot("focal"),
                ),
            ),
        ),
        alternatives=(
            ("focal", "dense detection or masks dominated by easy negatives"),
            ("dice", "binary segmentation where the foreground is a small share of the image"),
            ("cross_entropy", "exactly one class per image or pixel"),
        ),
    ),
    "cross_entropy": Card(
        definition="The negative log-likelihood of the softmax over classes: -log p_target, "
        "with class weights, ignore_index and label smoothing; it equals torch's F.cross_entropy.",
        application="Single-label image classification and multi-class semantic segmentation; "
        "the default to start from and the baseline every other loss is compared with.",
        advantages=(
            Claim(
                "A proper scoring rule: for a label that is right 90% of the time its expected "
                "loss is minimised at p = 0.9, so its probabilities are calibrated in the limit.",
                (test("test_focal_is_not_calibrated_for_soft_labels"),),
            ),
            Claim(
                "Class weights computed from counts (class_weights) give a rare class the same "
                "total pull as a frequent one; on the demo's imbalanced digits they raised "
                "balanced accuracy from 0.764 to 0.801 to 0.803 (5 seeds; plain CE behind the "
                "best with p = 0.001).",
                (
                    test("test_class_weights_give_a_rare_class_the_pull_of_a_frequent_one"),
                    demo("classification", "CE, inverse-frequency weights"),
                    demo("classification", "cross-entropy"),
                ),
            ),
            Claim(
                "Smooth per-pixel gradient whatever the object size, so it trains stably from a "
                "random start where overlap losses can stall.",
                (
                    test("test_dice_gradient_unstable_for_tiny_masks"),
                    test("test_overlap_loss_of_an_empty_mask_jumps_between_zero_and_one"),
                ),
            ),
        ),
        disadvantages=(
            Claim(
                "Unweighted, a rare class gets a tiny share of the gradient (1 pixel in 100: "
                "about 1/99 of the pull).",
                (test("test_class_weights_give_a_rare_class_the_pull_of_a_frequent_one"),),
            ),
            Claim(
                "A per-pixel mean: the same miss is diluted in a larger image.",
                (
                    test("test_cross_entropy_dilutes_a_miss_in_a_larger_image"),
                    test("test_dice_insensitive_to_background_size_unlike_ce"),
                ),
            ),
            Claim(
                "Without label smoothing it keeps pushing the logits apart (the optimum margin "
                "is infinite), which makes models over-confident.",
                (
                    test("test_cross_entropy_pushes_logits_without_bound_label_smoothing_stops"),
                    paper(
                        "C. Szegedy et al., Rethinking the Inception Architecture, CVPR 2016, "
                        "arXiv:1512.00567"
                    ),
                ),
            ),
        ),
        alternatives=(
            ("focal", "extreme imbalance with many easy examples (dense detection)"),
            ("dice_ce", "segmentation scored by Dice/IoU, especially with small structures"),
            ("poly1", "a cheap tweak of CE that often helps classification"),
            ("binary_cross_entropy", "several labels per image"),
        ),
    ),
    "focal": Card(
        definition="Cross-entropy multiplied by (1 - p_t)^gamma, where p_t is the probability "
        "given to the true class, optionally weighted by alpha: well-classified examples "
        "contribute little, hard ones keep nearly their full cross-entropy.",
        application="Dense object detection (RetinaNet's classification head), segmentation and "
        "classification with heavy imbalance where most examples are easy negatives.",
        advantages=(
            Claim(
                "Down-weights easy examples by exactly (1 - p_t)^gamma; gamma = 0 is "
                "cross-entropy.",
                (
                    test("test_focal_downweights_easy_examples_by_one_minus_pt_to_gamma"),
                    test("test_focal_gamma_zero_is_cross_entropy"),
                    plot("focal"),
                    paper(_LIN),
                ),
            ),
            Claim(
                "With 1000 easy and 10 hard examples, the hard ones carry most of the focal "
                "loss, while under CE the easy ones do.",
                (test("test_cross_entropy_many_easy_examples_outweigh_few_hard_ones"),),
            ),
        ),
        disadvantages=(
            Claim(
                "Not a proper scoring rule: for a label right 90% of the time the focal "
                "optimum is a less confident p (< 0.85), so its probabilities are biased "
                "(often welcome against over-confidence, but not calibrated by design).",
                (test("test_focal_is_not_calibrated_for_soft_labels"), paper(_MUKHOTI)),
            ),
            Claim(
                "Hard examples are not always informative: with noisy labels the wrong ones "
                "are the hardest, and focal loss concentrates on them.",
                (test("test_cross_entropy_many_easy_examples_outweigh_few_hard_ones"),),
            ),
            Claim(
                "Two hyperparameters (gamma, alpha) interact; Lin et al. pair gamma 2 with "
                "alpha 0.25 and a prior-initialised bias.",
                (
                    test("test_focal_downweights_easy_examples_by_one_minus_pt_to_gamma"),
                    paper(_LIN),
                ),
            ),
            Claim(
                "Focusing on hard examples is not re-weighting classes: on the demo's "
                "imbalanced digits focal (0.767 balanced accuracy) matched plain CE (0.764) and "
                "trailed class-weighted CE (0.803, p = 0.004); on its small-object "
                "segmentation it had the lowest mean and the largest spread (fg Dice "
                "0.817 ± 0.055 against 0.882 for CE; 0.544 on seeds 5 to 9).",
                (
                    demo("classification", "focal γ=2"),
                    demo("classification", "CE, inverse-frequency weights"),
                    demo("segmentation", "focal γ=2"),
                ),
            ),
        ),
        alternatives=(
            ("cross_entropy", "balanced data or when calibrated probabilities matter"),
            ("dice_focal", "segmentation scored by overlap"),
            ("focal_tversky", "segmentation where small structures are missed"),
        ),
    ),
    "poly1": Card(
        definition="Cross-entropy plus epsilon (1 - p_t): the first term of the polynomial "
        "expansion of CE given its own weight. epsilon = 0 is cross-entropy.",
        application="Image classification (ImageNet-style) and detection classification heads, "
        "as a one-line change of cross-entropy.",
        advantages=(
            Claim(
                "Adds a constant push towards the right class even on confident examples "
                "(epsilon > 0), where CE's pull fades; epsilon = 0 gives back CE.",
                (
                    test("test_poly1_adds_pull_on_confident_examples"),
                    paper("Z. Leng et al., PolyLoss, ICLR 2022, arXiv:2204.12511"),
                ),
            ),
            Claim(
                "Same inputs, options and cost as cross-entropy (class weights, ignore_index, "
                "label smoothing).",
                (test("test_poly1_adds_pull_on_confident_examples"),),
            ),
        ),
        disadvantages=(
            Claim(
                "epsilon is one more parameter, and its sign depends on the task (positive for "
                "classification, negative for imbalanced detection in Leng et al.).",
                (
                    test("test_poly1_adds_pull_on_confident_examples"),
                    paper("Z. Leng et al., PolyLoss, ICLR 2022, arXiv:2204.12511"),
                ),
            ),
            Claim(
                "It does nothing for class imbalance by itself: a rare class still needs class "
                "weights.",
                (test("test_class_weights_give_a_rare_class_the_pull_of_a_frequent_one"),),
            ),
        ),
        alternatives=(
            ("cross_entropy", "the well-understood default"),
            ("focal", "imbalance with many easy negatives"),
        ),
    ),
    "varifocal": Card(
        definition="Binary cross-entropy of the classification logits to an IoU-aware target q "
        "(the IoU of a positive's box at its class, 0 elsewhere), weighted by q on positives "
        "and by alpha p^gamma on negatives: focal on the negatives only.",
        application="The classification head of dense and query-based detectors that rank "
        "boxes by a localisation-aware score: VarifocalNet, RT-DETR, several YOLO variants.",
        advantages=(
            Claim(
                "Its optimum for a positive is p = q, the IoU: the score ranks boxes by "
                "localisation quality, which NMS and AP reward.",
                (_OPTIMUM_IS_IOU, paper(_VFL)),
            ),
            Claim(
                "Asymmetric: a confident positive keeps q times its cross-entropy (no focal "
                "discount), while easy negatives are discounted by alpha p^gamma.",
                (
                    test(
                        "test_varifocal_weights_positives_by_iou_and_downweights_easy_negatives",
                        _I19C,
                    ),
                ),
            ),
        ),
        disadvantages=(
            Claim(
                "Needs the IoU of every positive from the box branch, and the normalisation by "
                "the number of positives is the caller's: 'mean' over all anchors is far "
                "smaller (use 'sum' / num_pos).",
                (_MEAN_OVER_ANCHORS,),
            ),
            Claim(
                "Two hyperparameters (alpha, gamma) that act on the negatives only, tuned with "
                "the negative-to-positive ratio of the detector.",
                (test("test_varifocal_alpha_and_gamma_act_on_negatives_only", _I19C),),
            ),
        ),
        alternatives=(
            ("quality_focal", "the GFL head, which focuses positives and negatives alike"),
            ("focal", "hard 0/1 targets without a quality score"),
        ),
    ),
    "quality_focal": Card(
        definition="GFL's quality focal loss: binary cross-entropy of the logits to a soft "
        "IoU target y, scaled by |y - sigma|^beta; with 0/1 targets it is the focal loss.",
        application="Joint classification-quality heads of dense detectors (GFL, GFLv2, "
        "NanoDet, PP-PicoDet), and any sigmoid classifier with soft targets.",
        advantages=(
            Claim(
                "One score for class and localisation quality: its optimum is sigma = y, so "
                "the train-time quality target and the test-time ranking score coincide.",
                (_OPTIMUM_IS_IOU, paper(_GFL)),
            ),
            Claim(
                "Extends the focal loss to continuous targets: at y in {0, 1} it is exactly "
                "the focal loss (gamma = beta, no alpha).",
                (test("test_quality_focal_with_hard_targets_is_the_focal_loss", _I19C),),
            ),
        ),
        disadvantages=(
            Claim(
                "Positives are discounted too: a positive of IoU 0.9 predicted at 0.8 weighs "
                "0.01 of its cross-entropy (VFL: 0.9), so rare positives can be under-trained.",
                (test("test_quality_focal_discounts_positives_near_their_target", _I19C),
                 paper(_VFL)),
            ),
            Claim(
                "Like VFL, needs a per-positive IoU target and the caller's normalisation by "
                "the number of positives.",
                (_MEAN_OVER_ANCHORS,),
            ),
        ),
        alternatives=(
            ("varifocal", "to keep the positives' full weight"),
            ("focal", "hard 0/1 targets"),
        ),
    ),
    "distribution_focal": Card(
        definition="GFL's distribution focal loss: a box edge's distance is predicted as a "
        "softmax over n bins and trained by cross-entropy to the two bins around the "
        "continuous target, each weighted by its nearness.",
        application="Box regression of GFL and the YOLOv8 family (with a CIoU loss on the "
        "decoded box): each of the four edges gets a distribution over 16 or 17 bins.",
        advantages=(
            Claim(
                "Sub-bin precision from a classification: trained alone, the distribution's "
                "expectation converges to the continuous target (within 0.02 bins in the test).",
                (test("test_distribution_focal_recovers_the_continuous_target", _I19C),
                 paper(_GFL)),
            ),
            Claim(
                "Represents an edge's uncertainty: the distribution may spread over several "
                "bins on ambiguous edges instead of committing to one value (a Dirac delta).",
                (test("test_distribution_focal_minimum_is_the_two_bin_entropy", _I19C),
                 paper(_GFL)),
            ),
        ),
        disadvantages=(
            Claim(
                "The range is fixed by the number of bins: targets beyond n - 1 must be clamped "
                "by the caller (YOLOv8 clamps to reg_max - 1.01); they raise here.",
                (test("test_distribution_focal_range_is_fixed_by_the_bins", _I19C),),
            ),
            Claim(
                "Its minimum is the entropy of the two-bin target, 0 only at integer targets, "
                "so the value does not read as an error; pair it with an IoU loss on the box.",
                (test("test_distribution_focal_minimum_is_the_two_bin_entropy", _I19C),),
            ),
        ),
        alternatives=(
            ("ciou", "the IoU-based term it is paired with on the decoded box"),
            ("smooth_l1", "a direct regression of the distance"),
        ),
    ),
}
