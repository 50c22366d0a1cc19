"""The perceptual loss: a distance between the features that a user-supplied network extracts.

Re-exported (and its spec listed) by :mod:`visionloss.losses.generative`. No weights are
downloaded: the feature extractor is the user's (torchvision's VGG16 features, a segmentation
encoder, a tiny convolution; see :func:`perceptual_loss`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, get_args

import torch
from torch import Tensor, nn

from .._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Reduction,
    autocast_off,
    check_choice,
    check_flag,
    check_floating,
    check_same_shape,
    compute_dtype,
    describe,
    reduce_loss,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Extractor",
    "PerceptualCriterion",
    "PerceptualLoss",
    "PerceptualOptions",
    "SPECS",
    "perceptual_loss",
]

PerceptualCriterion = Literal["l1", "mse"]
_CRITERIA: tuple[str, ...] = get_args(PerceptualCriterion)
#: what an extractor returns: one feature map, a list of them, or a dict of named ones
ExtractorOutput: TypeAlias = Tensor | Sequence[Tensor] | Mapping[str, Tensor]
Extractor: TypeAlias = Callable[[Tensor], ExtractorOutput]
#: the per-channel statistics of ImageNet (torchvision's pretrained models expect them)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True, kw_only=True)
class PerceptualOptions(LossOptions):
    extractor: Extractor
    layers: tuple[int | str, ...] | None = None
    layer_weights: Tensor | None = None
    criterion: PerceptualCriterion = "l1"
    normalize: bool = False
    mean: Tensor | None = None
    std: Tensor | None = None
    detach_target: bool = True
    freeze: bool = True

    tensor_fields = ("layer_weights", "mean", "std")

    def validate(self) -> None:
        if not callable(self.extractor):
            raise TypeError(
                f"extractor: expected a callable (an nn.Module or a function) that maps images to "
                f"features, got {describe(self.extractor)}"
            )
        if self.layers is not None:
            if isinstance(self.layers, (int, str)) or not isinstance(self.layers, Sequence):
                raise TypeError(
                    f"layers: expected None or a list of output indices (int) or names (str), "
                    f"got {describe(self.layers)}"
                )
            layers = tuple(self.layers)
            if not layers or not all(
                isinstance(k, str) or (isinstance(k, int) and not isinstance(k, bool))
                for k in layers
            ):
                raise ValueError(
                    f"layers: expected a non-empty list of output indices (int) or names (str), "
                    f"got {self.layers!r}"
                )
            self._set("layers", layers)
        if self.layer_weights is not None:
            w = self.layer_weights
            if not isinstance(w, Tensor) or w.dim() != 1 or not w.is_floating_point():
                raise ValueError(
                    f"layer_weights: expected a 1-D list or tensor of numbers, one per layer, got "
                    f"{describe(w)}"
                )
            if self.layers is not None and w.numel() != len(self.layers):
                raise ValueError(
                    f"layer_weights: expected {len(self.layers)} weights (one per layer of "
                    f"layers={self.layers!r}), got {w.numel()}"
                )
        check_choice(self.criterion, "criterion", _CRITERIA)
        check_flag(self.normalize, "normalize")
        check_flag(self.detach_target, "detach_target")
        check_flag(self.freeze, "freeze")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, Tensor) or value.dim() != 1):
                raise ValueError(
                    f"{name}: expected None or a 1-D list of per-channel numbers, got "
                    f"{describe(value)}"
                )


def perceptual_loss(
    input: Tensor,
    target: Tensor,
    *,
    extractor: Extractor,
    layers: Sequence[int | str] | None = None,
    layer_weights: Tensor | Sequence[float] | None = None,
    criterion: PerceptualCriterion = "l1",
    normalize: bool = False,
    mean: Tensor | Sequence[float] | None = None,
    std: Tensor | Sequence[float] | None = None,
    detach_target: bool = True,
    freeze: bool = True,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Perceptual (feature) loss: the distance between a network's features of two images.

    With :math:`\phi_k` the feature maps the ``extractor`` returns (the selected ``layers``),
    :math:`w_k` the ``layer_weights`` (default 1) and :math:`d` the absolute (``"l1"``, default)
    or squared (``"mse"``) difference, per sample :math:`n`

    .. math::
        \ell_n = \sum_k w_k \, \frac{1}{|\phi_k|} \sum_j
        d\big(\phi_k(x)_{nj},\ \phi_k(y)_{nj}\big)

    each layer's difference averaged over its elements :math:`|\phi_k|` (channels and
    positions), so a layer counts by its weight whatever its size: Johnson et al.'s feature
    reconstruction loss (``"mse"`` of one layer) and the L1 sum over VGG layers of
    super-resolution and image-translation models. ``"none"`` gives the ``(N,)`` values.

    The extractor is any callable from images to features: one tensor, a list or tuple of
    tensors (``layers`` picks indices) or a dict of named tensors (``layers`` picks keys; the
    dict's order otherwise). Every feature's first dim is the batch. No weights are downloaded
    here; with torchvision installed (not a dependency of visionloss; it downloads its own
    weights once), VGG16's ``relu1_2``, ``relu2_2`` and ``relu3_3`` are::

        from torchvision.models import vgg16
        from torchvision.models.feature_extraction import create_feature_extractor

        vgg = vgg16(weights="IMAGENET1K_V1").features[:16]
        extractor = create_feature_extractor(
            vgg, return_nodes={"3": "relu1_2", "8": "relu2_2", "15": "relu3_3"}
        )  # an nn.Module returning a dict of the three maps
        loss = PerceptualLoss(extractor, normalize=True)  # images in [0, 1]
        value = loss(restored, clean)

    With ``normalize=True`` the inputs (in
    :math:`[0, 1]`) are standardised per channel, :math:`(x - \mu) / \sigma`, with ``mean`` and
    ``std`` (default ImageNet's, which torchvision's pretrained models expect) before the
    extractor.

    The Module form ``PerceptualLoss(extractor, ...)`` freezes an ``nn.Module`` extractor
    (``freeze=True``, default): its parameters stop requiring grad and it stays in eval mode
    even when the model around the loss is put in train mode, so gradients reach the images
    only. It registers the extractor as a sub-module (it follows ``.to()``). The function
    changes nothing on the extractor (``freeze`` is read by the Module only): a trainable
    extractor's parameters get gradients through it. With ``detach_target`` (default) the
    target's features are computed without a graph (the target is a fixed reference).

    Precision: the images reach an ``nn.Module`` extractor in the dtype of its parameters (a
    float32 network under mixed precision gets float32 images, a half network half images)
    and any other callable in the compute dtype (float32 for half or bfloat16 images, float64
    for float64), outside autocast (a perceptual loss compares small feature differences, which
    bfloat16 would round away); the differences are computed in float32 or wider.

    Args:
        input: ``(N, C, *)`` floating images (the prediction).
        target: ``(N, C, *)``, the reference images, same shape.
        extractor: callable, images to features (see above).
        layers: which outputs to compare: indices for a list, names for a dict; default all.
        layer_weights: one non-negative weight per compared layer (list or tensor); default 1.
        criterion: ``"l1"`` (default) or ``"mse"``.
        normalize: standardise the inputs with ``mean`` and ``std`` first. Default ``False``.
        mean: per-channel means for ``normalize`` (default ImageNet's).
        std: per-channel standard deviations for ``normalize`` (default ImageNet's).
        detach_target: no gradient into the target's features. Default ``True``.
        freeze: the Module freezes an ``nn.Module`` extractor; unused by the function.
        weight: optional non-negative ``(N,)`` sample weights.
        reduction: ``"mean"`` (default, over the batch), ``"sum"`` or ``"none"`` (``(N,)``).

    References:
        J. Johnson, A. Alahi, L. Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
        Super-Resolution", ECCV 2016, arXiv:1603.08155.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> def features(x):  # two "layers": the image and its 2x2 average
        ...     return [x, torch.nn.functional.avg_pool2d(x, 2)]
        >>> x, y = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
        >>> VF.perceptual_loss(x, y, extractor=features)  # 1/4 + 1/4
        tensor(0.5000)
    """
    opts = PerceptualOptions(
        extractor=extractor, layers=layers, layer_weights=layer_weights,  # type: ignore[arg-type]
        criterion=criterion, normalize=normalize, mean=mean, std=std,  # type: ignore[arg-type]
        detach_target=detach_target, freeze=freeze, reduction=reduction,
    )
    return _perceptual(input, target, opts, weight)


def _standardised(x: Tensor, opts: PerceptualOptions) -> Tensor:
    if not opts.normalize:
        return x
    mean = opts.mean if opts.mean is not None else torch.tensor(IMAGENET_MEAN)
    std = opts.std if opts.std is not None else torch.tensor(IMAGENET_STD)
    if x.dim() < 2 or mean.numel() != x.shape[1] or std.numel() != x.shape[1]:
        raise ValueError(
            f"mean, std: expected one value per channel of input (dim 1 of shape "
            f"{tuple(x.shape)}), got {mean.numel()} and {std.numel()}"
        )
    view = (1, -1) + (1,) * (x.dim() - 2)
    # in the images' dtype and device (the extractor's dtype, see _extractor_dtype)
    mean = mean.to(device=x.device, dtype=x.dtype).view(view)
    std = std.to(device=x.device, dtype=x.dtype).view(view)
    return (x - mean) / std


def _selected(features: Any, layers: tuple[int | str, ...] | None) -> list[Tensor]:
    """The compared feature maps, in order."""
    if isinstance(features, Tensor):
        if layers not in (None, (0,)):
            raise ValueError(
                f"layers: the extractor returned one tensor, so layers must be None, got {layers!r}"
            )
        return [features]
    if isinstance(features, Mapping):
        keys = list(features) if layers is None else list(layers)
        missing = [k for k in keys if k not in features]
        if missing:
            raise ValueError(
                f"layers: {missing!r} not among the extractor's outputs {list(features)!r}"
            )
        chosen = [features[k] for k in keys]
    elif isinstance(features, (list, tuple)):
        count = len(features)
        indices = list(range(count)) if layers is None else list(layers)
        bad = [k for k in indices if not isinstance(k, int) or not -count <= k < count]
        if bad:
            raise ValueError(
                f"layers: expected indices into the extractor's {count} outputs, got {bad!r}"
            )
        chosen = [features[k] for k in indices]  # type: ignore[index]
    else:
        raise TypeError(
            f"extractor: expected it to return a tensor, a list of tensors or a dict of tensors, "
            f"got {describe(features)}"
        )
    for index, item in enumerate(chosen):
        if not isinstance(item, Tensor):
            raise TypeError(f"extractor: output {index} is not a tensor but {describe(item)}")
    return chosen


def _extractor_dtype(extractor: Extractor, input: Tensor, target: Tensor) -> torch.dtype:
    """The dtype the images reach the extractor in: an ``nn.Module``'s own floating dtype (a
    float32 network under mixed precision gets float32 images, a half network half images),
    else the compute dtype (float32 for half images)."""
    if isinstance(extractor, nn.Module):
        for tensor in (*extractor.parameters(), *extractor.buffers()):
            if tensor.is_floating_point():
                return tensor.dtype
    return compute_dtype(input, target)


def _per_sample_mean(x: Tensor) -> Tensor:
    # (N, ...) -> (N,): the mean over every non-batch element (a (N,) feature is its own mean)
    return x.flatten(1).mean(dim=1) if x.dim() > 1 else x


def _perceptual(input: Tensor, target: Tensor, opts: PerceptualOptions, weight: Tensor | None
                ) -> Tensor:
    check_floating(input, "input")
    check_floating(target, "target")
    check_same_shape(input, target, "input", "target")
    dtype = _extractor_dtype(opts.extractor, input, target)
    input, target = input.to(dtype), target.to(dtype)
    with autocast_off(input):
        features = _selected(opts.extractor(_standardised(input, opts)), opts.layers)
        if opts.detach_target:
            with torch.no_grad():
                targets = _selected(opts.extractor(_standardised(target, opts)), opts.layers)
        else:
            targets = _selected(opts.extractor(_standardised(target, opts)), opts.layers)
    if opts.layer_weights is not None and opts.layer_weights.numel() != len(features):
        raise ValueError(
            f"layer_weights: expected {len(features)} weights (one per compared layer), got "
            f"{opts.layer_weights.numel()}"
        )
    per_layer = []
    for k, (f, t) in enumerate(zip(features, targets, strict=True)):
        if f.shape != t.shape:
            raise ValueError(
                f"extractor: output {k} has shape {tuple(f.shape)} for input and "
                f"{tuple(t.shape)} for target"
            )
        dtype = compute_dtype(f, t)
        diff = f.to(dtype) - t.to(dtype)
        per_layer.append(_per_sample_mean(diff.abs() if opts.criterion == "l1" else diff * diff))
    stacked = torch.stack(per_layer)  # (K, N)
    if opts.layer_weights is not None:
        w = opts.layer_weights.to(device=stacked.device, dtype=stacked.dtype)
        stacked = stacked * w.view(-1, *([1] * (stacked.dim() - 1)))
    return reduce_loss(stacked.sum(dim=0), opts.reduction, weight=weight)


class _ExtractorModule(LossModule):
    """Owns the extractor: ``__init__`` lets :class:`LossModule` build and check the options, then
    registers an ``nn.Module`` extractor as a sub-module, frozen (no grad, eval mode) unless
    ``freeze=False``; ``train()`` keeps a frozen one in eval mode."""

    positional_options = ("extractor",)

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        extractor = self.opts.extractor
        if isinstance(extractor, nn.Module):
            self.extractor = extractor  # a sub-module: it follows .to(), .cuda(), .half()
            if self.opts.freeze:
                extractor.requires_grad_(False)
                extractor.eval()

    def train(self, mode: bool = True) -> _ExtractorModule:
        # model.train() recurses into the loss: a frozen extractor stays in eval mode (its
        # batch-norm statistics and dropout are part of the fixed feature definition)
        super().train(mode)
        if self.opts.freeze and isinstance(self.opts.extractor, nn.Module):
            self.opts.extractor.eval()
        return self

    def extra_repr(self) -> str:
        # the options but the extractor (an nn.Module one is shown as the child module)
        parts = [] if isinstance(self.opts.extractor, nn.Module) else [
            f"extractor={getattr(self.opts.extractor, '__name__', type(self.opts.extractor).__name__)}"
        ]
        options = sorted(self.options().items(), key=lambda item: item[0] == "reduction")
        for name, value in options:
            if name != "extractor":
                parts.append(f"{name}={value.tolist() if isinstance(value, Tensor) else value!r}")
        return ", ".join(parts)



class PerceptualLoss(_ExtractorModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """input, target: ``(N, C, *)`` images; weight: optional ``(N,)`` sample weights."""
        return _perceptual(input, target, self.opts, weight)


SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "perceptual", perceptual_loss, PerceptualLoss, PerceptualOptions, "generative",
        summary="Perceptual loss: L1 or squared distance between the features that a "
        "user-supplied network (VGG, an encoder) extracts from the prediction and the target.",
        formula=r"\sum_k w_k \frac{1}{|\phi_k|} \sum_j d\big(\phi_k(x)_j, \phi_k(y)_j\big)",
        paper="J. Johnson, A. Alahi, L. Fei-Fei, Perceptual Losses for Real-Time Style Transfer "
        "and Super-Resolution, ECCV 2016, arXiv:1603.08155",
    ),
)
