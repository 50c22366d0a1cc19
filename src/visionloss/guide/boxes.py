"""Cards of the box losses: IoU, GIoU, DIoU, CIoU, EIoU and the box_iou dispatcher."""

from __future__ import annotations

from ._card import Card, Claim, demo, paper, plot, test

__all__ = ["CARDS"]

_DISJOINT = "test_iou_has_no_gradient_for_disjoint_boxes_the_others_do"
_SCALE = test("test_iou_losses_are_scale_invariant")
_GIOU = "H. Rezatofighi et al., Generalized Intersection over Union, CVPR 2019, arXiv:1902.09630"
_DIOU = "Z. Zheng et al., Distance-IoU Loss, AAAI 2020, arXiv:1911.08287"
_EIOU = "Y.-F. Zhang et al., Focal and Efficient IOU Loss, Neurocomputing 2022, arXiv:2101.08158"

CARDS: dict[str, Card] = {
    "iou": Card(
        definition="1 - IoU of the predicted and target boxes: the overlap area over the union "
        "area, for boxes in xyxy, xywh or cxcywh format; 3D boxes (..., 6) use volumes.",
        application="Box regression in anchor-free and anchor-based detectors once predictions "
        "already overlap their targets (refinement stages).",
        advantages=(
            Claim(
                "Scale invariant: the same relative error costs the same on a small and a "
                "large box, unlike Smooth L1 on coordinates.",
                (
                    _SCALE,
                    test("test_smooth_l1_on_coordinates_is_not_scale_invariant"),
                    paper("J. Yu et al., UnitBox, ACM MM 2016, arXiv:1608.01471"),
                ),
            ),
            Claim(
                "Optimises the overlap the detector is evaluated on; on the demo's boxes it "
                "matched GIoU, DIoU and CIoU within the noise (mean IoU 0.720 vs 0.725 to "
                "0.729, 5 seeds).",
                (plot("boxes"), demo("boxes", "IoU")),
            ),
        ),
        disadvantages=(
            Claim(
                "No gradient when the boxes do not overlap: a disjoint prediction is never "
                "pulled towards its target.",
                (test(f"{_DISJOINT}[giou_loss]"), plot("boxes"), paper(_GIOU)),
            ),
            Claim(
                "Says nothing about where a contained box sits or its aspect ratio beyond the "
                "overlap.",
                (test("test_giou_reduces_to_iou_when_one_box_contains_the_other"),),
            ),
        ),
        alternatives=(
            ("giou", "predictions that may not overlap their targets (early training)"),
            ("diou", "faster convergence of the centre"),
            ("ciou", "the usual modern default (YOLO family)"),
        ),
    ),
    "giou": Card(
        definition="IoU loss plus the share of the smallest enclosing box not covered by the "
        "union: 1 - IoU + |C \\ (A ∪ B)| / |C|. It is in [0, 2). 3D boxes (..., 6) use volumes "
        "(MONAI's BoxGIoULoss).",
        application="Box regression in DETR-style and anchor-free detectors, where early "
        "predictions often miss their targets entirely; 3D detection in volumes (medical "
        "imaging, as MONAI's detectors).",
        advantages=(
            Claim(
                "A non-zero gradient for disjoint boxes, which moves the prediction towards "
                "its target; IoU has none.",
                (test(f"{_DISJOINT}[giou_loss]"), plot("boxes"), paper(_GIOU)),
            ),
            Claim("Scale invariant like IoU.", (_SCALE,)),
        ),
        disadvantages=(
            Claim(
                "Reduces to IoU when one box contains the other (the enclosing box is the "
                "larger one): no pull towards the right centre there.",
                (test("test_giou_reduces_to_iou_when_one_box_contains_the_other"), paper(_DIOU)),
            ),
            Claim(
                "For disjoint boxes it first grows the prediction to cover the gap, then "
                "shrinks it, which slows convergence (Zheng et al.).",
                (test(f"{_DISJOINT}[giou_loss]"), plot("boxes"), paper(_DIOU)),
            ),
        ),
        alternatives=(
            ("diou", "centre distance penalised directly; converges faster"),
            ("ciou", "aspect ratio matters too"),
        ),
    ),
    "diou": Card(
        definition="IoU loss plus the squared distance between the box centres over the squared "
        "diagonal of the enclosing box; for 3D boxes (..., 6) both are taken in 3D.",
        application="Box regression and DIoU-NMS in one-stage detectors (YOLOv4-era and later).",
        advantages=(
            Claim(
                "Pulls the centre even when one box contains the other, where GIoU equals IoU.",
                (test("test_giou_reduces_to_iou_when_one_box_contains_the_other"), paper(_DIOU)),
            ),
            Claim(
                "A gradient for disjoint boxes towards the target's centre; scale invariant.",
                (test(f"{_DISJOINT}[diou_loss]"), _SCALE, plot("boxes")),
            ),
        ),
        disadvantages=(
            Claim(
                "Blind to the aspect ratio: a square and a flat box with the same centre and "
                "IoU get the same loss.",
                (test("test_diou_cannot_tell_aspect_ratios_apart_ciou_can"),),
            ),
            Claim(
                "Once centres coincide it is IoU loss again, with no direct term for width "
                "and height.",
                (test("test_ciou_aspect_term_is_blind_to_scale_eiou_is_not"),),
            ),
        ),
        alternatives=(
            ("ciou", "aspect ratio should converge too"),
            ("eiou", "width and height errors penalised directly"),
        ),
    ),
    "ciou": Card(
        definition="DIoU plus an aspect-ratio term alpha v, v = (4/pi^2)(atan(w_t/h_t) - "
        "atan(w/h))^2, with the trade-off alpha = v / ((1 - IoU) + v) computed without gradient. "
        "2D boxes only: the aspect term has no 3D form (3D boxes raise).",
        application="The default box loss of many one-stage detectors (YOLOv4/v5/v8 family).",
        advantages=(
            Claim(
                "Tells aspect ratios apart where DIoU cannot.",
                (test("test_diou_cannot_tell_aspect_ratios_apart_ciou_can"), paper(_DIOU)),
            ),
            Claim(
                "Keeps DIoU's centre pull and its gradient for disjoint boxes.",
                (test(f"{_DISJOINT}[ciou_loss]"), plot("boxes")),
            ),
        ),
        disadvantages=(
            Claim(
                "The aspect term is blind to scale: a box of the right shape at twice the size "
                "gets CIoU = DIoU.",
                (test("test_ciou_aspect_term_is_blind_to_scale_eiou_is_not"), paper(_EIOU)),
            ),
            Claim(
                "Its gain depends on the data: on the demo's rectangles CIoU had the best mean "
                "IoU (0.729) but was not told apart from IoU, GIoU, DIoU or even Smooth L1 over "
                "5 seeds.",
                (test("test_diou_cannot_tell_aspect_ratios_apart_ciou_can"), demo("boxes", "CIoU")),
            ),
        ),
        alternatives=(
            ("eiou", "size errors penalised directly"),
            ("diou", "simpler when aspect ratios vary little"),
        ),
    ),
    "eiou": Card(
        definition="DIoU plus the squared width and height differences, each over the enclosing "
        "box's squared width or height (and the depth term for 3D boxes (..., 6)).",
        application="Box regression where scale errors matter (Focal-EIoU detectors).",
        advantages=(
            Claim(
                "Penalises a wrong size directly, where CIoU's aspect term is 0 for a box of "
                "the right shape.",
                (test("test_ciou_aspect_term_is_blind_to_scale_eiou_is_not"), paper(_EIOU)),
            ),
            Claim(
                "A gradient for disjoint boxes; scale invariant.",
                (test(f"{_DISJOINT}[eiou_loss]"), _SCALE, plot("boxes")),
            ),
        ),
        disadvantages=(
            Claim(
                "Its size terms are normalised by the enclosing box, so the same size error "
                "counts far less while the boxes are apart.",
                (test("test_eiou_size_terms_shrink_as_boxes_move_apart"),),
            ),
            Claim(
                "Newer and less tested in public detectors than GIoU and CIoU.",
                (test("test_eiou_size_terms_shrink_as_boxes_move_apart"), paper(_EIOU)),
            ),
        ),
        alternatives=(
            ("ciou", "the common default"),
            ("giou", "the simplest loss that handles disjoint boxes"),
        ),
    ),
    "box_iou": Card(
        definition="One loss for the IoU family: kind picks IoU, GIoU, DIoU, CIoU or EIoU "
        "(GIoU by default); each kind equals its own loss, on 2D boxes (..., 4) or, but for "
        "CIoU, 3D boxes (..., 6).",
        application="Configurations that switch the box loss by a string (experiment sweeps, "
        "Hydra configs).",
        advantages=(
            Claim(
                "Each kind is exactly the named loss, so a sweep over kind compares the losses "
                "themselves.",
                (test("test_box_iou_is_each_kind_by_name"),),
            ),
            Claim("All kinds are scale invariant.", (_SCALE,)),
        ),
        disadvantages=(
            Claim(
                "It has the chosen kind's disadvantages: with kind='iou', no gradient for "
                "disjoint boxes.",
                (test(f"{_DISJOINT}[giou_loss]"), test("test_box_iou_is_each_kind_by_name")),
            ),
            Claim(
                "A string option hides which loss is in use from a reader of the code.",
                (test("test_box_iou_is_each_kind_by_name"),),
            ),
        ),
        alternatives=(
            ("giou", "a fixed choice, named in the code"),
            ("ciou", "a fixed choice for YOLO-style heads"),
        ),
    ),
}
