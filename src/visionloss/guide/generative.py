"""Cards of the generative losses: adversarial, penalties, likelihood, structure, divergences."""

from __future__ import annotations

from ._card import Card, Claim, demo, paper, plot, test

__all__ = ["CARDS"]

_GOODFELLOW = "I. Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014, arXiv:1406.2661"
_SSIM = "Z. Wang et al., Image Quality Assessment: From Error Visibility to Structural Similarity, IEEE TIP 2004"
_ZHAO = (
    "H. Zhao et al., Loss Functions for Image Restoration with Neural Networks, IEEE TCI "
    "2017, arXiv:1511.08861"
)
_JOHNSON = (
    "J. Johnson, A. Alahi, L. Fei-Fei, Perceptual Losses for Real-Time Style Transfer and "
    "Super-Resolution, ECCV 2016, arXiv:1603.08155"
)
_EMB19 = "tests/test_guide_evidence_i19emb.py"
_KINGMA = "D. P. Kingma, M. Welling, Auto-Encoding Variational Bayes, ICLR 2014, arXiv:1312.6114"
_KL_MEAN = test("test_kl_mean_over_elements_is_wrong_batchmean_is_right")
_I19C = "tests/test_guide_evidence_i19c.py"
_TV_EDGE = test("test_total_variation_charges_an_edge_its_height_as_a_ramp", _I19C)
_ROF = (
    "L. I. Rudin, S. Osher, E. Fatemi, Nonlinear total variation based noise removal "
    "algorithms, Physica D 1992"
)

CARDS: dict[str, Card] = {
    "generator": Card(
        definition="The generator's adversarial loss from the discriminator's logits on fakes: "
        "non-saturating -log D(G(z)) (default), minimax log(1 - D(G(z))), least squares, hinge "
        "or Wasserstein (-D(G(z))).",
        application="Training GANs: image synthesis, super-resolution and image-to-image "
        "translation as an extra term.",
        advantages=(
            Claim(
                "The non-saturating form keeps a strong gradient when the discriminator "
                "rejects the fakes (early training), where minimax's gradient is ~1e-3.",
                (
                    test("test_minimax_generator_saturates_non_saturating_does_not"),
                    plot("generator"),
                    paper(_GOODFELLOW),
                ),
            ),
            Claim(
                "The best mean on the demo's digit GAN (digit score 4.09 ± 0.10 against "
                "minimax 4.02 and hinge 3.98, 5 seeds), though not beyond the noise at full "
                "size (p = 0.20; on seeds 5 to 9 minimax had the best mean).",
                (demo("gan", "non-saturating"), demo("gan", "minimax"), demo("gan", "hinge")),
            ),
            Claim(
                "One function for five published formulations, chosen by kind.",
                (test("test_wasserstein_generator_loss_is_unbounded_without_a_lipschitz_critic"),),
            ),
            Claim(
                "Takes a multi-scale discriminator's list of outputs (pix2pixHD, MONAI's patch "
                "discriminators) and averages the per-scale means, so a coarse scale with few "
                "patches counts as much as a fine one (MONAI's PatchAdversarialLoss convention).",
                (test("test_multi_scale_adversarial_counts_every_scale_alike",
                      "tests/test_guide_evidence_i19emb.py"),
                 test("test_multi_scale_bce_equals_monai_patch_adversarial_loss",
                      "tests/peers/test_generative_peers.py")),
            ),
        ),
        disadvantages=(
            Claim(
                "The minimax form saturates: its gradient vanishes when the fakes are bad.",
                (
                    test("test_minimax_generator_saturates_non_saturating_does_not"),
                    demo("gan", "minimax"),
                ),
            ),
            Claim(
                "The Wasserstein form is linear in the critic's output and unbounded below: "
                "it needs a Lipschitz critic (gradient penalty, spectral norm).",
                (
                    test("test_wasserstein_generator_loss_is_unbounded_without_a_lipschitz_critic"),
                    paper("M. Arjovsky et al., Wasserstein GAN, ICML 2017, arXiv:1701.07875"),
                ),
            ),
        ),
        alternatives=(
            ("discriminator", "its counterpart, of the same kind"),
            ("gradient_penalty", "with the Wasserstein kind"),
            ("r1_penalty", "to stabilise the non-saturating kind"),
        ),
    ),
    "discriminator": Card(
        definition="The discriminator's (critic's) adversarial loss: a term on real logits plus "
        "a term on fake logits, of the same kinds as the generator's.",
        application="The other half of GAN training; patch discriminators in image translation.",
        advantages=(
            Claim(
                "The hinge kind stops pushing logits beyond ±1, which keeps the discriminator "
                "from growing over-confident.",
                (
                    test("test_hinge_discriminator_stops_pushing_beyond_the_margin"),
                    paper("J. H. Lim, J. C. Ye, Geometric GAN, 2017, arXiv:1705.02894"),
                ),
            ),
            Claim(
                "The non-saturating kind is plain BCE on real = 1 and fake = 0.",
                (test("test_non_saturating_discriminator_vanishes_when_it_wins"),),
            ),
        ),
        disadvantages=(
            Claim(
                "When the discriminator wins (logits ±12), its own gradient vanishes and the "
                "game can stall; balance with penalties or learning rates.",
                (
                    test("test_non_saturating_discriminator_vanishes_when_it_wins"),
                    paper(_GOODFELLOW),
                ),
            ),
            Claim(
                "The Wasserstein critic's loss is unbounded without a Lipschitz constraint.",
                (test("test_wasserstein_generator_loss_is_unbounded_without_a_lipschitz_critic"),),
            ),
            Claim(
                "The kind matters less than its reputation on small problems: on the demo's "
                "digit GAN the hinge pair was not better than the non-saturating pair (3.98 "
                "vs 4.09) and had twice its spread over seeds (± 0.23).",
                (demo("gan", "hinge"), demo("gan", "non-saturating")),
            ),
        ),
        alternatives=(
            ("gradient_penalty", "Wasserstein critics"),
            ("r1_penalty", "non-saturating discriminators"),
        ),
    ),
    "gradient_penalty": Card(
        definition="WGAN-GP: weight x (||grad_x D(x_hat)|| - 1)^2 on random interpolates x_hat "
        "between real and fake samples.",
        application="Wasserstein GAN critics (WGAN-GP), and other GANs that need a soft "
        "Lipschitz constraint.",
        advantages=(
            Claim(
                "Zero for a critic whose slope is 1 and (|w| - 1)^2 otherwise: it enforces the "
                "1-Lipschitz constraint softly, without weight clipping.",
                (
                    test(
                        "test_gradient_penalty_is_zero_for_a_unit_slope_critic_and_trains_the_critic"
                    ),
                    paper(
                        "I. Gulrajani et al., Improved Training of Wasserstein GANs, NeurIPS "
                        "2017, arXiv:1704.00028"
                    ),
                ),
            ),
            Claim(
                "Its gradient reaches the critic's weights (a double backward).",
                (
                    test(
                        "test_gradient_penalty_is_zero_for_a_unit_slope_critic_and_trains_the_critic"
                    ),
                ),
            ),
        ),
        disadvantages=(
            Claim(
                "Costs a second backward through the critic every step it is applied.",
                (
                    test(
                        "test_gradient_penalty_is_zero_for_a_unit_slope_critic_and_trains_the_critic"
                    ),
                ),
            ),
            Claim(
                "Needs fake samples and interpolates; the target slope 1 is arbitrary for "
                "non-Wasserstein losses.",
                (test("test_r1_penalty_needs_only_real_data_and_is_half_gamma_grad_norm_squared"),),
            ),
        ),
        alternatives=(("r1_penalty", "non-saturating GANs (StyleGAN): cheaper, real data only"),),
    ),
    "r1_penalty": Card(
        definition="gamma / 2 x ||grad_x D(x)||^2 on real data: the discriminator is pushed to "
        "be flat on the data manifold.",
        application="Stabilising non-saturating GANs (StyleGAN 1-3), often applied lazily every "
        "few steps.",
        advantages=(
            Claim(
                "Needs only real samples, with a closed form for a linear discriminator "
                "(gamma/2 |w|^2).",
                (
                    test(
                        "test_r1_penalty_needs_only_real_data_and_is_half_gamma_grad_norm_squared"
                    ),
                    paper(
                        "L. Mescheder et al., Which Training Methods for GANs do actually "
                        "Converge?, ICML 2018, arXiv:1801.04406"
                    ),
                ),
            ),
            Claim(
                "Its gradient on the discriminator's weights is gamma w: a plain shrinkage.",
                (test("test_r1_penalty_needs_only_real_data_and_is_half_gamma_grad_norm_squared"),),
            ),
        ),
        disadvantages=(
            Claim(
                "A double backward per application; gamma must be tuned per dataset and "
                "resolution.",
                (test("test_r1_penalty_needs_only_real_data_and_is_half_gamma_grad_norm_squared"),),
            ),
            Claim(
                "It does not constrain the critic between data and fakes, as WGAN-GP does.",
                (
                    test(
                        "test_gradient_penalty_is_zero_for_a_unit_slope_critic_and_trains_the_critic"
                    ),
                ),
            ),
        ),
        alternatives=(("gradient_penalty", "Wasserstein critics"),),
    ),
    "gaussian_nll": Card(
        definition="The negative log-likelihood of a Gaussian with a predicted mean and "
        "log-variance: (y - mu)^2 / (2 sigma^2) + log(sigma^2) / 2 (+ a constant with full).",
        application="Heteroscedastic regression with uncertainty: depth, pose, trajectories, any "
        "regression that should say how sure it is (Kendall and Gal's aleatoric uncertainty).",
        advantages=(
            Claim(
                "Learns the noise level: its minimum in the log-variance is at the squared "
                "residual.",
                (
                    test("test_gaussian_nll_learns_the_residual_variance"),
                    paper(
                        "A. Kendall, Y. Gal, What Uncertainties Do We Need in Bayesian Deep "
                        "Learning for Computer Vision?, NeurIPS 2017, arXiv:1703.04977"
                    ),
                ),
            ),
            Claim(
                "Noisy targets with a large predicted variance pull the mean less (the mean's "
                "gradient is scaled by 1 / sigma^2).",
                (test("test_gaussian_nll_predicted_variance_shrinks_the_mean_gradient"),),
            ),
        ),
        disadvantages=(
            Claim(
                "The same scaling lets the model give up on hard targets by raising their "
                "variance, which slows the mean's fit (Seitzer et al.'s beta-NLL is a fix).",
                (
                    test("test_gaussian_nll_predicted_variance_shrinks_the_mean_gradient"),
                    paper(
                        "M. Seitzer et al., On the Pitfalls of Heteroscedastic Uncertainty "
                        "Estimation with Probabilistic Neural Networks, ICLR 2022, "
                        "arXiv:2203.09168"
                    ),
                ),
            ),
            Claim(
                "Assumes Gaussian noise: outliers still pull quadratically at fixed variance.",
                (test("test_mse_outlier_pull_grows_linearly"),),
            ),
        ),
        alternatives=(
            ("mse", "constant noise"),
            ("huber", "outliers rather than varying noise"),
        ),
    ),
    "ssim": Card(
        definition="1 - SSIM: the product of luminance, contrast and structure comparisons from "
        "local means, variances and covariance under a Gaussian window; 2D and 3D.",
        application="Image restoration, compression, reconstruction and unsupervised depth "
        "(photometric loss), usually combined with L1.",
        advantages=(
            Claim(
                "Sees structure that MSE does not: at equal MSE, noise costs over 10 times "
                "more than a brightness shift.",
                (test("test_ssim_sees_structure_mse_does_not"), paper(_SSIM)),
            ),
            Claim(
                "Local and normalised by local contrast, so it behaves alike in dark and "
                "bright regions.",
                (test("test_ssim_sees_structure_mse_does_not"),),
            ),
        ),
        disadvantages=(
            Claim(
                "A uniform bias costs almost nothing (a 5% brightness shift: loss < 0.01), so "
                "colours drift; pair it with L1 as Zhao et al. do.",
                (test("test_ssim_under_penalises_a_uniform_bias"), paper(_ZHAO)),
            ),
            Claim(
                "Single scale: the window size fixes which structures it sees.",
                (test("test_ms_ssim_weighs_coarse_structure_that_ssim_misses"),),
            ),
        ),
        alternatives=(
            ("ms_ssim", "structures at several scales"),
            ("charbonnier", "a per-pixel term to pair with it"),
            ("mae", "colour fidelity"),
        ),
    ),
    "ms_ssim": Card(
        definition="1 - MS-SSIM: contrast-structure terms at several scales (each halved by "
        "average pooling) and the full SSIM at the coarsest, combined with per-scale exponents.",
        application="Image restoration and compression judged at several viewing scales.",
        advantages=(
            Claim(
                "Spreads its score over scales, so a fine-scale blur is judged less harshly "
                "than by single-scale SSIM.",
                (
                    test("test_ms_ssim_weighs_coarse_structure_that_ssim_misses"),
                    paper(
                        "Z. Wang, E. P. Simoncelli, A. C. Bovik, Multiscale structural "
                        "similarity for image quality assessment, Asilomar 2003"
                    ),
                ),
            ),
            Claim(
                "Zero for identical images, like SSIM.",
                (test("test_ms_ssim_needs_images_large_enough_for_every_scale"),),
            ),
        ),
        disadvantages=(
            Claim(
                "Needs images large enough for every scale (with the default 5 scales and an "
                "11-pixel window, 32x32 is refused).",
                (test("test_ms_ssim_needs_images_large_enough_for_every_scale"),),
            ),
            Claim(
                "Shares SSIM's blindness to a uniform bias; pair it with L1.",
                (test("test_ssim_under_penalises_a_uniform_bias"), paper(_ZHAO)),
            ),
        ),
        alternatives=(
            ("ssim", "small images or patches"),
            ("mae", "to pair with, for colour fidelity"),
        ),
    ),
    "kl_divergence": Card(
        definition="KL(P || Q) = sum_c p_c (log p_c - log q_c) between categorical "
        "distributions given by logits (or probabilities); the mean divides by the number of "
        "distributions, as torch's batchmean.",
        application="Knowledge distillation (teacher to student), consistency regularisation, "
        "matching predicted to target distributions.",
        advantages=(
            Claim(
                "Its 'mean' is the true KL per distribution; torch's kl_div 'mean' divides by "
                "the number of elements too, C times too small: KL 'mean' over elements is "
                "wrong, batchmean is right.",
                (_KL_MEAN,),
            ),
            Claim(
                "Takes logits on both sides and computes log-softmax itself, so no "
                "probabilities underflow.",
                (_KL_MEAN,),
            ),
        ),
        disadvantages=(
            Claim(
                "Asymmetric: KL(P || Q) differs from KL(Q || P), so the argument order decides "
                "between mode-covering and mode-seeking behaviour.",
                (test("test_kl_divergence_is_asymmetric"), plot("kl")),
            ),
            Claim(
                "In distillation it is usually applied to temperature-softened logits and "
                "scaled by T^2, which the loss does not do for you.",
                (
                    _KL_MEAN,
                    paper(
                        "G. Hinton, O. Vinyals, J. Dean, Distilling the Knowledge "
                        "in a Neural Network, 2015, arXiv:1503.02531"
                    ),
                ),
            ),
        ),
        alternatives=(
            (
                "cross_entropy",
                "hard labels, or soft labels when the teacher's entropy is a constant",
            ),
            ("gaussian_kl", "diagonal Gaussians instead of categoricals"),
        ),
    ),
    "gaussian_kl": Card(
        definition="KL between diagonal Gaussians in closed form, by default to the prior "
        "N(0, I): 1/2 sum (sigma^2 + mu^2 - 1 - log sigma^2), summed over the latent dimension.",
        application="The regulariser of VAEs and other latent-variable models; information "
        "bottlenecks.",
        advantages=(
            Claim(
                "Closed form, equal to the Monte Carlo estimate (200 000 samples within 2%), "
                "with no sampling noise.",
                (
                    test("test_gaussian_kl_matches_monte_carlo_and_is_zero_at_the_prior"),
                    plot("kl"),
                    paper(_KINGMA),
                ),
            ),
            Claim(
                "One value per sample (summed over the latent dimension), so beta keeps its "
                "meaning whatever the latent size.",
                (test("test_vae_is_reconstruction_plus_beta_kl"),),
            ),
        ),
        disadvantages=(
            Claim(
                "Alone it is minimised by ignoring the input (mu = 0, log-variance = 0 gives "
                "0): a strong decoder can make the posterior collapse.",
                (test("test_gaussian_kl_matches_monte_carlo_and_is_zero_at_the_prior"),),
            ),
            Claim(
                "Only diagonal Gaussians; other posteriors need a sampled estimate.",
                (test("test_gaussian_kl_matches_monte_carlo_and_is_zero_at_the_prior"),),
            ),
        ),
        alternatives=(
            ("kl_divergence", "categorical distributions"),
            ("vae", "the whole negative ELBO in one call"),
        ),
    ),
    "vae": Card(
        definition="The (beta-)VAE's negative ELBO: reconstruction (BCE of logits or MSE) "
        "summed per sample plus beta times the Gaussian KL to N(0, I), averaged over the batch.",
        application="Training variational autoencoders: generative models, representation and "
        "disentanglement (beta > 1), anomaly detection by reconstruction.",
        advantages=(
            Claim(
                "Exactly reconstruction + beta x KL, with both summed per sample so their "
                "balance is the one the ELBO defines.",
                (
                    test("test_vae_is_reconstruction_plus_beta_kl"),
                    demo("vae", "VAE β=1"),
                    paper(_KINGMA),
                ),
            ),
            Claim(
                "beta trades likelihood for a more regular latent space (Higgins et al.); in "
                "the demo beta 4 cost 2.8 nats of ELBO against beta 1 (27.2 vs 24.4), and "
                "beta 0 (a plain autoencoder) gave a far worse ELBO (99.4).",
                (
                    test("test_vae_is_reconstruction_plus_beta_kl"),
                    demo("vae", "β-VAE β=4"),
                    demo("vae", "autoencoder β=0"),
                    paper("I. Higgins et al., beta-VAE, ICLR 2017"),
                ),
            ),
        ),
        disadvantages=(
            Claim(
                "BCE reconstruction on grey targets has a floor (log 2 per pixel at 0.5), so "
                "the loss value is not comparable across datasets.",
                (test("test_vae_bce_reconstruction_has_a_floor_on_grey_targets"),),
            ),
            Claim(
                "Posterior collapse: the KL term rewards ignoring the input.",
                (test("test_gaussian_kl_matches_monte_carlo_and_is_zero_at_the_prior"),),
            ),
        ),
        alternatives=(
            ("gaussian_kl", "to build a custom ELBO"),
            ("mse", "a deterministic autoencoder"),
        ),
    ),
    "total_variation": Card(
        definition="Total variation of an image or volume: the sum over channels and pixels of "
        "the absolute forward differences along each axis (anisotropic, default) or of their "
        "Euclidean norm (isotropic); one value per sample, needing no target.",
        application="A smoothness prior: denoising and inpainting, style transfer and feature "
        "inversion (to suppress high-frequency artefacts), regularising predicted flow or "
        "depth fields.",
        advantages=(
            Claim(
                "Edge-preserving: a sharp step costs its height, the same as a smooth ramp of the "
                "same rise, whereas a squared-gradient penalty favours blurring it into the ramp.",
                (
                    _TV_EDGE,
                    paper(_ROF),
                ),
            ),
            Claim(
                "Needs no target: added to a data term it removes noise (50 gradient steps on a "
                "noisy square cut the error by more than 40% in the test).",
                (test("test_total_variation_needs_no_target_and_lowers_with_denoising", _I19C),),
            ),
        ),
        disadvantages=(
            Claim(
                "The anisotropic default favours axis-aligned edges (a staircase diagonal edge "
                "costs 1.75 times an axis-aligned one of the same length); the isotropic form "
                "is rotation-invariant up to the grid.",
                (test("test_anisotropic_total_variation_charges_diagonals_more", _I19C),),
            ),
            Claim(
                "A sum, not a mean: doubling the resolution doubles it, so its weight must be "
                "retuned with the image size; it also turns smooth gradients into flat patches "
                "(staircasing).",
                (
                    test("test_total_variation_is_a_sum_that_grows_with_resolution", _I19C),
                    paper(_ROF),
                ),
            ),
        ),
        alternatives=(
            ("ssim", "to compare with a reference image rather than regularise one"),
            ("mae", "a pixel-wise L1 to a reference instead of a prior on the differences"),
        ),
    ),
    "js_divergence": Card(
        definition="Jensen-Shannon divergence between categorical distributions: the mean KL "
        "of each to their mixture M = (P + Q) / 2; symmetric and bounded by log 2; the mean is "
        "over distributions.",
        application="A symmetric consistency loss between two predicted distributions "
        "(augmented views, co-training, AugMix's consistency term), label-noise-robust "
        "distillation, comparing heatmaps.",
        advantages=(
            Claim(
                "Symmetric and bounded in [0, log 2], so neither argument order nor a single "
                "overconfident prediction can make it explode.",
                (test("test_js_divergence_is_symmetric_and_bounded_by_log_2", _I19C),),
            ),
            Claim(
                "Finite where KL is infinite: a category that one distribution gives 0 and the "
                "other does not is still charged a finite amount.",
                (test("test_js_divergence_is_finite_where_kl_is_infinite", _I19C),),
            ),
        ),
        disadvantages=(
            Claim(
                "Saturates at log 2 on disjoint supports, where its gradient vanishes: the "
                "reason the original GAN objective (a JS divergence) stalls.",
                (
                    test("test_js_divergence_saturates_on_disjoint_supports", _I19C),
                    paper("M. Arjovsky, S. Chintala, L. Bottou, Wasserstein GAN, ICML 2017, "
                          "arXiv:1701.07875"),
                ),
            ),
            Claim(
                "Twice the work of a KL (two logs and a mixture per category), and its optimum "
                "is no longer the maximum-likelihood one of cross-entropy to a fixed target.",
                (test("test_js_divergence_is_symmetric_and_bounded_by_log_2", _I19C),),
            ),
        ),
        alternatives=(
            ("kl_divergence", "when one side is a fixed target (distillation from a teacher)"),
            ("cross_entropy", "hard or fixed soft labels"),
        ),
    ),
    "feature_matching": Card(
        definition="The L1 (or L2) distance between a discriminator's intermediate features on "
        "real and on generated images, averaged within each layer and summed over the layers "
        "(and over the discriminators of a multi-scale ensemble); the real features are targets.",
        application="An extra generator term in conditional and image-to-image GANs "
        "(pix2pixHD, SPADE) and in GAN vocoders (MelGAN, HiFi-GAN), next to the adversarial loss.",
        advantages=(
            Claim(
                "A dense target that keeps its gradient where the discriminator is confident: "
                "with the fakes rejected at logit -60, the minimax gradient is below 1e-6 while "
                "feature matching's stays.",
                (
                    test("test_feature_matching_keeps_a_gradient_where_minimax_saturates", _I19C),
                    paper("T. Salimans et al., Improved Techniques for Training GANs, NeurIPS "
                          "2016, arXiv:1606.03498"),
                ),
            ),
            Claim(
                "One call over the nested layer lists of several discriminators; only the "
                "generator is trained (the real features are detached by default).",
                (
                    test("test_feature_matching_flattens_scales_and_sums_layers", _I19C),
                    test("test_feature_matching_trains_only_the_generator", _I19C),
                ),
            ),
        ),
        disadvantages=(
            Claim(
                "Blind to whatever the discriminator ignores: two different fakes with the same "
                "features score the same, so it supplements the adversarial loss, not replaces it.",
                (test("test_feature_matching_is_blind_to_what_the_discriminator_ignores", _I19C),),
            ),
            Claim(
                "Layers are summed, so its scale follows the discriminator's depth and number of "
                "scales: the weight (pix2pixHD's 10) is retuned when the discriminator changes.",
                (test("test_feature_matching_flattens_scales_and_sums_layers", _I19C),),
            ),
        ),
        alternatives=(
            ("generator", "the adversarial term it is added to"),
            ("mae", "a pixel-wise L1 to a paired target"),
        ),
    ),
    "perceptual": Card(
        definition="The distance (L1 or squared) between the features that a user-supplied "
        "network (VGG, an encoder) extracts from the prediction and from the target, averaged "
        "within each layer and summed over layers with weights.",
        application="Super-resolution, restoration, style transfer and image translation, "
        "added to a pixel loss (and often an adversarial one) to reward sharp, texture-faithful "
        "outputs.",
        advantages=(
            Claim(
                "Compares what the network sees rather than pixels: with an extractor that pools, "
                "a one-pixel shift of a fine texture costs much less than in pixel space, where "
                "it costs as much as a wrong image (Johnson et al.: sharper super-resolution than "
                "a per-pixel loss).",
                (test("test_perceptual_forgives_a_shift_that_pixel_l1_charges_in_full", _EMB19),
                 paper(_JOHNSON)),
            ),
            Claim(
                "Any extractor, nothing downloaded: the Module freezes an nn.Module extractor "
                "and keeps it in eval mode, so only the images get gradients.",
                (test("test_perceptual_module_trains_the_images_not_the_extractor", _EMB19),),
            ),
        ),
        disadvantages=(
            Claim(
                "Costs a forward pass of the extractor on both images at every call (and a "
                "backward through it for the prediction).",
                (test("test_perceptual_runs_the_extractor_on_both_images", _EMB19),),
            ),
            Claim(
                "Blind to whatever the extractor ignores: a change that leaves the features "
                "equal (here a constant offset under a zero-sum filter) costs nothing, so it is "
                "paired with a pixel loss.",
                (test("test_perceptual_is_blind_to_what_the_extractor_ignores", _EMB19),
                 paper(_JOHNSON)),
            ),
        ),
        alternatives=(
            ("mae", "a pixel-wise L1, cheap and exact on colours"),
            ("ssim", "local structure without a network"),
            ("feature_matching", "the discriminator's own features in a GAN"),
        ),
    ),
}
