"""Varifocal, quality focal and distribution focal losses: hand values and the detectors' forms.

mmdetection and ultralytics are not installed here (they pull in compiled dependencies), so the
cross-checks below re-write their published loss functions in a few lines from the formulas of
their sources (mmdet ``varifocal_loss``/``quality_focal_loss``, ultralytics ``VarifocalLoss`` and
``DFLoss``) and compare with ours on random inputs. The contract sweep runs the catalogue rows.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import visionloss
import visionloss.functional as VF


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- hand values ----------------------------------------------------------------------------------


def test_varifocal_hand_values():
    # p = sigmoid(0) = 1/2: a positive of q = 0.5 costs 0.5 * (-(0.5 log 0.5 + 0.5 log 0.5)),
    # a negative 0.75 * 0.5^2 * log 2
    x = torch.zeros(2, dtype=torch.float64)
    q = torch.tensor([0.5, 0.0], dtype=torch.float64)
    expected = torch.tensor([0.5 * math.log(2), 0.1875 * math.log(2)], dtype=torch.float64)
    torch.testing.assert_close(VF.varifocal_loss(x, q, reduction="none"), expected)


def test_varifocal_label_marks_positives_of_iou_zero():
    x = torch.tensor([1.0, 1.0])
    q = torch.tensor([0.0, 0.0])
    label = torch.tensor([True, False])
    with_label = VF.varifocal_loss(x, q, label, reduction="none")
    assert with_label[0] == 0  # a positive of IoU 0 has weight q = 0
    torch.testing.assert_close(with_label[1], VF.varifocal_loss(x, q, reduction="none")[1])
    # integer labels work as the mask too
    torch.testing.assert_close(VF.varifocal_loss(x, q, label.long(), reduction="none"), with_label)


def test_quality_focal_hand_value():
    # sigma = 1/2, y = 0.3: |0.3 - 0.5|^2 * (-(0.7 log 0.5 + 0.3 log 0.5)) = 0.04 log 2
    got = VF.quality_focal_loss(torch.tensor([0.0]), torch.tensor([0.3]))
    torch.testing.assert_close(got, torch.tensor(0.04 * math.log(2)))


def test_distribution_focal_hand_value():
    # 3 bins, logits (0, log 2, 0): S = (1/4, 1/2, 1/4); y = 0.25 -> 0.75 log 4 + 0.25 log 2
    logits = torch.tensor([[0.0, math.log(2), 0.0]], dtype=torch.float64)
    got = VF.distribution_focal_loss(logits, torch.tensor([0.25], dtype=torch.float64))
    expected = 0.75 * math.log(4) + 0.25 * math.log(2)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    # the last bin is reachable: y = 2 is all on bin 2
    got = VF.distribution_focal_loss(logits, torch.tensor([2.0], dtype=torch.float64))
    torch.testing.assert_close(got, torch.tensor(math.log(4), dtype=torch.float64))


def test_distribution_focal_shape_errors():
    with pytest.raises(ValueError, match="n >= 2 bins"):
        VF.distribution_focal_loss(torch.zeros(3, 1), torch.zeros(3))
    with pytest.raises(ValueError, match=r"expected shape \(3,\)"):
        VF.distribution_focal_loss(torch.zeros(3, 4), torch.zeros(3, 1))
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        VF.distribution_focal_loss(torch.zeros(3, 4), torch.tensor([0.0, -0.5, 1.0]))


def test_scores_outside_the_unit_interval_raise():
    with pytest.raises(ValueError, match="target_score"):
        VF.varifocal_loss(torch.zeros(2), torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="target_score"):
        VF.quality_focal_loss(torch.zeros(2), torch.tensor([-0.1, 0.5]))


# --- the detectors' forms, re-written from their sources ------------------------------------------


def _mmdet_varifocal(pred, target, alpha=0.75, gamma=2.0):
    # mmdet.models.losses.varifocal_loss (iou_weighted=True), reduction "none"
    p = pred.sigmoid()
    focal_weight = target * (target > 0).to(pred.dtype) + alpha * (p - target).abs().pow(
        gamma
    ) * (target <= 0).to(pred.dtype)
    return F.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight


def _ultralytics_varifocal(pred, gt_score, label, alpha=0.75, gamma=2.0):
    # ultralytics.utils.loss.VarifocalLoss.forward: mean over anchors, sum over the rest
    weight = alpha * pred.sigmoid().pow(gamma) * (1 - label) + gt_score * label
    bce = F.binary_cross_entropy_with_logits(pred, gt_score, reduction="none")
    return (bce * weight).mean(1).sum()


def _mmdet_quality_focal(pred, label, score, beta=2.0):
    # mmdet.models.losses.quality_focal_loss: (label, score) per anchor, background label = C
    p = pred.sigmoid()
    loss = F.binary_cross_entropy_with_logits(pred, torch.zeros_like(pred), reduction="none")
    loss = loss * p.pow(beta)
    num_classes = pred.shape[1]
    pos = ((label >= 0) & (label < num_classes)).nonzero().squeeze(1)
    pos_label = label[pos]
    scale = score[pos] - p[pos, pos_label]
    loss[pos, pos_label] = F.binary_cross_entropy_with_logits(
        pred[pos, pos_label], score[pos], reduction="none"
    ) * scale.abs().pow(beta)
    return loss.sum(dim=1)


def _yolov8_dfl(pred_dist, target, reg_max=16):
    # ultralytics.utils.loss.DFLoss.__call__: target clamped to reg_max - 1 - 0.01, mean of edges
    target = target.clamp_(0, reg_max - 1 - 0.01)
    tl = target.long()
    tr = tl + 1
    wl = tr - target
    wr = 1 - wl
    return (
        F.cross_entropy(pred_dist, tl.view(-1), reduction="none").view(tl.shape) * wl
        + F.cross_entropy(pred_dist, tr.view(-1), reduction="none").view(tl.shape) * wr
    ).mean(-1, keepdim=True)


def test_varifocal_equals_mmdetection_form():
    g = _gen(0)
    pred = torch.randn(20, 5, generator=g, dtype=torch.float64) * 3
    target = torch.where(
        torch.rand(20, 5, generator=g) > 0.7, torch.rand(20, 5, generator=g, dtype=torch.float64), 0
    )
    for alpha, gamma in ((0.75, 2.0), (0.25, 1.5)):
        torch.testing.assert_close(
            VF.varifocal_loss(pred, target, alpha=alpha, gamma=gamma, reduction="none"),
            _mmdet_varifocal(pred, target, alpha, gamma),
        )


def test_varifocal_with_label_equals_ultralytics_form():
    g = _gen(1)
    pred = torch.randn(2, 30, 4, generator=g, dtype=torch.float64) * 3
    label = F.one_hot(torch.randint(0, 5, (2, 30), generator=g), 5)[..., :4].to(torch.float64)
    score = label * torch.rand(2, 30, 4, generator=g, dtype=torch.float64)
    ours = VF.varifocal_loss(pred, score, label, reduction="none").mean(1).sum()
    torch.testing.assert_close(ours, _ultralytics_varifocal(pred, score, label))


def test_quality_focal_equals_mmdetection_form():
    g = _gen(2)
    pred = torch.randn(25, 6, generator=g, dtype=torch.float64) * 3
    label = torch.randint(0, 7, (25,), generator=g)  # 6 is the background
    score = torch.rand(25, generator=g, dtype=torch.float64)
    dense = F.one_hot(label, 7)[:, :6].to(torch.float64) * score[:, None]
    ours = VF.quality_focal_loss(pred, dense, reduction="none").sum(1)
    torch.testing.assert_close(ours, _mmdet_quality_focal(pred, label, score))


def test_distribution_focal_equals_yolov8_form():
    g = _gen(3)
    pred = torch.randn(10, 4, 16, generator=g, dtype=torch.float64) * 2
    target = torch.rand(10, 4, generator=g, dtype=torch.float64) * 15
    target[0] = 14.99  # YOLOv8's clamp bound
    theirs = _yolov8_dfl(pred.view(-1, 16), target.clone(), reg_max=16)
    ours = VF.distribution_focal_loss(pred, target.clamp(0, 14.99), reduction="none")
    torch.testing.assert_close(ours.mean(-1, keepdim=True), theirs)


# --- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "options", "error"),
    [
        (visionloss.VarifocalLoss, {"alpha": -0.1}, ValueError),
        (visionloss.VarifocalLoss, {"gamma": "2"}, TypeError),
        (visionloss.QualityFocalLoss, {"beta": -1.0}, ValueError),
        (visionloss.QualityFocalLoss, {"beta": True}, TypeError),
        (visionloss.DistributionFocalLoss, {"reduction": "batchmean"}, ValueError),
        (visionloss.DistributionFocalLoss, {"reg_max": 16}, TypeError),
    ],
)
def test_option_errors_raise_at_module_construction(module, options, error):
    with pytest.raises(error):
        module(**options)
