"""Generative models of digits: a VAE with three KL weights, a GAN with three adversarial losses.

VAE: MLP encoder and decoder, a 4-dimensional latent, Bernoulli (BCE) reconstruction of the
pixels in [0, 1]; β = 0 (a plain autoencoder), 1 (the ELBO) and 4 (β-VAE). The metric is the
negative ELBO (β = 1, nats per image, lower is better) on held-out digits, whatever β trained.

GAN: MLP generator and discriminator trained with ``generator_loss``/``discriminator_loss`` of
kind non-saturating, minimax and hinge. The metric is a digits analogue of the Inception score,
exp E[KL(p(y|x) ‖ p(y))] from a logistic regression trained on real digits (from 1 to 10: high
when samples are classified confidently and spread over the classes), with the mean distance
from each sample to its nearest held-out real digit beside it. A reference row gives both for
real held-out digits.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor, nn

import visionloss.functional as VF
from visionloss.losses.generative import AdversarialKind

from ._common import (
    Method,
    Row,
    Settings,
    TaskResult,
    Tick,
    digit_score,
    digits,
    figure,
    fit,
    mlp,
    run_methods,
    save,
)
from ._common import seed_everything as _seed

TITLES = {"vae": "VAE on digits (KL weight β)", "gan": "GAN on digits (adversarial loss kind)"}
LATENT = 4
NOISE = 16
BETAS = (("autoencoder β=0", 0.0), ("VAE β=1", 1.0), ("β-VAE β=4", 4.0))
KINDS: tuple[tuple[str, AdversarialKind], ...] = (
    ("non-saturating", "non_saturating"),
    ("minimax", "minimax"),
    ("hinge", "hinge"),
)


# --- VAE ------------------------------------------------------------------------------------------


def _vae_steps(s: Settings) -> int:
    return s.pick(2, 400, 1500)


def vae_steps(s: Settings) -> int:
    return len(BETAS) * _vae_steps(s)


class VAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = mlp(64, 64, 2 * LATENT)
        self.decoder = mlp(LATENT, 64, 64)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, ...]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        eps = torch.randn(mu.shape, generator=generator)
        z = mu + torch.exp(0.5 * logvar) * eps  # reparameterisation
        return self.decoder(z), mu, logvar


def run_vae(s: Settings, tick: Tick) -> TaskResult:
    x_train, _, x_test, _ = digits(s.seed)
    steps = _vae_steps(s)
    models: dict[str, VAE] = {}

    def train(label: str, beta: float) -> Row:
        generator = _seed(s.seed)
        net = VAE()

        def loss_at(step: int) -> Tensor:
            idx = torch.randint(0, len(x_train), (128,), generator=generator)
            return _vae_objective(net, x_train[idx], generator, beta)

        fit(net.parameters(), loss_at, steps, lambda: tick(label), lr=2e-3)
        models[label] = net
        with torch.no_grad():
            evaluation = torch.Generator().manual_seed(s.seed + 7)
            values = [float(_vae_objective(net, x_test, evaluation, 1.0)) for _ in range(8)]
            nelbo = float(np.mean(values))
            recon, mu, logvar = net(x_test, evaluation)
            mse = float((torch.sigmoid(recon) - x_test).square().sum(1).mean())
            kl = float(VF.gaussian_kl(mu, logvar))
            prior = torch.randn(500, LATENT, generator=evaluation)
            score = digit_score(torch.sigmoid(net.decoder(prior)), s.seed)
        return Row(
            label,
            {"−ELBO nats": nelbo, "recon SSE": mse, "KL nats": kl, "sample score": score},
        )

    methods = [Method(label, functools.partial(train, label, beta)) for label, beta in BETAS]
    result = TaskResult("vae", TITLES["vae"], "−ELBO nats", False)
    result.rows = run_methods(methods)
    result.note = (
        f"latent {LATENT}; sample score: digit score of 500 samples from the prior (max 10)"
    )
    if models:
        result.figures.append(_vae_figure(s, models, x_test))
    return result


def _vae_objective(net: VAE, x: Tensor, generator: torch.Generator, beta: float) -> Tensor:
    recon, mu, logvar = net(x, generator)
    return VF.vae_loss(recon, x, mu, logvar, beta=beta)


def _vae_figure(s: Settings, models: dict[str, VAE], x_test: Tensor) -> str:
    shown = 8
    generator = torch.Generator().manual_seed(s.seed + 11)
    prior = torch.randn(shown, LATENT, generator=generator)
    rows = [("held-out", x_test[:shown])]
    with torch.no_grad():
        for label, net in models.items():
            mu = net.encoder(x_test[:shown]).chunk(2, dim=1)[0]
            rows.append((f"{label}: recon", torch.sigmoid(net.decoder(mu))))
            rows.append((f"{label}: sample", torch.sigmoid(net.decoder(prior))))
    return _image_grid(
        s, rows, "vae.png", "VAE: reconstructions of held-out digits, samples from N(0, I)"
    )


# --- GAN ------------------------------------------------------------------------------------------


def _gan_steps(s: Settings) -> int:
    return s.pick(2, 500, 3000)


def gan_steps(s: Settings) -> int:
    return len(KINDS) * _gan_steps(s)


def nearest_distance(samples: Tensor, real: Tensor) -> float:
    return float(torch.cdist(samples, real).min(1).values.mean())


def run_gan(s: Settings, tick: Tick) -> TaskResult:
    x_train, _, x_test, _ = digits(s.seed)
    steps = _gan_steps(s)
    samples: dict[str, Tensor] = {}

    def train(label: str, kind: AdversarialKind) -> Row:
        generator = _seed(s.seed)
        g = mlp(NOISE, 128, 64, act=lambda: nn.LeakyReLU(0.2))
        d = mlp(64, 128, 1, act=lambda: nn.LeakyReLU(0.2))
        g_opt = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.999))
        d_opt = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.5, 0.999))
        batch = 64
        for _ in range(steps):
            real = x_train[torch.randint(0, len(x_train), (batch,), generator=generator)]
            fake = torch.sigmoid(g(torch.randn(batch, NOISE, generator=generator)))
            d_loss = VF.discriminator_loss(
                d(real).squeeze(1), d(fake.detach()).squeeze(1), kind=kind
            )
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
            g_loss = VF.generator_loss(d(fake).squeeze(1), kind=kind)
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            g_opt.step()
            tick(label)
        with torch.no_grad():
            z = torch.randn(500, NOISE, generator=torch.Generator().manual_seed(s.seed + 5))
            images = torch.sigmoid(g(z))
        samples[label] = images
        return Row(
            label,
            {
                "digit score": digit_score(images, s.seed),
                "NN dist": nearest_distance(images, x_test),
            },
        )

    def real_reference() -> Row:
        return Row(
            "",
            {
                "digit score": digit_score(x_test, s.seed),
                "NN dist": nearest_distance(x_test, x_train),
            },
        )

    methods = [
        Method("real held-out digits", real_reference, reference=True),
        *(Method(label, functools.partial(train, label, kind)) for label, kind in KINDS),
    ]
    result = TaskResult("gan", TITLES["gan"], "digit score", True)
    result.rows = run_methods(methods)
    result.note = "500 samples each; NN dist: to the nearest held-out real digit (pixels in [0, 1])"
    if samples:
        rows = [(label, images[:10]) for label, images in samples.items()]
        result.figures.append(
            _image_grid(
                s,
                [("held-out", x_test[:10]), *rows],
                "gan.png",
                "GAN samples (the first 10 of 500)",
            )
        )
    return result


def _image_grid(s: Settings, rows: list[tuple[str, Tensor]], name: str, title: str) -> str:
    columns = max(len(images) for _, images in rows)
    fig = figure((0.75 * columns + 1.6, 0.8 * len(rows) + 0.5))
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for (label, images), line in zip(rows, axes, strict=True):
        for j, ax in enumerate(line):
            if j < len(images):
                ax.imshow(images[j].reshape(8, 8).numpy(), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        line[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=11)
    return save(fig, s, name)
