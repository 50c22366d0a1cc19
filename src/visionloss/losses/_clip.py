"""CLIP's symmetric image-text InfoNCE loss, with an optional learnable temperature.

Re-exported (and its spec listed) by :mod:`visionloss.losses.embedding`. Half and bfloat16 inputs
are computed in float32; the result is float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Reduction,
    autocast_off,
    check_flag,
    check_floating,
    check_number,
    check_same_shape,
    compute_dtype,
    reduce_loss,
)
from ..distributed import gather_cat, is_synced
from ._embedding_inputs import NORM_EPS, check_rows

__all__ = ["SPECS", "ClipLoss", "ClipOptions", "clip_loss"]


@dataclass(frozen=True, kw_only=True)
class ClipOptions(LossOptions):
    temperature: float = 0.07
    learn_temperature: bool = False
    max_scale: float = 100.0
    sync: bool = False
    process_group: object | None = None

    def validate(self) -> None:
        check_number(self.temperature, "temperature", low=0.0, low_inclusive=False)
        check_flag(self.learn_temperature, "learn_temperature")
        check_number(self.max_scale, "max_scale", low=0.0, low_inclusive=False)
        check_flag(self.sync, "sync")


def clip_loss(
    image_embeddings: Tensor,
    text_embeddings: Tensor,
    logit_scale: Tensor | None = None,
    *,
    temperature: float = 0.07,
    learn_temperature: bool = False,
    max_scale: float = 100.0,
    sync: bool = False,
    process_group: object | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""CLIP's symmetric InfoNCE: each image must pick its caption among the batch's texts, and
    each text its image.

    With the cosine similarities :math:`s_{ij}` between image :math:`i` and text :math:`j`
    (norms floored at ``1e-8``) and the logit scale :math:`t` (the inverse temperature), the
    ``(B, B)`` logits are :math:`t\, s_{ij}`, the matching pairs on the diagonal, and

    .. math::
        \ell_i = \frac{1}{2}\Big(
        -\log \frac{e^{t s_{ii}}}{\sum_{j} e^{t s_{ij}}}
        -\log \frac{e^{t s_{ii}}}{\sum_{j} e^{t s_{ji}}}\Big)

    the image-to-text and the text-to-image cross-entropies of pair :math:`i`, averaged.
    ``"mean"`` is CLIP's ``(CE(logits) + CE(logits^T)) / 2``; ``"none"`` gives the ``(B,)``
    per-pair values (each the average of its two directions). An empty batch gives 0.0.

    The scale: without ``logit_scale``, :math:`t = 1 / \tau` with the fixed ``temperature``
    :math:`\tau`. With ``logit_scale`` (a scalar tensor holding :math:`\log t`, CLIP's
    learnable parameter), :math:`t = \exp(\min(\text{logit\_scale}, \log t_{max}))`: the scale
    never exceeds ``max_scale`` (CLIP clips it at 100) and gets no gradient beyond it (open_clip
    clamps the parameter in place after each step instead; the values agree while it is below
    the bound). The Module form ``ClipLoss(learn_temperature=True)`` owns that parameter,
    initialised to :math:`\log(1/\tau)` (CLIP's :math:`\log(1/0.07)`): give the loss's
    parameters to the optimizer. ``learn_temperature`` is unused by the function (one options
    object for both forms).

    open_clip's ``ClipLoss()(image_features, text_features, logit_scale)`` with a scale
    :math:`t` (already exponentiated) and normalised features is the same mean. Compared with
    :func:`nt_xent_loss`, the softmax runs across the two modalities only (an image is never
    compared with another image) and over :math:`B` candidates, the positive included.

    Args:
        image_embeddings: ``(B, D)`` floating image embeddings (normalised here).
        text_embeddings: ``(B, D)``, the texts of the same B pairs, same order.
        logit_scale: optional scalar tensor, :math:`\log t` (learnable). Default ``None``: the
            fixed ``temperature``.
        temperature: :math:`\tau > 0` used without ``logit_scale``, and the Module's initial
            value with ``learn_temperature``. Default 0.07 (CLIP's initial value).
        learn_temperature: the Module owns a learnable ``logit_scale`` parameter. Default
            ``False``.
        max_scale: the upper bound :math:`t_{max} > 0` of a learned scale. Default 100.
        sync: with an initialised ``torch.distributed`` process group, gather both modalities
            from every rank (autograd-aware, ranks may hold different B) first, so that the
            negatives come from the global batch: every rank computes the loss of one process on
            the concatenated batch, and each rank's rows get the gradients of every rank's loss
            (K times the single-process gradient with K ranks: DDP's convention). ``"none"``
            then has the global :math:`\sum_r B_r` values. A no-op without a process group.
            Default ``False``.
        process_group: the group to gather over (default: the world).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(B,)``).

    References:
        A. Radford, J. W. Kim, C. Hallacy et al., "Learning Transferable Visual Models From
        Natural Language Supervision", ICML 2021, arXiv:2103.00020.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> VF.clip_loss(x, x.clone(), temperature=1.0, reduction="none")
        tensor([0.3133, 0.3133])
    """
    opts = ClipOptions(
        temperature=temperature, learn_temperature=learn_temperature, max_scale=max_scale,
        sync=sync, process_group=process_group, reduction=reduction,
    )
    return _clip(image_embeddings, text_embeddings, logit_scale, opts)


def _clip(image: Tensor, text: Tensor, logit_scale: Tensor | None, opts: ClipOptions) -> Tensor:
    check_rows(image, "image_embeddings")
    check_floating(text, "text_embeddings")
    check_same_shape(image, text, "image_embeddings", "text_embeddings")
    if logit_scale is not None:
        check_floating(logit_scale, "logit_scale")
        if logit_scale.numel() != 1:
            raise ValueError(
                f"logit_scale: expected a scalar tensor (log of the scale), got shape "
                f"{tuple(logit_scale.shape)}"
            )
    dtype = compute_dtype(image, text)
    image, text = image.to(dtype), text.to(dtype)
    if is_synced(opts.sync, opts.process_group):
        image, _ = gather_cat(image, sync=opts.sync, process_group=opts.process_group)
        text, _ = gather_cat(text, sync=opts.sync, process_group=opts.process_group)

    unit_image = F.normalize(image, dim=1, eps=NORM_EPS)
    unit_text = F.normalize(text, dim=1, eps=NORM_EPS)
    with autocast_off(unit_image):  # the product in the compute dtype, not autocast's bfloat16
        cosine = unit_image @ unit_text.T
    if logit_scale is None:
        logits = cosine / opts.temperature
    else:
        # min with the bound before exp: the scale stays <= max_scale, without overflow
        log_scale = torch.clamp(logit_scale.to(dtype).reshape(()), max=math.log(opts.max_scale))
        logits = cosine * log_scale.exp()
    positive = logits.diagonal()
    image_to_text = torch.logsumexp(logits, dim=1) - positive
    text_to_image = torch.logsumexp(logits, dim=0) - positive
    return reduce_loss(0.5 * (image_to_text + text_to_image), opts.reduction)


class _LearnableScaleModule(LossModule):
    """The learnable temperature is the Module's state, not an option (as ArcFace's centres):
    ``__init__`` lets :class:`LossModule` build and check the options, then, with
    ``learn_temperature=True``, registers CLIP's scalar ``nn.Parameter`` ``logit_scale`` (the log of
    the inverse temperature), initialised to ``log(1 / temperature)``; it follows ``.to()``,
    ``state_dict`` and the optimizer as any layer's weight. Otherwise ``logit_scale`` is ``None``
    and the fixed ``temperature`` is used."""

    logit_scale: nn.Parameter | None

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        if self.opts.learn_temperature:
            initial = torch.tensor(math.log(1.0 / self.opts.temperature))
            self.logit_scale = nn.Parameter(initial)
        else:
            self.register_parameter("logit_scale", None)


class ClipLoss(_LearnableScaleModule):
    def forward(
        self, image_embeddings: Tensor, text_embeddings: Tensor,
        logit_scale: Tensor | None = None,
    ) -> Tensor:
        """image_embeddings, text_embeddings: ``(B, D)``; logit_scale: default the Module's."""
        scale = self.logit_scale if logit_scale is None else logit_scale
        return _clip(image_embeddings, text_embeddings, scale, self.opts)


SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "clip", clip_loss, ClipLoss, ClipOptions, "embedding",
        summary="CLIP's symmetric InfoNCE: each image must pick its text among the batch's "
        "texts and each text its image, by scaled cosine similarity (optionally a learned "
        "temperature).",
        formula=r"\tfrac{1}{2}\Big(-\log \frac{e^{t s_{ii}}}{\sum_j e^{t s_{ij}}} "
        r"- \log \frac{e^{t s_{ii}}}{\sum_j e^{t s_{ji}}}\Big)",
        paper="A. Radford et al., Learning Transferable Visual Models From Natural Language "
        "Supervision, ICML 2021, arXiv:2103.00020",
    ),
)
