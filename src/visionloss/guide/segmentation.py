"""Cards of the segmentation losses: the overlap losses, Lovász, and the compound losses."""

from __future__ import annotations

from ._card import Card, Claim, demo, paper, plot, test

__all__ = ["CARDS"]

_BG = test("test_dice_insensitive_to_background_size_unlike_ce")
_TINY = test("test_dice_gradient_unstable_for_tiny_masks")
_EMPTY_DICE = test("test_overlap_loss_of_an_empty_mask_jumps_between_zero_and_one[dice_loss]")
_EMPTY_JAC = test("test_overlap_loss_of_an_empty_mask_jumps_between_zero_and_one[jaccard_loss]")
_BERMAN = "M. Berman et al., The Lovász-Softmax loss, CVPR 2018, arXiv:1705.08790"
_SEG = "segmentation"
_EV = "tests/test_guide_evidence_seg.py"
_EV19 = "tests/test_guide_evidence_i19seg.py"
_SEG19 = "segmentation, issue 19 rerun"  # the rows issue 19 added to the demo's table
_ODYSSEY = paper(
    "J. Ma et al., Loss odyssey in medical image segmentation, Medical Image Analysis 2021, "
    "arXiv:2005.13449"
)

CARDS: dict[str, Card] = {
    "dice": Card(
        definition="One minus the soft Dice score 2|P∩G| / (|P| + |G|), computed from "
        "probabilities per sample and class and averaged; it scores the overlap of the whole "
        "mask rather than pixels one by one.",
        application="Medical and other segmentation where the structure of interest is a small "
        "share of the image (organs, lesions, cells, roads), and the metric is Dice or IoU.",
        advantages=(
            Claim(
                "Insensitive to the background's size: two images that differ only in "
                "correctly predicted background get the same loss, while CE is diluted 64 times.",
                (
                    _BG,
                    plot("overlap"),
                    paper("F. Milletari et al., V-Net, 3DV 2016, arXiv:1606.04797"),
                ),
            ),
            Claim(
                "Optimises (a soft form of) the metric most segmentation is scored on.",
                (plot("overlap"), test("test_jaccard_is_stricter_than_dice_on_partial_overlap")),
            ),
        ),
        disadvantages=(
            Claim(
                "Unstable for tiny masks: the per-pixel gradient scales as 1 / object size, "
                "so a 1-pixel object is pushed 64 times harder than a 64-pixel one.",
                (_TINY,),
            ),
            Claim(
                "Empty masks: the loss depends only on the predicted foreground mass and "
                "jumps from ~0 to ~1 when probabilities move from 1e-9 to 1e-3; "
                "batch_dice or a CE term is the usual fix.",
                (_EMPTY_DICE,),
            ),
            Claim(
                "Alone it did not beat cross-entropy on the demo's small-object segmentation: "
                "fg Dice 0.868 against 0.882 for CE and 0.881 for Dice + CE (5 seeds; CE ahead "
                "of Dice with p = 0.047).",
                (demo(_SEG, "Dice"), demo(_SEG, "cross-entropy"), demo(_SEG, "Dice + CE")),
            ),
        ),
        alternatives=(
            (
                "dice_ce",
                "the robust default for segmentation (nnU-Net): Dice plus CE's stable gradient",
            ),
            ("tversky", "small structures that are under-segmented (misses cost more than extras)"),
            ("generalized_dice", "several classes of very different sizes"),
            ("cross_entropy", "calibrated per-pixel probabilities, large balanced classes"),
        ),
    ),
    "jaccard": Card(
        definition="One minus the soft Jaccard index |P∩G| / |P∪G| (soft IoU), per sample and "
        "class. For the same soft counts its loss is 2D / (1 + D), D the Dice loss.",
        application="Segmentation scored by IoU (mIoU benchmarks); the same uses as Dice.",
        advantages=(
            Claim(
                "Insensitive to the background's size, like Dice.",
                (test("test_jaccard_insensitive_to_background_size"),),
            ),
            Claim(
                "Stricter than Dice on partial overlap (1/2 vs 1/3 for half an object found), "
                "and it is the soft form of the IoU metric itself.",
                (
                    test("test_jaccard_is_stricter_than_dice_on_partial_overlap"),
                    plot("overlap"),
                    paper("M. A. Rahman, Y. Wang, Optimizing Intersection-Over-Union, ISVC 2016"),
                ),
            ),
        ),
        disadvantages=(
            Claim(
                "The same empty-mask jump as Dice: ~0 to ~1 for a tiny change of predicted "
                "foreground mass.",
                (_EMPTY_JAC,),
            ),
            Claim(
                "A monotone function of Dice on the same counts (2D / (1 + D)): it ranks "
                "predictions the same way, so switching from Dice rarely changes much.",
                (test("test_jaccard_is_stricter_than_dice_on_partial_overlap"),),
            ),
        ),
        alternatives=(
            ("lovasz_softmax", "a tight convex surrogate of IoU, often used to fine-tune"),
            ("dice_ce", "a stabler default"),
        ),
    ),
    "tversky": Card(
        definition="A Dice with separate weights: TP / (TP + alpha FP + beta FN) per sample and "
        "class. alpha = beta = 0.5 is Dice; beta > alpha makes misses cost more than extras.",
        application="Segmentation of small or thin structures where recall matters (lesions, "
        "vessels, small objects) and models under-segment.",
        advantages=(
            Claim(
                "beta > alpha penalises missed pixels more than extra ones: with alpha 0.3, "
                "beta 0.7, missing 4 pixels costs 2.7 times adding 4 (Dice: 1.3 times).",
                (
                    test("test_tversky_beta_above_alpha_penalises_misses_more"),
                    plot("overlap"),
                    paper(
                        "S. S. M. Salehi et al., Tversky loss function, MLMI 2017, arXiv:1706.05721"
                    ),
                ),
            ),
            Claim(
                "Contains Dice (alpha = beta = 0.5), so it can only add a knob.",
                (test("test_tversky_half_half_is_dice"),),
            ),
        ),
        disadvantages=(
            Claim(
                "Two more parameters, and recall is bought with precision: on the demo's "
                "small objects alpha 0.3 / beta 0.7 scored below plain Dice (fg Dice 0.855 vs "
                "0.868 over 5 seeds).",
                (
                    test("test_tversky_beta_above_alpha_penalises_misses_more"),
                    demo(_SEG, "Tversky α=0.3 β=0.7"),
                    demo(_SEG, "Dice"),
                ),
            ),
            Claim("Inherits Dice's tiny- and empty-mask instability.", (_TINY, _EMPTY_DICE)),
        ),
        alternatives=(
            ("focal_tversky", "when the hard, small structures need still more weight"),
            ("dice", "no reason to favour recall over precision"),
        ),
    ),
    "focal_tversky": Card(
        definition="The Tversky loss raised to a power gamma (0.75 by default): "
        "(1 - TI)^gamma. With gamma < 1 the gradient grows as the loss shrinks.",
        application="Small-lesion segmentation with heavy imbalance (Abraham and Khan's attention "
        "U-Net on skin and breast lesions).",
        advantages=(
            Claim(
                "With gamma < 1 the gradient is amplified by gamma TL^(gamma-1) once TL is "
                "below gamma^(1/(1-gamma)) (0.32 for 0.75): classes that are nearly right keep "
                "improving.",
                (
                    test("test_focal_tversky_gamma_below_one_amplifies_gradient_near_the_optimum"),
                    paper(
                        "N. Abraham, N. M. Khan, A Novel Focal Tversky loss function, ISBI 2019, "
                        "arXiv:1810.07842"
                    ),
                ),
            ),
            Claim(
                "Keeps Tversky's control of misses against extras.",
                (test("test_tversky_beta_above_alpha_penalises_misses_more"),),
            ),
        ),
        disadvantages=(
            Claim(
                "The same factor grows without bound as the loss goes to 0, which can make "
                "late training jumpy; the paper uses it only on some outputs.",
                (test("test_focal_tversky_gamma_below_one_amplifies_gradient_near_the_optimum"),),
            ),
            Claim(
                "Three parameters (alpha, beta, gamma) to tune, and Dice's empty-mask issue.",
                (_EMPTY_DICE,),
            ),
        ),
        alternatives=(
            ("tversky", "the same trade-off without the extra exponent"),
            ("dice_focal", "focusing on hard pixels rather than hard classes"),
        ),
    ),
    "generalized_dice": Card(
        definition="One Dice over all classes of a sample, each class weighted by the inverse "
        "of its (squared) reference volume, so small and large classes count alike.",
        application="Multi-class segmentation with classes of very different sizes (brain "
        "tumour sub-regions, organs next to tiny structures).",
        advantages=(
            Claim(
                "A small class counts like a big one: missing a 4-pixel class costs 0.32 with "
                "inverse-square weights, 0.06 with uniform ones (a pixel count).",
                (
                    test("test_generalized_dice_weights_a_small_class_like_a_big_one"),
                    paper(
                        "C. H. Sudre et al., Generalised Dice overlap, DLMIA 2017, arXiv:1707.03237"
                    ),
                ),
            ),
            Claim(
                "One score per sample, so an absent class does not add a 0/0 term of its own.",
                (test("test_generalized_dice_weights_a_small_class_like_a_big_one"),),
            ),
        ),
        disadvantages=(
            Claim(
                "The gradient concentrates on the rare class's pixels (over 100 times a "
                "background pixel's for 1 pixel in 256): noisy when that class is tiny.",
                (test("test_generalized_dice_gradient_concentrates_on_the_rare_class"),),
            ),
            Claim(
                "Weights come from each sample's own labels, so they change from batch to "
                "batch; the loss does not say which class failed.",
                (test("test_generalized_dice_gradient_concentrates_on_the_rare_class"),),
            ),
        ),
        alternatives=(
            ("dice_ce", "a stabler default; add class_weight for imbalance"),
            ("dice", "per-class Dice averaged, easier to read per class"),
        ),
    ),
    "lovasz_softmax": Card(
        definition="The Lovász extension of the per-class Jaccard loss, applied to the sorted "
        "softmax errors: a convex, piecewise-linear surrogate that equals 1 - IoU on "
        "confident predictions.",
        application="Semantic segmentation scored by mIoU (driving scenes, Pascal VOC), often to "
        "fine-tune a model first trained with cross-entropy.",
        advantages=(
            Claim(
                "On confident predictions it is exactly 1 - mean IoU of the argmax: it "
                "optimises the metric, not a proxy.",
                (
                    test("test_lovasz_softmax_equals_one_minus_iou_on_confident_predictions"),
                    paper(_BERMAN),
                ),
            ),
            Claim(
                "Only present classes count by default, so absent classes do not add noise.",
                (test("test_lovasz_softmax_equals_one_minus_iou_on_confident_predictions"),),
            ),
        ),
        disadvantages=(
            Claim(
                "It sorts every pixel's error per class: O(P log P) work and a gradient that "
                "depends on the batch's ranking; by default IoU is taken over the whole batch "
                "(per_image=False), not per image.",
                (test("test_lovasz_softmax_equals_one_minus_iou_on_confident_predictions"),),
            ),
            Claim(
                "Its gradient reaches only the errors that change the IoU, which makes a cold "
                "start slow; Berman et al. fine-tune after cross-entropy.",
                (
                    test("test_lovasz_hinge_gives_no_gradient_to_pixels_beyond_the_margin"),
                    paper(_BERMAN),
                ),
            ),
        ),
        alternatives=(
            ("cross_entropy", "to train from scratch before switching"),
            ("dice_ce", "a cheaper overlap loss"),
            ("lovasz_hinge", "binary segmentation"),
        ),
    ),
    "lovasz_hinge": Card(
        definition="The Lovász extension of the binary Jaccard loss on hinge errors "
        "max(0, 1 - s y) of the logits (y in ±1), per image by default.",
        application="Binary segmentation scored by IoU (salt bodies, buildings, foreground "
        "masks), usually after pre-training with BCE.",
        advantages=(
            Claim(
                "At unit-margin logits it is 2(1 - IoU) of the sign prediction: an IoU "
                "surrogate on logits.",
                (
                    test("test_lovasz_hinge_equals_one_minus_iou_on_unit_margin_predictions"),
                    paper(_BERMAN),
                ),
            ),
            Claim(
                "Pixels beyond the margin get no gradient, so effort goes to the ones that "
                "change the IoU.",
                (test("test_lovasz_hinge_gives_no_gradient_to_pixels_beyond_the_margin"),),
            ),
        ),
        disadvantages=(
            Claim(
                "A hinge: once every pixel is beyond the margin nothing is learnt, and the "
                "logits are not probabilities.",
                (test("test_lovasz_hinge_gives_no_gradient_to_pixels_beyond_the_margin"),),
            ),
            Claim(
                "Sorting per image costs more than a Dice or BCE pass; slow from scratch.",
                (
                    test("test_lovasz_hinge_equals_one_minus_iou_on_unit_margin_predictions"),
                    paper(_BERMAN),
                ),
            ),
        ),
        alternatives=(
            ("binary_cross_entropy", "pre-training and calibrated probabilities"),
            ("dice", "a cheaper overlap loss for binary masks"),
        ),
    ),
    "dice_ce": Card(
        definition="Dice loss plus cross-entropy computed from one shared softmax, with weights "
        "lambda_dice and lambda_ce (nnU-Net's default loss).",
        application="The default for semantic and medical segmentation: organs, tumours, cells, "
        "any class balance.",
        advantages=(
            Claim(
                "Exactly the weighted sum of its parts: Dice's insensitivity to background "
                "size plus CE's per-pixel gradient and calibration.",
                (
                    test("test_compound_losses_are_the_sum_of_their_parts"),
                    _BG,
                    paper("F. Isensee et al., nnU-Net, Nature Methods 2021, arXiv:1809.10486"),
                ),
            ),
            Claim(
                "Tied for the best on the demo's small-object segmentation with the smallest "
                "spread over seeds: fg Dice 0.881 ± 0.013 against CE's 0.882 ± 0.020 (p = "
                "0.47), ahead of Dice, Tversky and focal; on seeds 5 to 9 it had the best mean "
                "(0.876), again within the noise of CE.",
                (demo(_SEG, "Dice + CE"),),
            ),
        ),
        disadvantages=(
            Claim("Keeps Dice's empty-mask jump in its Dice term.", (_EMPTY_DICE,)),
            Claim(
                "Two weights; the two terms have different scales (CE in nats, Dice in "
                "[0, 1]), so their balance shifts as training goes.",
                (test("test_compound_losses_are_the_sum_of_their_parts"),),
            ),
        ),
        alternatives=(
            ("dice_focal", "many easy background pixels"),
            ("tversky", "recall of small structures matters most"),
        ),
    ),
    "dice_focal": Card(
        definition="Dice loss plus focal loss from one shared softmax, with weights lambda_dice "
        "and lambda_focal.",
        application="Segmentation of small organs or lesions with many easy background pixels "
        "(AnatomyNet's head-and-neck organs).",
        advantages=(
            Claim(
                "Exactly Dice plus focal: overlap at the mask level and hard-pixel focus at "
                "the pixel level.",
                (
                    test("test_compound_losses_are_the_sum_of_their_parts"),
                    test("test_focal_downweights_easy_examples_by_one_minus_pt_to_gamma"),
                    paper("W. Zhu et al., AnatomyNet, Medical Physics 2019, arXiv:1808.05238"),
                ),
            ),
            Claim("Insensitive to the background's size through its Dice term.", (_BG,)),
        ),
        disadvantages=(
            Claim(
                "Three weights to tune (two lambdas and gamma), and focal's probabilities are "
                "not calibrated.",
                (test("test_focal_is_not_calibrated_for_soft_labels"),),
            ),
            Claim("Keeps Dice's empty-mask jump.", (_EMPTY_DICE,)),
        ),
        alternatives=(
            ("dice_ce", "the simpler, better-tested default"),
            ("focal_tversky", "recall of small structures"),
        ),
    ),
    "dice_topk": Card(
        definition="Dice loss plus the cross-entropy of each sample's hardest k fraction of "
        "pixels (top-k CE), from one shared softmax, with weights lambda_dice and lambda_topk; "
        "k = 1 is Dice + CE.",
        application="Segmentation where a region term is wanted and the pixel errors sit in a "
        "few hard regions (boundaries, thin or small structures) among easy background; "
        "nnU-Net's DC_and_topk10 for medical images; among the most robust of the 20 losses "
        "Ma et al. compared on six medical segmentation tasks.",
        advantages=(
            Claim(
                "Exactly Dice plus top-k CE, and k = 1 is exactly Dice + CE: one knob between "
                "Dice + CE and hard-pixel mining.",
                (
                    test("test_dice_topk_is_dice_plus_topk_ce_and_k_one_is_dice_ce", _EV19),
                    plot("topk"),
                    paper("F. Isensee et al., nnU-Net, Nature Methods 2021, arXiv:1809.10486"),
                    _ODYSSEY,
                ),
            ),
            Claim(
                "Its pixel term is not diluted by easy background: with 5 hard pixels among "
                "100, the top-5% term is the hard pixels' CE, over 15 times Dice + CE's CE term.",
                (test("test_dice_topk_pixel_term_is_not_diluted_by_easy_pixels", _EV19),),
            ),
        ),
        disadvantages=(
            Claim(
                "Pixels outside the top k get only the Dice term's gradient: the CE term does "
                "not train them in that step.",
                (test("test_dice_topk_easy_pixels_get_only_the_dice_gradient", _EV19),),
            ),
            Claim(
                "Its CE term is never smaller than Dice + CE's (here 2.9 times larger at k = "
                "0.1), so lambdas tuned for dice_ce do not carry over; three knobs in all.",
                (
                    test(
                        "test_dice_topk_pixel_term_outweighs_dice_ce_for_the_same_lambdas", _EV19
                    ),
                ),
            ),
            Claim(
                "Keeps top-k CE's sensitivity to label noise (a confidently mislabelled pixel is "
                "always selected) and Dice's empty-mask jump.",
                (test("test_topk_ce_is_dominated_by_a_mislabelled_pixel", _EV), _EMPTY_DICE),
            ),
            Claim(
                "Did not beat Dice + CE on the demo's small-object segmentation: fg Dice "
                "0.830 ± 0.088 against 0.881 ± 0.013, within the noise of the best (CE, "
                "p = 0.095), with the largest spread over 5 seeds (one seed at 0.676).",
                (demo(_SEG19, "Dice + top-k CE k=0.1"), demo(_SEG19, "Dice + CE")),
            ),
        ),
        alternatives=(
            ("dice_ce", "clean labels, or no strong easy/hard pixel imbalance"),
            ("dice_focal", "a smooth down-weighting of easy pixels instead of a hard cut"),
            ("boundary", "errors concentrated at the boundaries, with a Dice term"),
        ),
    ),
    "topk_cross_entropy": Card(
        definition="Cross-entropy averaged over only the hardest k fraction of each sample's "
        "valid pixels (bootstrapped CE); the rest of the pixels leave the loss and its gradient. "
        "k = 1 is plain cross-entropy.",
        application="Segmentation where most pixels are easy background and the errors sit "
        "in a few hard regions (boundaries, small objects); nnU-Net's TopK10 and, with Dice, "
        "one of the robust compounds of Ma et al.'s loss benchmark.",
        advantages=(
            Claim(
                "Not diluted by easy pixels: with 5 hard pixels among 100, top-5% CE is the "
                "hard pixels' loss, about 19 times plain CE.",
                (
                    test("test_topk_ce_is_not_diluted_by_easy_pixels", _EV),
                    paper("Z. Wu et al., Bridging Category-level and Instance-level Semantic "
                          "Image Segmentation, arXiv:1605.06885"),
                ),
            ),
            Claim(
                "One knob between hard-example mining and cross-entropy: k = 1 is exactly CE.",
                (test("test_topk_ce_with_k_one_is_cross_entropy", _EV),),
            ),
        ),
        disadvantages=(
            Claim(
                "Pixels outside the top k get no gradient at all, so with a small k most of "
                "the image is not trained on in a step.",
                (test("test_topk_ce_gives_easy_pixels_no_gradient", _EV),),
            ),
            Claim(
                "Sensitive to label noise: a confidently mislabelled pixel is always selected "
                "and, with k = 5% of 100 pixels, makes up over 95% of the loss.",
                (test("test_topk_ce_is_dominated_by_a_mislabelled_pixel", _EV),),
            ),
        ),
        alternatives=(
            ("focal", "a smooth down-weighting of easy pixels instead of a hard cut"),
            ("cross_entropy", "clean labels and no strong easy/hard imbalance"),
            ("dice_ce", "a region term alongside the pixel term"),
        ),
        references=(
            "J. Ma et al., Loss odyssey in medical image segmentation, Medical Image Analysis "
            "2021, arXiv:2005.13449",
        ),
    ),
    "mcc": Card(
        definition="One minus the soft Matthews correlation coefficient, the correlation "
        "between prediction and target computed from the four soft counts TP, FP, FN and TN, "
        "per sample and class; 0 is perfect, 1 uncorrelated, 2 inverted.",
        application="Binary segmentation with strong foreground/background imbalance where "
        "both kinds of error matter (skin lesions in Abhishek and Hamarneh's study).",
        advantages=(
            Claim(
                "Counts true negatives and is balanced: any constant prediction scores MCC 0 "
                "(loss 1) whatever the foreground share, while Dice scores predicting "
                "foreground everywhere on a 90% foreground image at 0.1.",
                (
                    test("test_mcc_scores_a_constant_prediction_zero_whatever_the_foreground_"
                         "share", _EV),
                    paper("D. Chicco, G. Jurman, The advantages of the Matthews correlation "
                          "coefficient over F1 score and accuracy, BMC Genomics 2020"),
                ),
            ),
            Claim(
                "Symmetric in foreground and background: swapping both leaves the loss "
                "unchanged, where Dice changes by more than 0.2.",
                (test("test_mcc_is_symmetric_in_foreground_and_background_unlike_dice", _EV),),
            ),
        ),
        disadvantages=(
            Claim(
                "Undefined for a class absent from the target: the loss is then a constant 1 "
                "with zero gradient, so empty masks give no signal against false positives.",
                (test("test_mcc_of_a_class_absent_from_the_target_is_constant", _EV),),
            ),
            Claim(
                "Each class absent from a sample adds that constant 1 to the per-class mean, "
                "so the reported value mixes signal with a floor set by class presence; less "
                "benchmarked than Dice.",
                (
                    test("test_mcc_of_a_class_absent_from_the_target_is_constant", _EV),
                    paper("K. Abhishek, G. Hamarneh, Matthews Correlation Coefficient Loss for "
                          "Deep Convolutional Networks, ISBI 2021, arXiv:2010.13454"),
                ),
            ),
        ),
        alternatives=(
            ("dice", "the standard overlap loss, scored by the usual metric"),
            ("dice_ce", "empty masks in the data"),
        ),
    ),
    "soft_cldice": Card(
        definition="One minus the harmonic mean of topology precision (the predicted soft "
        "skeleton inside the target) and topology sensitivity (the target's skeleton covered "
        "by the prediction), per sample and class; skeletons come from iterated soft min/max "
        "pooling.",
        application="Tubular and curvilinear structures whose connectivity matters more than "
        "their width: vessels, airways, neurons, roads, cracks; in 2D and 3D, usually added "
        "to Dice.",
        advantages=(
            Claim(
                "Sees topology that Dice cannot: missing a whole 1-pixel vessel and shaving "
                "one row off a thick one cost Dice the same 20 pixels, while clDice penalises "
                "the lost vessel more than 5 times as much.",
                (
                    test("test_cldice_tells_a_lost_thin_vessel_from_a_thinner_thick_one", _EV),
                    paper("S. Shit et al., clDice, CVPR 2021, arXiv:2003.07311"),
                ),
            ),
            Claim(
                "Differentiable skeleton from pooling only, in 2D and 3D, on the device; the "
                "same skeleton as MONAI's SoftclDiceLoss.",
                (test("test_soft_skeleton_and_cldice_match_monai",
                      "tests/peers/test_segmentation_peers.py"),),
            ),
        ),
        disadvantages=(
            Claim(
                "Alone it ignores width: a prediction of only the centre lines scores about 0 "
                "while its Dice loss is 0.5, so it needs a Dice (or CE) term beside it.",
                (test("test_cldice_alone_accepts_a_prediction_of_only_the_centre_line", _EV),),
            ),
            Claim(
                "iterations must reach the structures' radius: with fewer erosions a thick "
                "structure has an empty soft skeleton and drops out of the loss; more "
                "iterations cost more pooling passes.",
                (test("test_soft_skeleton_of_a_thick_bar_needs_enough_iterations", _EV),),
            ),
        ),
        alternatives=(
            ("dice", "the region term to combine it with (the paper's Dice + clDice)"),
            ("tversky", "thin structures that are under-segmented, without topology"),
        ),
    ),
    "boundary": Card(
        definition="The predicted probabilities integrated against the target's signed "
        "distance map (negative inside, positive outside the contour): up to a constant, the "
        "region between the predicted and target contours weighted by its distance to the "
        "target's.",
        application="Highly unbalanced segmentation (small lesions, thin structures) as a "
        "second term beside Dice or generalized Dice, its weight raised during training "
        "(Kervadec et al.'s schedule); one of the robust compounds of Ma et al.'s benchmark.",
        advantages=(
            Claim(
                "A signal where the masks do not overlap: moving a predicted blob away from the "
                "target raises the loss with the distance, while Dice stays at 1.",
                (
                    test("test_boundary_loss_grows_with_the_distance_where_dice_is_flat", _EV),
                    paper("H. Kervadec et al., Boundary loss for highly unbalanced segmentation, "
                          "MIDL 2019, arXiv:1812.07032"),
                ),
            ),
            Claim(
                "Its distance maps are exact and computed on the device in pure PyTorch "
                "(signed_distance_map, 1 to 3 dims, anisotropic spacing), equal to the "
                "SciPy-based original; no optional dependency.",
                (test("test_signed_distance_map_matches_scipy", "tests/test_segmentation.py"),),
            ),
        ),
        disadvantages=(
            Claim(
                "No signal on an empty (or full) target: the map is 0, so false positives on "
                "empty images cost nothing; it needs a regional loss beside it.",
                (test("test_boundary_loss_of_a_target_without_contour_is_zero", _EV),),
            ),
            Claim(
                "Not normalised: negative, with a minimum set by the target's size and shape, "
                "so values are not comparable across images and its weight against Dice must "
                "be tuned or scheduled.",
                (test("test_boundary_loss_minimum_depends_on_the_target_size", _EV),),
            ),
            Claim(
                "Did not help on the demo's small-object segmentation: Dice + boundary (its "
                "weight ramped from 0 to 1) scored fg Dice 0.860 ± 0.015, below Dice alone "
                "(0.868) and below cross-entropy (0.882; p = 0.002 over 5 seeds).",
                (demo(_SEG19, "Dice + boundary"), demo(_SEG19, "cross-entropy")),
            ),
        ),
        alternatives=(
            ("generalized_dice", "the regional term the paper pairs it with"),
            ("dice_ce", "a default without precomputed distance maps"),
            ("soft_cldice", "thin tubular structures whose connectivity matters"),
        ),
        references=(
            "J. Ma et al., Loss odyssey in medical image segmentation, Medical Image Analysis "
            "2021, arXiv:2005.13449",
        ),
    ),
    "hausdorff_dt": Card(
        definition="The squared error of each pixel weighted by its distances to the predicted "
        "and target contours raised to alpha (2): a differentiable stand-in for the Hausdorff "
        "distance, the largest deviation between the two contours.",
        application="Segmentation scored by the Hausdorff distance (organs, tumours in "
        "radiotherapy planning), as a term beside Dice or CE once training has converged "
        "roughly (Karimi and Salcudean; Ma et al.'s benchmark).",
        advantages=(
            Claim(
                "Weighs an error by how far it lies from the contours: a false positive 11 "
                "pixels away costs 61 times one next to the edge, where Dice counts both as "
                "one pixel.",
                (
                    test("test_hausdorff_dt_weighs_a_far_false_positive_by_its_squared_"
                         "distance", _EV),
                    paper("D. Karimi, S. E. Salcudean, Reducing the Hausdorff Distance in "
                          "Medical Image Segmentation with CNNs, IEEE TMI 2020, "
                          "arXiv:1904.10030"),
                ),
            ),
            Claim(
                "Equal to MONAI's HausdorffDTLoss in 2D and 3D, with its distance fields "
                "computed exactly on the device (no SciPy, no host round trip).",
                (test("test_hausdorff_dt_matches_monai",
                      "tests/peers/test_segmentation_peers.py"),),
            ),
        ),
        disadvantages=(
            Claim(
                "The weights come from the thresholded prediction without gradient and jump "
                "as a probability crosses 0.5: raising a far false positive from 0.49 to 0.51 "
                "lowers the loss by 40%.",
                (test("test_hausdorff_dt_jumps_when_a_probability_crosses_one_half", _EV),),
            ),
            Claim(
                "Its scale grows with the resolution (distances squared): the same scene at "
                "twice the resolution gives over 3 times the loss, so its weight against a "
                "regional term must be retuned; each call also runs two distance transforms.",
                (test("test_hausdorff_dt_grows_with_the_image_resolution", _EV),),
            ),
        ),
        alternatives=(
            ("boundary", "a contour-distance term that is linear in the prediction"),
            ("dice_ce", "the regional default to pair it with"),
        ),
        references=(
            "J. Ma et al., Loss odyssey in medical image segmentation, Medical Image Analysis "
            "2021, arXiv:2005.13449",
        ),
    ),
}
