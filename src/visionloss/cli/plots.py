"""``visionloss plot``: a gallery of loss and gradient curves, drawn from the library itself.

Every curve is computed by calling the ``visionloss.functional`` function on a grid of inputs
(float64), and every gradient by autograd through that call: the figures show what the code
does, not a re-derived formula.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import visionloss.functional as VF
from visionloss.losses.generative import AdversarialKind

__all__ = [
    "FIGURES",
    "Gallery",
    "GalleryFigure",
    "make_gallery",
    "margin_curves",
    "nt_xent_curves",
    "quality_curves",
    "select",
    "topk_curves",
    "write_index",
]

DTYPE = torch.float64


@dataclass
class GalleryFigure:
    """One PNG of the gallery: its file stem, title, one-line explanation and drawing function."""

    name: str
    title: str
    caption: str
    draw: Callable[[Any], None]  # draws into a matplotlib Figure
    size: tuple[float, float] = (11.0, 4.0)


@dataclass
class Gallery:
    """What :func:`make_gallery` wrote."""

    folder: Path
    figures: list[GalleryFigure] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.folder / "index.html"


# --- helpers --------------------------------------------------------------------------------------


def _grid(lo: float, hi: float, n: int = 601) -> Tensor:
    return torch.linspace(lo, hi, n, dtype=DTYPE)


def _value_and_grad(f: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Any, Any]:
    """``f(x)`` (one value per element of ``x``) and its elementwise derivative, by autograd."""
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    return y.detach().numpy(), g.numpy()


def _at_residual(fn: Callable[..., Tensor], **options: Any) -> Callable[[Tensor], Tensor]:
    """``d -> fn(d, 0, reduction="none", **options)``: a regression loss as a function of the
    residual."""

    def at(d: Tensor) -> Tensor:
        return fn(d, torch.zeros_like(d), reduction="none", **options)

    return at


def _style(ax: Any, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.axhline(0.0, color="black", lw=0.6, alpha=0.5)
    ax.legend(fontsize=8, framealpha=0.85)


# --- figures --------------------------------------------------------------------------------------


def _regression(fig: Any) -> None:
    d = _grid(-3.0, 3.0)
    curves: list[tuple[str, Callable[..., Tensor], dict[str, Any]]] = [
        ("MSE", VF.mse_loss, {}),
        ("MAE", VF.mae_loss, {}),
        ("Huber δ=2", VF.huber_loss, {"delta": 2.0}),
        ("Smooth L1 β=1", VF.smooth_l1_loss, {"beta": 1.0}),
        ("log-cosh", VF.log_cosh_loss, {}),
        ("Charbonnier ε=0.5", VF.charbonnier_loss, {"eps": 0.5}),
    ]
    left, right = fig.subplots(1, 2)
    for label, fn, options in curves:
        value, grad = _value_and_grad(_at_residual(fn, **options), d)
        left.plot(d.numpy(), value, label=label, lw=1.8)
        right.plot(d.numpy(), grad, label=label, lw=1.8)
    left.set_ylim(-0.1, 4.5)
    right.set_ylim(-3.2, 3.2)
    _style(left, "residual d = x − y", "loss", "loss")
    _style(right, "residual d = x − y", "∂loss/∂x (autograd)", "gradient")


def _robust(fig: Any) -> None:
    fn = VF.robust_loss
    d = _grid(-6.0, 6.0)
    left, right = fig.subplots(1, 2)
    for alpha, name in [
        (2.0, "α=2 (L2)"),
        (1.0, "α=1 (pseudo-Huber)"),
        (0.0, "α=0 (Cauchy)"),
        (-2.0, "α=−2 (Geman-McClure)"),
        (-math.inf, "α=−∞ (Welsch)"),
    ]:
        value, grad = _value_and_grad(_at_residual(fn, alpha=alpha, scale=1.0), d)
        left.plot(d.numpy(), value, label=name, lw=1.8)
        right.plot(d.numpy(), grad, label=name, lw=1.8)
    left.set_ylim(-0.1, 5.0)
    right.set_ylim(-3.2, 3.2)
    _style(left, "residual d (scale c = 1)", "ρ(d, α, c)", "Barron's robust loss")
    _style(right, "residual d (scale c = 1)", "∂ρ/∂d (autograd)", "gradient: α < 2 caps outliers")


def _focal(fig: Any) -> None:
    p = _grid(0.005, 0.995, 400)
    z = torch.log(p) - torch.log1p(-p)  # logit(p_t) with target 1, so p_t = sigmoid(z) = p
    ones = torch.ones_like(z)
    left, right = fig.subplots(1, 2)
    value, grad = _value_and_grad(lambda x: VF.binary_cross_entropy(x, ones, reduction="none"), z)
    left.plot(p.numpy(), value, label="CE", color="black", lw=2.6)
    right.plot(p.numpy(), -grad, label="CE", color="black", lw=2.6)
    for gamma in (0.5, 1.0, 2.0, 5.0):

        def focal(x: Tensor, gamma: float = gamma) -> Tensor:
            return VF.focal_loss(x, ones, mode="binary", gamma=gamma, reduction="none")

        value, grad = _value_and_grad(focal, z)
        left.plot(p.numpy(), value, label=f"focal γ={gamma:g}", lw=1.8)
        right.plot(p.numpy(), -grad, label=f"focal γ={gamma:g}", lw=1.8)
    target2 = torch.ones_like(z, dtype=torch.long)

    def poly1(x: Tensor) -> Tensor:  # two classes, logits (0, x): p_t = sigmoid(x) again
        logits = torch.stack([torch.zeros_like(x), x], dim=1)
        return VF.poly1_loss(logits, target2, reduction="none")

    value, grad = _value_and_grad(poly1, z)
    left.plot(p.numpy(), value, "--", label="poly-1 ε=1", color="gray", lw=1.5)
    right.plot(p.numpy(), -grad, "--", label="poly-1 ε=1", color="gray", lw=1.5)
    left.axvspan(0.6, 1.0, color="green", alpha=0.06)
    left.text(0.8, 4.6, "well-classified", ha="center", fontsize=8, color="green")
    left.set_ylim(-0.1, 5.0)
    _style(left, "probability of the true class p_t", "loss", "cross-entropy vs focal loss")
    _style(right, "probability of the true class p_t", "−∂loss/∂logit (autograd)", "gradient")


def _overlap_inputs(start: Tensor, stop: Tensor, n: int = 200) -> tuple[Tensor, Tensor]:
    """Binary 1-D masks: prediction covers [start, stop) per row, the target [50, 100)."""
    pos = torch.arange(n, dtype=DTYPE)
    pred = ((pos >= start[:, None]) & (pos < stop[:, None])).to(DTYPE)
    target = ((pos >= 50) & (pos < 100)).to(DTYPE).expand_as(pred)
    return pred[:, None, :], target[:, None, :].contiguous()


def _overlap_call(fn: Callable[..., Tensor], pred: Tensor, target: Tensor, **options: Any) -> Any:
    # probabilities as they are
    value = fn(pred, target, mode="binary", from_logits=False, reduction="none", **options)
    return value.reshape(pred.shape[0], -1).mean(1).detach().numpy()


def _overlap(fig: Any) -> None:
    curves: list[tuple[str, Callable[..., Tensor], dict[str, Any], str]] = [
        ("Dice", VF.dice_loss, {}, "-"),
        ("Jaccard", VF.jaccard_loss, {}, "-"),
        ("Tversky α=0.3, β=0.7", VF.tversky_loss, {"alpha": 0.3, "beta": 0.7}, "--"),
        ("Tversky α=0.7, β=0.3", VF.tversky_loss, {"alpha": 0.7, "beta": 0.3}, ":"),
    ]
    left, right = fig.subplots(1, 2)
    shift = torch.arange(0, 61, dtype=DTYPE)  # a 50-pixel prediction sliding off a 50-pixel target
    pred, target = _overlap_inputs(50 + shift, 100 + shift)
    overlap = (50 - shift).clamp(min=0) / 50
    for label, fn, options, style in curves:
        value = _overlap_call(fn, pred, target, **options)
        left.plot(overlap.numpy(), value, style, label=label, lw=1.8)
    left.invert_xaxis()
    _style(
        left,
        "overlap |A∩B| / |B| (same size, sliding)",
        "loss",
        "sliding: FP = FN, so Tversky = Dice",
    )
    size = torch.arange(5, 151, dtype=DTYPE)  # a prediction [50, 50 + size): under- then over-
    pred, target = _overlap_inputs(torch.full_like(size, 50.0), 50 + size)
    for label, fn, options, style in curves:
        value = _overlap_call(fn, pred, target, **options)
        right.plot((size / 50).numpy(), value, style, label=label, lw=1.8)
    right.axvline(1.0, color="gray", lw=0.8, ls=":")
    right.text(0.02, 0.03, "← under-segmented (FN)", fontsize=8, transform=right.transAxes)
    right.text(
        0.98, 0.03, "over-segmented (FP) →", ha="right", fontsize=8, transform=right.transAxes
    )
    _style(
        right, "predicted size / true size (nested)", "loss", "growing: β weighs FN, α weighs FP"
    )
    right.legend(fontsize=8, loc="upper center")


def _boxes(fig: Any) -> None:
    target = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=DTYPE)  # cx, cy, w, h
    t = _grid(-4.0, 4.0, 801)
    left, right = fig.subplots(1, 2)
    for label, fn in [
        ("IoU", VF.iou_loss),
        ("GIoU", VF.giou_loss),
        ("DIoU", VF.diou_loss),
        ("CIoU", VF.ciou_loss),
        ("EIoU", VF.eiou_loss),
    ]:

        def slide(x: Tensor, fn: Callable[..., Tensor] = fn) -> Tensor:
            # predicted box 1.2 x 3.0 (another aspect ratio) centred at (x, 0)
            pred = torch.stack([x, torch.zeros_like(x), 1.2 + 0 * x, 3.0 + 0 * x], dim=-1)
            return fn(pred, target.expand_as(pred), box_format="cxcywh", reduction="none")

        value, grad = _value_and_grad(slide, t)
        left.plot(t.numpy(), value, label=label, lw=1.8)
        right.plot(t.numpy(), grad, label=label, lw=1.8)
    for ax in (left, right):
        ax.axvspan(-4.0, -1.6, color="red", alpha=0.05)  # |offset| > (2 + 1.2) / 2
        ax.axvspan(1.6, 4.0, color="red", alpha=0.05)
    left.text(-2.8, 0.05, "no overlap", ha="center", fontsize=8, color="darkred")
    _style(
        left,
        "horizontal offset of the predicted centre",
        "loss",
        "a 1.2×3 box slides past a 2×2 box",
    )
    _style(
        right,
        "horizontal offset of the predicted centre",
        "∂loss/∂offset (autograd)",
        "gradient: IoU is flat without overlap",
    )


def _generator(fig: Any) -> None:
    fn = VF.generator_loss
    d = _grid(0.001, 0.999, 300)
    f = torch.log(d) - torch.log1p(-d)  # the discriminator's logit on the fake sample

    def call(kind: AdversarialKind) -> Callable[[Tensor], Tensor]:
        return lambda x: fn(x, kind=kind, reduction="none")

    a, b, c = fig.subplots(1, 3)
    saturating: list[tuple[AdversarialKind, str]] = [
        ("minimax", "minimax: log(1 − D)"),
        ("non_saturating", "non-saturating: −log D"),
    ]
    for kind, label in saturating:
        value, grad = _value_and_grad(call(kind), f)
        a.plot(d.numpy(), value, label=label, lw=1.8)
        b.semilogy(d.numpy(), abs(grad), label=label, lw=1.8)
    a.axvspan(0.0, 0.1, color="red", alpha=0.06)
    a.text(
        0.1,
        0.25,
        "early training:\nD rejects fakes",
        fontsize=8,
        color="darkred",
        transform=a.transAxes,
    )
    _style(a, "D(G(z))", "generator loss", "generator loss vs D(G(z))")
    _style(b, "D(G(z))", "|∂loss/∂logit| (autograd)", "gradient: minimax saturates near 0")
    logits = _grid(-4.0, 4.0, 161)
    others: list[tuple[AdversarialKind, str]] = [
        ("non_saturating", "-"),
        ("lsgan", "-"),
        ("hinge", "-"),
        ("wasserstein", "--"),  # the same generator loss as hinge: -f
    ]
    for kind, style in others:
        value, _ = _value_and_grad(call(kind), logits)
        c.plot(logits.numpy(), value, style, label=kind, lw=1.8)
    _style(c, "discriminator logit on a fake sample", "generator loss", "other kinds")


def _embedding(fig: Any) -> None:
    triplet = VF.triplet_margin_loss
    contrastive = VF.contrastive_loss
    delta = _grid(-0.9, 3.0, 391)  # d(a, n) - d(a, p) with d(a, p) = 1 (d(a, n) > 0)
    anchor = torch.zeros(delta.numel(), 2, dtype=DTYPE)
    positive = torch.tensor([1.0, 0.0], dtype=DTYPE).expand_as(anchor)
    left, right = fig.subplots(1, 2)
    for color, (label, options) in enumerate(
        [("hinge, margin 1", {}), ("soft margin", {"soft_margin": True})]
    ):

        def f(x: Tensor, options: dict[str, Any] = options) -> Tensor:
            negative = torch.stack([torch.zeros_like(x), 1.0 + x], dim=-1)  # d(a, n) = 1 + x
            return triplet(anchor, positive, negative, reduction="none", **options)

        value, grad = _value_and_grad(f, delta)
        left.plot(delta.numpy(), value, f"C{color}", label=f"{label}: loss", lw=1.8)
        left.plot(delta.numpy(), grad, f"C{color}", ls=":", label=f"{label}: ∂/∂d(a,n)", lw=1.4)
    _style(left, "d(a, n) − d(a, p)", "triplet loss", "triplet: pushes negatives past the margin")
    dist = _grid(0.01, 2.0, 300)
    x1 = torch.zeros(dist.numel(), 2, dtype=DTYPE)
    for color, (same, label) in enumerate([(1.0, "same class"), (0.0, "different class")]):

        def g(x: Tensor, same: float = same) -> Tensor:
            x2 = torch.stack([x, torch.zeros_like(x)], dim=-1)
            flags = torch.full_like(x, same)
            return contrastive(x1, x2, flags, reduction="none")

        value, grad = _value_and_grad(g, dist)
        right.plot(dist.numpy(), value, f"C{color}", label=f"{label}: loss", lw=1.8)
        right.plot(dist.numpy(), grad, f"C{color}", ls=":", label=f"{label}: ∂/∂d", lw=1.4)
    right.axvline(1.0, color="gray", lw=0.8, ls=":")
    _style(right, "distance d between the pair", "contrastive loss", "contrastive (margin 1)")


def _kl(fig: Any) -> None:
    gaussian_kl = VF.gaussian_kl
    mu = _grid(-3.0, 3.0, 301)[:, None]
    zero = torch.zeros_like(mu)
    left, right = fig.subplots(1, 2)
    for sigma in (0.5, 1.0, 2.0):
        logvar = torch.full_like(mu, 2 * math.log(sigma))
        value = gaussian_kl(mu, logvar, mu2=zero, logvar2=zero, reduction="none")
        left.plot(mu[:, 0].numpy(), value.reshape(-1).numpy(), label=f"σ = {sigma:g}", lw=1.8)
    _style(left, "mean shift μ", "KL(N(μ, σ²) ‖ N(0, 1))", "Gaussian KL vs mean shift")
    narrow = torch.full_like(mu, 2 * math.log(0.5))
    forward = gaussian_kl(mu, narrow, mu2=zero, logvar2=zero, reduction="none")
    backward = gaussian_kl(zero, zero, mu2=mu, logvar2=narrow, reduction="none")
    right.plot(mu[:, 0].numpy(), forward.reshape(-1).numpy(), label="KL(N(μ, 0.5²) ‖ N(0, 1))")
    right.plot(mu[:, 0].numpy(), backward.reshape(-1).numpy(), label="KL(N(0, 1) ‖ N(μ, 0.5²))")
    z = torch.stack([mu[:, 0], torch.zeros_like(mu[:, 0])], dim=1)  # Bernoulli as 2 logits
    value = (
        VF.kl_divergence(z, torch.zeros_like(z), reduction="none").reshape(z.shape[0], -1).sum(1)
    )
    right.plot(mu[:, 0].numpy(), value.numpy(), "--", label="categorical: KL(softmax([μ,0]) ‖ ½,½)")
    _style(right, "mean shift μ (logit shift for the categorical)", "KL", "KL is not symmetric")


# --- issue 19: angular margins, NT-Xent, quality focal, top-k ---------------------------------
#
# Each figure's numbers come from a ``*_curves`` function (tensors in, numpy arrays out), so that
# the tests can check what the figure shows without drawing it.


def margin_curves(theta: Tensor, scale: float = 16.0) -> dict[str, tuple[Any, Any]]:
    """Target logit / s and loss against the angle ``theta`` (radians) to the true centre:
    ``{label: (logit / s, loss)}`` for the normalised softmax, ArcFace and CosFace.

    One embedding per angle, ``(cos θ, sin θ, 0)``, with two centres: the true class's
    ``(1, 0, 0)`` and another class's ``(0, 0, 1)``, orthogonal to every embedding, so its logit
    is 0 and the loss is ``softplus(-t)`` for the target logit ``t``: ``t`` is read back from the
    library's loss as ``-log(expm1(loss))``."""
    emb = torch.stack([theta.cos(), theta.sin(), torch.zeros_like(theta)], dim=-1)
    centers = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=DTYPE)
    labels = torch.zeros(theta.numel(), dtype=torch.long)
    losses = {
        "normalised softmax (m = 0)": VF.cosface_loss(
            emb, labels, centers, margin=0.0, scale=scale, reduction="none"
        ),
        "ArcFace m = 0.5": VF.arcface_loss(
            emb, labels, centers, margin=0.5, scale=scale, reduction="none"
        ),
        "CosFace m = 0.35": VF.cosface_loss(
            emb, labels, centers, margin=0.35, scale=scale, reduction="none"
        ),
    }
    curves = {}
    for label, loss in losses.items():
        logit = -torch.log(torch.expm1(loss)) / scale
        curves[label] = (logit.detach().numpy(), loss.detach().numpy())
    return curves


def _margins(fig: Any) -> None:
    theta = _grid(0.0, math.pi, 361)
    degrees = (theta * 180 / math.pi).numpy()
    left, right = fig.subplots(1, 2)
    for label, (logit, loss) in margin_curves(theta).items():
        left.plot(degrees, logit, label=label, lw=1.8)
        right.plot(degrees, loss, label=label, lw=1.8)
    left.text(151, -0.85, "θ + m > π:\ncos θ − m sin m", fontsize=8, color="C1", ha="center")
    right.axhline(math.log(2), color="gray", lw=0.8, ls=":")
    right.text(2, math.log(2) + 0.6, "log 2: target logit = other logit", fontsize=8)
    _style(
        left,
        "angle θ to the true class centre (degrees)",
        "target logit / s",
        "target logit: ArcFace cos(θ + m), CosFace cos θ − m",
    )
    _style(
        right,
        "angle θ to the true class centre (degrees)",
        "loss (s = 16)",
        "loss: the margins move the decision angle below 90°",
    )


def nt_xent_curves(similarity: Tensor, temperature: float) -> tuple[Any, Any]:
    """NT-Xent loss of one row, and its derivative, against the cosine similarity ``s`` of its
    positive: ``(loss, dloss/ds)``.

    Two samples, two views each: the first sample's views ``(1, 0, 0)`` and
    ``(s, sqrt(1 - s^2), 0)``, the second sample's both ``(0, 0, 1)`` (orthogonal to the first's):
    row 0 has its positive at similarity ``s`` and two negatives at 0, so its loss is
    ``log(1 + 2 exp(-s / τ))``."""
    s = similarity.detach().clone().requires_grad_(True)
    rows = []
    for value in s:
        a1 = torch.stack([torch.ones_like(value), torch.zeros_like(value), torch.zeros_like(value)])
        a2 = torch.stack([value, (1 - value**2).sqrt(), torch.zeros_like(value)])
        b = torch.tensor([0.0, 0.0, 1.0], dtype=DTYPE)
        z1, z2 = torch.stack([a1, b]), torch.stack([a2, b])
        rows.append(VF.nt_xent_loss(z1, z2, temperature=temperature, reduction="none")[0])
    loss = torch.stack(rows)
    (grad,) = torch.autograd.grad(loss.sum(), s)
    return loss.detach().numpy(), grad.numpy()


def _nt_xent(fig: Any) -> None:
    s = _grid(-0.99, 0.99, 199)
    left, right = fig.subplots(1, 2)
    for tau in (0.1, 0.5, 1.0):
        loss, grad = nt_xent_curves(s, tau)
        left.plot(s.numpy(), loss, label=f"τ = {tau:g}", lw=1.8)
        right.plot(s.numpy(), -grad, label=f"τ = {tau:g}", lw=1.8)
    left.set_ylim(-0.2, 8.0)
    _style(
        left,
        "cosine similarity of the positive (negatives at 0)",
        "NT-Xent loss of the row",
        "NT-Xent vs the positive's similarity",
    )
    _style(
        right,
        "cosine similarity of the positive (negatives at 0)",
        "−∂loss/∂s (autograd)",
        "gradient: a low τ pulls hard positives hard, easy ones not at all",
    )


def quality_curves(p: Tensor, q: float) -> dict[str, tuple[Any, Any]]:
    """Loss and ``dloss/dlogit`` against the predicted score ``p`` at a fixed IoU target ``q``:
    ``{label: (loss, grad)}`` for the quality focal loss (β = 2), the varifocal loss
    (α = 0.75, γ = 2; a positive when ``q > 0``) and the binary cross-entropy to ``q``."""
    logits = torch.log(p) - torch.log1p(-p)
    target = torch.full_like(logits, q)
    calls: dict[str, Callable[[Tensor], Tensor]] = {
        "BCE to q": lambda x: VF.binary_cross_entropy(x, target, reduction="none"),
        "quality focal β = 2": lambda x: VF.quality_focal_loss(x, target, reduction="none"),
        "varifocal α = 0.75, γ = 2": lambda x: VF.varifocal_loss(x, target, reduction="none"),
    }
    return {label: _value_and_grad(f, logits) for label, f in calls.items()}


def _quality(fig: Any) -> None:
    p = _grid(0.005, 0.995, 397)
    left, right = fig.subplots(1, 2)
    for ax, q, title in [
        (left, 0.6, "a positive with IoU target q = 0.6"),
        (right, 0.0, "a negative (q = 0)"),
    ]:
        for label, (loss, _) in quality_curves(p, q).items():
            ax.plot(p.numpy(), loss, label=label, lw=1.8)
        if q > 0:
            ax.axvline(q, color="gray", lw=0.8, ls=":")
        ax.set_ylim(-0.1, 3.0)
        _style(ax, "predicted score p = σ(x)", "loss", title)


def topk_curves(k: Tensor) -> dict[str, Any]:
    """Top-k cross-entropy and the share of pixels with a gradient against ``k``, on one image
    of 100 pixels of class 0 whose logit margins are spread from −3 to 6 (cross-entropy
    ``softplus(-margin)``): ``{"loss", "dice_topk", "ce", "share"}``."""
    margin = torch.linspace(-3.0, 6.0, 100, dtype=DTYPE)
    x = torch.stack([margin, torch.zeros_like(margin)])[None]
    t = torch.zeros(1, 100, dtype=torch.long)
    losses, compound, share = [], [], []
    for value in k.tolist():
        xg = x.clone().requires_grad_(True)
        loss = VF.topk_cross_entropy(xg, t, k=value)
        (grad,) = torch.autograd.grad(loss, xg)
        losses.append(loss.item())
        compound.append(VF.dice_topk_loss(x, t, k=value).item())
        share.append((grad.abs().sum(1) > 0).double().mean().item())
    ce = VF.cross_entropy(x, t).item()
    return {"loss": losses, "dice_topk": compound, "ce": ce, "share": share}


def _topk(fig: Any) -> None:
    k = _grid(0.01, 1.0, 100)
    curves = topk_curves(k)
    left, right = fig.subplots(1, 2)
    left.plot(k.numpy(), curves["loss"], label="top-k CE", lw=1.8)
    left.plot(k.numpy(), curves["dice_topk"], label="Dice + top-k CE", lw=1.8)
    left.axhline(curves["ce"], color="black", lw=1.0, ls="--", label="CE (mean of all pixels)")
    _style(
        left,
        "k (fraction of the pixels kept)",
        "loss",
        "100 pixels with margins −3 … 6: top-k CE falls to CE at k = 1",
    )
    right.plot(k.numpy(), curves["share"], label="top-k CE", lw=1.8)
    _style(
        right,
        "k (fraction of the pixels kept)",
        "share of pixels with a gradient",
        "only the k hardest pixels are trained on",
    )


FIGURES: list[GalleryFigure] = [
    GalleryFigure(
        "regression",
        "Regression losses",
        "Quadratic losses (MSE) let one outlier dominate; MAE, Huber, Smooth L1, log-cosh and "
        "Charbonnier keep a bounded gradient for large residuals.",
        _regression,
    ),
    GalleryFigure(
        "robust",
        "Barron's robust loss",
        "One shape parameter α moves from L2 (α=2) through pseudo-Huber and Cauchy to Welsch "
        "(α=−∞), whose gradient goes to zero for outliers.",
        _robust,
    ),
    GalleryFigure(
        "focal",
        "Cross-entropy vs focal loss (Lin et al. 2017, figure 1)",
        "The factor (1 − p_t)^γ shrinks the loss and gradient of well-classified examples, so "
        "the many easy ones no longer swamp the rare hard ones.",
        _focal,
    ),
    GalleryFigure(
        "overlap",
        "Dice, Jaccard and Tversky",
        "Overlap losses score the whole mask, not pixels; Tversky's α weighs false positives "
        "and β false negatives, so β > α favours recall of small structures.",
        _overlap,
    ),
    GalleryFigure(
        "boxes",
        "IoU, GIoU, DIoU, CIoU and EIoU",
        "IoU loss is flat (zero gradient) once boxes stop overlapping; GIoU, DIoU, CIoU and EIoU "
        "still pull the box towards its target.",
        _boxes,
    ),
    GalleryFigure(
        "generator",
        "GAN generator losses",
        "The minimax generator loss saturates when the discriminator rejects the fakes (early in "
        "training); the non-saturating loss has a strong gradient exactly there.",
        _generator,
        size=(14.0, 4.0),
    ),
    GalleryFigure(
        "embedding",
        "Triplet and contrastive losses",
        "Triplet losses stop pushing once the negative is a margin farther than the positive; "
        "contrastive pulls same-class pairs together and pushes others past the margin.",
        _embedding,
    ),
    GalleryFigure(
        "kl",
        "KL divergence of Gaussians",
        "The KL term of a VAE grows quadratically with the mean shift; KL(P ‖ Q) and KL(Q ‖ P) "
        "differ, most when one distribution is narrow.",
        _kl,
    ),
    GalleryFigure(
        "margins",
        "ArcFace and CosFace: angular and cosine margins",
        "Both lower the true class's logit by a margin, so an embedding must lie closer to its "
        "class centre than the softmax's 90° before the loss falls below log 2.",
        _margins,
    ),
    GalleryFigure(
        "nt_xent",
        "NT-Xent (SimCLR) and its temperature",
        "The loss of a row falls as its positive becomes more similar than the negatives; a low "
        "temperature τ concentrates the gradient on positives not yet above the negatives.",
        _nt_xent,
    ),
    GalleryFigure(
        "quality_focal",
        "Quality focal and varifocal losses",
        "Both train the score towards the IoU target q; quality focal scales the cross-entropy "
        "by |q − p|², varifocal weights positives by q and only down-weights negatives.",
        _quality,
    ),
    GalleryFigure(
        "topk",
        "Top-k cross-entropy",
        "Keeping only the hardest k of the pixels raises the loss above the mean cross-entropy "
        "(k = 1) and trains only those pixels.",
        _topk,
    ),
]


def select(only: Sequence[str] | None) -> list[GalleryFigure]:
    if not only:
        return list(FIGURES)
    return [f for f in FIGURES if any(text.lower() in f.name for text in only)]


def make_gallery(
    folder: Path,
    *,
    only: Sequence[str] | None = None,
    dpi: int = 110,
    console: Any = None,
) -> Gallery:
    """Draw the selected figures into ``folder`` and write ``index.html`` beside them."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    from matplotlib.figure import Figure

    gallery = Gallery(folder)
    for spec in select(only):
        fig = Figure(figsize=spec.size, layout="constrained")
        spec.draw(fig)
        fig.suptitle(spec.title, fontsize=13, fontweight="bold")
        fig.savefig(folder / f"{spec.name}.png", dpi=dpi)
        gallery.figures.append(spec)
        if console is not None:
            console.print(f"  [green]✓[/green] {spec.name}.png  [dim]{spec.title}[/dim]")
    if gallery.figures:
        write_index(gallery)
    return gallery


def write_index(gallery: Gallery) -> Path:
    """A page showing every figure with its one-line explanation."""
    import visionloss

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>visionloss gallery</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;"
        "padding:0 1em;color:#222}img{max-width:100%;border:1px solid #ddd}"
        "figure{margin:0 0 2.5em 0}figcaption{margin:.4em 0;font-size:1.05em}"
        "</style></head><body>",
        f"<h1>visionloss {html.escape(visionloss.__version__)}: loss and gradient curves</h1>",
        "<p>Every curve is computed with the <code>visionloss.functional</code> function, "
        "every gradient with autograd (float64). Made by <code>visionloss plot</code>.</p>",
    ]
    for spec in gallery.figures:
        parts += [
            f'<figure id="{spec.name}"><h2>{html.escape(spec.title)}</h2>',
            f'<img src="{spec.name}.png" alt="{html.escape(spec.title)}">',
            f"<figcaption>{html.escape(spec.caption)}</figcaption></figure>",
        ]
    parts.append("</body></html>")
    gallery.index.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return gallery.index
