"""Cards of the regression losses: MSE, MAE, Huber, Smooth L1, log-cosh, Charbonnier, Barron."""

from __future__ import annotations

from ._card import Card, Claim, demo, paper, plot, test

__all__ = ["CARDS"]

_BARRON = "J. T. Barron, A General and Adaptive Robust Loss Function, CVPR 2019"

CARDS: dict[str, Card] = {
    "mse": Card(
        definition="The mean of the squared residuals between prediction and target. Minimising "
        "it fits the conditional mean; it is the negative log-likelihood of a Gaussian with fixed "
        "variance, up to scale and a constant.",
        application="Dense regression with clean targets: depth, flow or keypoint heatmaps, image "
        "reconstruction when blur is acceptable, the reconstruction term of a Gaussian VAE.",
        advantages=(
            Claim(
                "Its minimiser is the mean of the targets, so it is the right loss when the "
                "noise is Gaussian and the mean is what you want.",
                (test("test_mse_fits_the_mean_so_one_outlier_moves_it"),),
            ),
            Claim(
                "Smooth and convex, with a gradient that shrinks as the residual shrinks, so "
                "steps slow down near the optimum.",
                (test("test_mse_outlier_pull_grows_linearly"), plot("regression")),
            ),
        ),
        disadvantages=(
            Claim(
                "An outlier's pull grows linearly with its residual: one bad label can dominate "
                "a batch.",
                (test("test_mse_outlier_pull_grows_linearly"), plot("regression")),
            ),
            Claim(
                "One outlier moves the fitted value: on [0, 1, 2, 3, 4, 100] MSE's best constant "
                "is 18.3, MAE's is the median.",
                (
                    test("test_mse_fits_the_mean_so_one_outlier_moves_it"),
                    test("test_mae_fits_the_median_so_one_outlier_does_not_move_it"),
                ),
            ),
            Claim(
                "For images it averages over plausible outputs, which shows as blur; perceptual "
                "and structural losses are preferred for visual quality.",
                (
                    test("test_ssim_sees_structure_mse_does_not"),
                    paper(
                        "H. Zhao et al., Loss Functions for Image Restoration with Neural "
                        "Networks, IEEE TCI 2017, arXiv:1511.08861"
                    ),
                ),
            ),
        ),
        alternatives=(
            ("huber", "targets with occasional outliers: quadratic near zero, bounded gradient"),
            ("mae", "heavy-tailed noise, or when the median is the right answer"),
            ("gaussian_nll", "when the noise level varies across inputs and can be predicted"),
            ("ssim", "image restoration judged by structure rather than per-pixel error"),
        ),
    ),
    "mae": Card(
        definition="The mean of the absolute residuals (L1). Minimising it fits the conditional "
        "median; it is the negative log-likelihood of a Laplace distribution.",
        application="Regression with outliers or heavy-tailed noise; image restoration and "
        "super-resolution, where L1 gives sharper results than L2.",
        advantages=(
            Claim(
                "Robust: an outlier pulls with the same force as any other point, so it does not "
                "move the fit (the median of [0, 1, 2, 3, 4, 100] stays in [2, 3]).",
                (
                    test("test_mae_fits_the_median_so_one_outlier_does_not_move_it"),
                    plot("regression"),
                ),
            ),
            Claim(
                "Its gradient has constant size, bounded by 1 at every residual.",
                (test("test_mae_gradient_does_not_shrink_near_the_target"),),
            ),
        ),
        disadvantages=(
            Claim(
                "The gradient does not shrink near the target (size 1 at a residual of 0.001), "
                "so a fixed learning rate oscillates around the optimum.",
                (test("test_mae_gradient_does_not_shrink_near_the_target"), plot("regression")),
            ),
            Claim(
                "Not differentiable at zero; the sign jump there is what Charbonnier and "
                "log-cosh smooth away.",
                (test("test_charbonnier_is_smooth_at_zero_and_bounded"),),
            ),
        ),
        alternatives=(
            ("huber", "robustness far away but a gradient that vanishes at the target"),
            ("charbonnier", "an L1 that is smooth at zero, for image restoration"),
            ("smooth_l1", "box regression in the Fast R-CNN convention"),
        ),
    ),
    "huber": Card(
        definition="Quadratic for residuals below delta and linear beyond: half the squared "
        "residual inside, delta times (|r| - delta/2) outside. MSE near the target, MAE far away.",
        application="Regression with a few outliers: depth and pose estimation, value targets in "
        "reinforcement learning, box offsets (as Smooth L1).",
        advantages=(
            Claim(
                "An outlier's gradient is bounded by delta, whatever its residual.",
                (
                    test("test_huber_outlier_gradient_is_bounded_by_delta"),
                    plot("regression"),
                    paper("P. J. Huber, Robust Estimation of a Location Parameter, 1964"),
                ),
            ),
            Claim(
                "Inside delta its gradient equals MSE's, shrinking to zero at the target, so it "
                "converges as smoothly as MSE.",
                (test("test_huber_outlier_gradient_is_bounded_by_delta"),),
            ),
        ),
        disadvantages=(
            Claim(
                "delta is in the target's units: rescale the targets and the same delta puts "
                "the residuals in the other regime, so it must be tuned per dataset.",
                (test("test_huber_needs_delta_in_target_units"),),
            ),
            Claim(
                "The second derivative jumps at delta (quadratic to linear); log-cosh and "
                "Charbonnier are smooth everywhere.",
                (test("test_log_cosh_gradient_is_tanh_smooth_and_bounded"), plot("regression")),
            ),
        ),
        alternatives=(
            ("smooth_l1", "the same shape with slope 1 beyond beta (detection code bases)"),
            ("log_cosh", "a Huber-like loss with no parameter and no kink"),
            ("robust", "when the amount of robustness should itself be chosen or learnt"),
        ),
    ),
    "smooth_l1": Card(
        definition="Huber's loss divided by beta: 0.5 r^2 / beta below beta, |r| - beta/2 above. "
        "Its slope beyond beta is 1 whatever beta is.",
        application="Bounding-box offset regression in two-stage and one-stage detectors "
        "(Fast/Faster R-CNN, SSD, RetinaNet); keypoint offsets.",
        advantages=(
            Claim(
                "Outlier gradients are bounded by 1 (slope 1 beyond beta), like MAE, while "
                "small residuals get MSE's shrinking gradient.",
                (test("test_smooth_l1_is_huber_over_beta_with_slope_one"), plot("regression")),
            ),
            Claim(
                "Competitive when box sizes vary little: on the demo's boxes (sides 4 to 24 "
                "pixels) its mean IoU (0.721) was not told apart from the IoU family's (0.720 "
                "to 0.729) over 5 seeds; in quick mode it was the lowest (0.626).",
                (demo("boxes", "Smooth L1 (pixels)"), demo("boxes", "CIoU")),
            ),
            Claim(
                "It is exactly Huber / beta, so results transfer between the two conventions.",
                (test("test_smooth_l1_is_huber_over_beta_with_slope_one"),),
            ),
        ),
        disadvantages=(
            Claim(
                "On box coordinates it is not scale invariant: the same relative error costs "
                "ten times more on a box ten times bigger, while IoU losses are unchanged.",
                (
                    test("test_smooth_l1_on_coordinates_is_not_scale_invariant"),
                    test("test_iou_losses_are_scale_invariant"),
                ),
            ),
            Claim(
                "Coordinates are penalised independently, not by the overlap the detector is "
                "scored on.",
                (
                    test("test_smooth_l1_on_coordinates_is_not_scale_invariant"),
                    paper(
                        "H. Rezatofighi et al., Generalized Intersection over Union, CVPR 2019, "
                        "arXiv:1902.09630"
                    ),
                ),
            ),
        ),
        alternatives=(
            ("giou", "box regression judged by IoU: scale invariant, works for disjoint boxes"),
            ("ciou", "box regression where centre and aspect ratio should converge fast"),
            ("huber", "general regression, where delta keeps the MSE scale inside"),
        ),
    ),
    "log_cosh": Card(
        definition="The mean of log(cosh(r)): about r^2/2 for small residuals and |r| - log 2 for "
        "large ones. Its gradient is tanh(r).",
        application="Regression that wants Huber's robustness without choosing delta and with a "
        "twice-differentiable loss (second-order optimisers, smooth training curves).",
        advantages=(
            Claim(
                "Its gradient is tanh(r): bounded by 1 and smooth everywhere, with no parameter "
                "to tune.",
                (test("test_log_cosh_gradient_is_tanh_smooth_and_bounded"), plot("regression")),
            ),
            Claim(
                "Behaves like MSE (r^2/2) for small residuals.",
                (test("test_log_cosh_behaves_like_mse_for_small_residuals"),),
            ),
        ),
        disadvantages=(
            Claim(
                "The switch from quadratic to linear happens at a residual of about 1 in the "
                "target's units; rescale targets to move it, as there is no delta.",
                (
                    test("test_log_cosh_behaves_like_mse_for_small_residuals"),
                    test("test_log_cosh_gradient_is_tanh_smooth_and_bounded"),
                ),
            ),
            Claim(
                "Large residuals still pull with force close to 1: less robust than redescending "
                "losses that ignore gross outliers.",
                (test("test_robust_alpha_spans_l2_and_redescending_losses"), plot("robust")),
            ),
        ),
        alternatives=(
            ("huber", "when the threshold between the regimes must be set explicitly"),
            ("robust", "gross outliers that should be ignored (alpha < 1)"),
        ),
    ),
    "charbonnier": Card(
        definition="sqrt(r^2 + eps^2) - eps: a differentiable L1 (pseudo-Huber with a small "
        "eps). Quadratic for |r| much below eps, L1 above.",
        application="Image restoration: super-resolution, deblurring, denoising, optical flow "
        "(LapSRN, EDVR and many successors).",
        advantages=(
            Claim(
                "Smooth at zero (gradient 0 there, no sign jump) with a gradient bounded by 1.",
                (test("test_charbonnier_is_smooth_at_zero_and_bounded"), plot("regression")),
            ),
            Claim(
                "Keeps L1's robustness for residuals above eps.",
                (
                    test("test_charbonnier_eps_sets_where_l1_behaviour_starts"),
                    paper(
                        "W.-S. Lai et al., Deep Laplacian Pyramid Networks, CVPR 2017, "
                        "arXiv:1704.03915"
                    ),
                ),
            ),
        ),
        disadvantages=(
            Claim(
                "eps sets where the L1 behaviour starts and must match the data's scale: at "
                "eps 0.1 a residual of 0.01 gets a tenth of the L1 gradient.",
                (test("test_charbonnier_eps_sets_where_l1_behaviour_starts"),),
            ),
            Claim(
                "Like MAE, its gradient does not shrink for residuals above eps.",
                (test("test_charbonnier_eps_sets_where_l1_behaviour_starts"),),
            ),
        ),
        alternatives=(
            ("mae", "when exact L1 (and its median) is wanted"),
            ("robust", "to tune or learn the shape beyond L1 (alpha)"),
            ("ssim", "when the structure of the image matters more than per-pixel error"),
        ),
    ),
    "robust": Card(
        definition="Barron's general loss: one shape parameter alpha moves from L2 (alpha = 2) "
        "through Charbonnier (1), Cauchy (0) and Geman-McClure (-2) to Welsch (-inf); scale c "
        "sets the residual at which it bends. Both can be learnt.",
        application="Regression with outliers of unknown amount: depth, flow, registration, "
        "unsupervised image reconstruction; as a drop-in family to search over.",
        advantages=(
            Claim(
                "One parameter spans MSE (alpha 2) to redescending losses whose gradient falls "
                "for large residuals, so gross outliers are ignored.",
                (
                    test("test_robust_alpha_spans_l2_and_redescending_losses"),
                    plot("robust"),
                    paper(_BARRON),
                ),
            ),
            Claim(
                "alpha and scale can be tensors and learnt with the model.",
                (test("test_robust_alpha_spans_l2_and_redescending_losses"),),
            ),
        ),
        disadvantages=(
            Claim(
                "For alpha < 1 the loss is non-convex (negative curvature far out): several "
                "minima, dependence on initialisation.",
                (test("test_robust_negative_alpha_is_non_convex"), plot("robust")),
            ),
            Claim(
                "A redescending shape gives little gradient to large residuals, also early in "
                "training when every residual is large: start near alpha 1 to 2, then lower it.",
                (test("test_robust_alpha_spans_l2_and_redescending_losses"), paper(_BARRON)),
            ),
        ),
        alternatives=(
            ("huber", "a convex loss with one threshold is enough"),
            ("charbonnier", "the alpha = 1 member, for image restoration"),
            ("mse", "clean Gaussian noise"),
        ),
    ),
}
