r"""Pairwise box overlap matrices for matching: :func:`box_iou` and :func:`generalized_box_iou`.

These are not losses (no reduction, no weight, not in the registry): they compare every box of
one set with every box of another, as the matching step of a detector does (anchor or query
assignment, Hungarian matching costs, NMS), and return an ``(N, M)`` matrix. The geometry is that
of the box losses (:mod:`visionloss.losses.boxes`):

* 2D boxes ``(N, 4)`` and ``(M, 4)``, or 3D boxes ``(N, 6)`` and ``(M, 6)`` (areas read as
  volumes); ``box_format`` ``"xyxy"``, ``"xywh"`` or ``"cxcywh"``, read per axis in 3D;
* an inverted box is the empty box at its centre; half and bfloat16 boxes (and integer ones) are
  computed in float32, the result is float32 (float64 for float64 boxes);
* differentiable (a matching cost with gradient, as DETR's GIoU cost), compiles, no host sync.

One difference from the losses, on purpose: :math:`\mathrm{IoU} = I/(U + \epsilon)`, torchvision's
loss form (its ``box_iou`` is :math:`I/U`, MONAI's ``box_iou`` :math:`I/(U + \epsilon)`), not
the losses' :math:`(I + \epsilon)/(U + \epsilon)`. Matching compares IoUs with thresholds and
tests ``iou > 0``: a disjoint pair must be exactly 0 (the losses' form gives it
:math:`\epsilon/(U + \epsilon)`, 1e-5 for boxes of area 0.01 in normalised coordinates), whereas
an identical pair may be :math:`U/(U + \epsilon)`, 1 to within 1e-7 for unit boxes. Two
zero-area boxes give 0 (torchvision's :math:`I/U` gives NaN). So for ``N == M`` the diagonal of
:func:`box_iou` equals ``1 - iou_loss(boxes1, boxes2, reduction="none")`` to within
:math:`\epsilon/(U + \epsilon)`, and that of :func:`generalized_box_iou` equals
``1 - giou_loss(...)`` as closely.
"""

from __future__ import annotations

from torch import Tensor

from .._core import check_choice, check_number, check_tensor
from ..kernels.boxes import pairwise_iou
from .boxes import BOX_FORMATS, BoxFormat

__all__ = ["box_iou", "generalized_box_iou"]


def _check_sets(boxes1: Tensor, boxes2: Tensor, box_format: str, eps: float) -> None:
    check_tensor(boxes1, "boxes1")
    check_tensor(boxes2, "boxes2")
    for boxes, name, n in ((boxes1, "boxes1", "N"), (boxes2, "boxes2", "M")):
        if boxes.dim() != 2 or boxes.shape[-1] not in (4, 6):
            raise ValueError(
                f"{name}: expected 2D boxes ({n}, 4) or 3D boxes ({n}, 6), "
                f"got {tuple(boxes.shape)}"
            )
    if boxes1.shape[-1] != boxes2.shape[-1]:
        raise ValueError(
            "boxes1 and boxes2: boxes of one dimension expected, got "
            f"{tuple(boxes1.shape)} and {tuple(boxes2.shape)}"
        )
    check_choice(box_format, "box_format", BOX_FORMATS)
    check_number(eps, "eps", low=0.0, low_inclusive=False)


def box_iou(
    boxes1: Tensor, boxes2: Tensor, *, box_format: BoxFormat = "xyxy", eps: float = 1e-7
) -> Tensor:
    r"""The ``(N, M)`` IoU matrix of two sets of boxes, for matching.

    .. math::
        \mathrm{IoU}_{ij} = \frac{|A_i \cap B_j|}{|A_i \cup B_j| + \epsilon}

    with :math:`A_i` the boxes of ``boxes1`` and :math:`B_j` those of ``boxes2`` (areas, or
    volumes for 3D boxes). In [0, 1]; exactly 0 for disjoint boxes, 1 to within
    :math:`\epsilon/U` for identical ones. The same role as torchvision's
    ``ops.box_iou`` and MONAI's ``box_iou``; see :mod:`visionloss.losses.box_pairwise` for how
    :math:`\epsilon` and degenerate boxes differ from torchvision's :math:`I/U`.

    Args:
        boxes1: ``(N, 4)`` 2D boxes or ``(N, 6)`` 3D boxes; any real dtype. N may be 0.
        boxes2: ``(M, 4)`` or ``(M, 6)``, the same box dimension as ``boxes1``. M may be 0.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"`` (both sets), read per
            axis for 3D boxes (``"xyxy"`` is x1, y1, z1, x2, y2, z2).
        eps: :math:`\epsilon > 0`. Default 1e-7, the box losses'.

    Returns:
        ``(N, M)`` tensor, float32 for half, bfloat16 or integer boxes, else their dtype.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 4.0, 4.0]])
        >>> b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 6.0, 6.0]])
        >>> VF.box_iou(a, b)
        tensor([[0.1429, 1.0000, 0.0000],
                [0.2500, 0.2500, 0.0000]])
    """
    _check_sets(boxes1, boxes2, box_format, eps)
    return pairwise_iou(boxes1, boxes2, box_format, eps, generalized=False)


def generalized_box_iou(
    boxes1: Tensor, boxes2: Tensor, *, box_format: BoxFormat = "xyxy", eps: float = 1e-7
) -> Tensor:
    r"""The ``(N, M)`` generalized IoU matrix of two sets of boxes (DETR's matching cost).

    .. math::
        \mathrm{GIoU}_{ij} = \mathrm{IoU}_{ij} - \frac{|C_{ij}| - |A_i \cup B_j|}{|C_{ij}| + \epsilon}

    with :math:`C_{ij}` the smallest box enclosing :math:`A_i` and :math:`B_j` and
    :math:`\mathrm{IoU}_{ij}` as in :func:`box_iou`. In [-1, 1]; it still ranks disjoint pairs
    by how far apart they are. The same role as torchvision's ``ops.generalized_box_iou`` and
    MONAI's ``box_giou``. Arguments and result as :func:`box_iou`.

    Args:
        boxes1: ``(N, 4)`` 2D boxes or ``(N, 6)`` 3D boxes; any real dtype. N may be 0.
        boxes2: ``(M, 4)`` or ``(M, 6)``, the same box dimension as ``boxes1``. M may be 0.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``, read per axis in 3D.
        eps: :math:`\epsilon > 0`. Default 1e-7.

    Returns:
        ``(N, M)`` tensor, float32 for half, bfloat16 or integer boxes, else their dtype.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        >>> b = torch.tensor([[2.0, 0.0, 3.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
        >>> VF.generalized_box_iou(a, b)
        tensor([[-0.3333,  1.0000]])
    """
    _check_sets(boxes1, boxes2, box_format, eps)
    return pairwise_iou(boxes1, boxes2, box_format, eps, generalized=True)
