"""Multi-task weighting: the total of several task losses with fixed or adaptive task weights.

:class:`MultiTaskLoss` (re-exported by :mod:`visionloss.compose` and the package) holds the four
weightings of :data:`WEIGHTINGS`; :mod:`visionloss.compose` builds on it, never the reverse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from ._core import check_choice, check_loss_weight, check_number, compute_dtype, describe

__all__ = ["WEIGHTINGS", "MultiTaskLoss"]

WEIGHTINGS: tuple[str, ...] = ("fixed", "uncertainty", "dwa", "gradnorm")


class MultiTaskLoss(nn.Module):
    r"""The total loss of several tasks, with fixed or adaptive task weights.

    Called with a dict ``{task: loss}`` of scalar losses holding exactly the tasks given at
    construction; returns the total. The weightings (:math:`K` tasks, losses :math:`L_i`):

    ``"fixed"``: :math:`\sum_i w_i L_i` with ``weights`` (default 1 for every task).

    ``"uncertainty"`` (Kendall, Gal, Cipolla 2018, homoscedastic task uncertainty):

    .. math::
        L = \sum_i \tfrac12 e^{-s_i} L_i + \tfrac12 s_i

    with :math:`s_i = \log \sigma_i^2` the learnable log-variances (the parameter
    :attr:`log_vars`, initialised to 0). For a fixed :math:`L_i` the optimum is
    :math:`s_i = \log L_i` (the derivative :math:`-\tfrac12 e^{-s_i} L_i + \tfrac12` vanishes
    there): with a mean squared error on targets of noise :math:`\sigma_i`, :math:`s_i` learns
    :math:`\log \sigma_i^2`. Add the module's parameters to the optimizer.

    ``"dwa"`` (dynamic weight average, Liu, Johns, Davison 2019):

    .. math::
        w_i(t) = \frac{K \exp(r_i(t-1)/T)}{\sum_j \exp(r_j(t-1)/T)}, \qquad
        r_i(t-1) = \frac{\bar L_i(t-1)}{\bar L_i(t-2)}

    where :math:`\bar L_i(t)` is the average of task :math:`i`'s loss over the calls of epoch
    :math:`t` and :math:`T` is ``temperature``. Call :meth:`step` at the end of every epoch: it
    records the epoch averages of the losses seen since the previous :meth:`step` (in training
    mode only: calls in ``eval()`` mode, e.g. validation, are not recorded) and updates the
    weights. The weights are 1 during the first two epochs. A task whose previous average was 0
    has its ratio computed against the smallest positive float (no division by zero).

    ``"gradnorm"`` (Chen, Badrinarayanan, Lee, Rabinovich 2018): learnable task weights
    :math:`w_i` (the parameter :attr:`task_weights`, initialised to 1). The forward returns
    :math:`\sum_i w_i L_i` with the weights held constant for the network, and attaches to the
    weights the gradient of the GradNorm loss

    .. math::
        L_\text{grad} = \sum_i \left| G_i - \bar G\, r_i^{\alpha} \right|, \quad
        G_i = \lVert \nabla_W\, w_i L_i \rVert_2, \quad
        r_i = \frac{L_i / L_i(0)}{\operatorname{mean}_j(L_j / L_j(0))}

    where :math:`W` are ``shared_parameters`` (usually the last shared layer), :math:`\bar G`
    the mean of the :math:`G_i`, the target :math:`\bar G r_i^\alpha` is a constant (no gradient),
    and :math:`L_i(0)` the losses of the first call in training mode. How: the forward computes
    :math:`\lVert\nabla_W L_i\rVert` with one ``torch.autograd.grad`` per task (graph retained)
    and returns ``sum(w.detach() * L) + (L_grad - L_grad.detach())``: the value is the weighted
    sum, the network's gradient is that of the weighted sum with constant weights, and the
    weights' gradient is :math:`\partial L_\text{grad} / \partial w_i`, so that a single
    ``backward()`` and a single optimizer over the model's and this module's parameters do one
    GradNorm update. After each optimizer update, the weights are renormalised to sum to
    :math:`K` (lazily, at the next forward, when they have changed; a weight pushed below
    ``1e-6`` is clamped there first so that none turns negative). The last :math:`L_\text{grad}`
    is kept in :attr:`gradnorm_loss` for logging. In ``eval()`` mode or without autograd the
    forward returns :math:`\sum_i w_i L_i` only. The extra cost is one backward pass per task
    through the part of the graph between the losses and ``shared_parameters``.

    Example of a GradNorm training loop::

        mtl = MultiTaskLoss(["seg", "depth"], weighting="gradnorm",
                            shared_parameters=model.encoder[-1].parameters())
        optimizer = torch.optim.Adam([*model.parameters(), *mtl.parameters()], lr=1e-3)
        for x, seg, depth in loader:
            out = model(x)
            total = mtl({"seg": seg_loss(out.seg, seg), "depth": depth_loss(out.depth, depth)})
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            log(mtl.weights)

    Args:
        tasks: the task names, a sequence of distinct non-empty strings.
        weighting: ``"fixed"`` (default), ``"uncertainty"``, ``"dwa"`` or ``"gradnorm"``.
        weights: with ``"fixed"`` only: ``{task: weight >= 0}``; tasks left out get 1.
        shared_parameters: with ``"gradnorm"`` only, and required there: the parameters
            :math:`W` whose gradient norms are balanced (an iterable of tensors that require
            grad; kept as references, not registered as parameters of this module).
        temperature: :math:`T > 0` of ``"dwa"``. Default 2.0 (the paper's).
        alpha: :math:`\alpha \ge 0` of ``"gradnorm"``, the strength of the pull towards equal
            training rates. Default 1.5 (the paper's value for NYUv2).

    Attributes:
        weights: the current weight of each task as ``{task: float}`` (reading it synchronises
            with the device; it is for logging): the factor of each :math:`L_i` in the total,
            i.e. :math:`\tfrac12 e^{-s_i}` for ``"uncertainty"``.

    References:
        A. Kendall, Y. Gal, R. Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses
        for Scene Geometry and Semantics", CVPR 2018, arXiv:1705.07115.
        S. Liu, E. Johns, A. J. Davison, "End-to-End Multi-Task Learning with Attention",
        CVPR 2019, arXiv:1803.10704.
        Z. Chen, V. Badrinarayanan, C.-Y. Lee, A. Rabinovich, "GradNorm: Gradient Normalization
        for Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018, arXiv:1711.02257.

    Example:
        >>> import torch, visionloss
        >>> mtl = visionloss.MultiTaskLoss(["seg", "depth"], weights={"depth": 0.5})
        >>> mtl({"seg": torch.tensor(2.0), "depth": torch.tensor(4.0)})
        tensor(4.)
        >>> mtl = visionloss.MultiTaskLoss(["seg", "depth"], weighting="uncertainty")
        >>> mtl({"seg": torch.tensor(2.0), "depth": torch.tensor(4.0)})  # s = 0: (2 + 4) / 2
        tensor(3., grad_fn=<SumBackward0>)
    """

    # buffers, registered in __init__ according to the weighting
    dwa_weights: Tensor
    loss_history: Tensor
    num_epochs: Tensor
    _epoch_sum: Tensor
    _epoch_count: Tensor
    initial_losses: Tensor
    _has_initial: Tensor

    def __init__(
        self,
        tasks: Sequence[str],
        *,
        weighting: str = "fixed",
        weights: Mapping[str, float] | None = None,
        shared_parameters: Iterable[Tensor] | None = None,
        temperature: float = 2.0,
        alpha: float = 1.5,
    ) -> None:
        super().__init__()
        if isinstance(tasks, str | bytes) or not isinstance(tasks, Sequence):
            raise TypeError(f"tasks: expected a sequence of task names, got {describe(tasks)}")
        tasks = list(tasks)
        if not tasks:
            raise ValueError("tasks: expected at least one task name, got an empty sequence")
        for task in tasks:
            if not isinstance(task, str) or not task:
                raise TypeError(f"tasks: expected non-empty strings, got {describe(task)}")
        duplicates = sorted({t for t in tasks if tasks.count(t) > 1})
        if duplicates:
            raise ValueError(f"tasks: expected distinct names, got {duplicates} more than once")
        check_choice(weighting, "weighting", WEIGHTINGS)
        self.temperature = check_number(temperature, "temperature", low=0.0, low_inclusive=False)
        self.alpha = check_number(alpha, "alpha", low=0.0)
        self.tasks: tuple[str, ...] = tuple(tasks)
        self.weighting = weighting
        K = len(tasks)

        if weights is not None and weighting != "fixed":
            raise ValueError(
                f"weights: expected None with weighting={weighting!r} (its weights are "
                "computed), got a mapping; fixed weights need weighting='fixed'"
            )
        if shared_parameters is not None and weighting != "gradnorm":
            raise ValueError(
                f"shared_parameters: expected None with weighting={weighting!r}; they are used "
                "by weighting='gradnorm' only"
            )

        if weighting == "fixed":
            fixed = [1.0] * K
            if weights is not None:
                if not isinstance(weights, Mapping):
                    raise TypeError(
                        f"weights: expected a mapping {{task: weight}}, got {describe(weights)}"
                    )
                extra = sorted(str(t) for t in weights if t not in self.tasks)
                if extra:
                    raise ValueError(
                        f"weights: expected keys among the tasks {list(self.tasks)}, got the "
                        f"unknown tasks {extra}"
                    )
                for i, task in enumerate(self.tasks):
                    if task in weights:
                        fixed[i] = check_loss_weight(weights[task], f"weights[{task!r}]")
            # Python floats, not a float32 buffer: a float64 loss is weighted exactly
            self.fixed_weights: tuple[float, ...] = tuple(fixed)
        elif weighting == "uncertainty":
            # s_i = log sigma_i^2, initialised to 0 (sigma = 1) as in the paper
            self.log_vars = nn.Parameter(torch.zeros(K))
        elif weighting == "dwa":
            self.register_buffer("dwa_weights", torch.ones(K))
            # rows: the average losses of epochs t-2 and t-1
            self.register_buffer("loss_history", torch.zeros(2, K))
            self.register_buffer("num_epochs", torch.zeros((), dtype=torch.long))
            self.register_buffer("_epoch_sum", torch.zeros(K))
            self.register_buffer("_epoch_count", torch.zeros(()))
        else:  # gradnorm
            if shared_parameters is None:
                raise ValueError(
                    "shared_parameters: expected the parameters of the last shared layer with "
                    "weighting='gradnorm' (e.g. model.backbone[-1].parameters()), got None"
                )
            if isinstance(shared_parameters, Tensor):
                shared = [shared_parameters]
            else:
                shared = list(shared_parameters)
            if not shared:
                raise ValueError("shared_parameters: expected at least one tensor, got none")
            for p in shared:
                if not isinstance(p, Tensor) or not p.requires_grad:
                    raise TypeError(
                        f"shared_parameters: expected tensors that require grad, got {describe(p)}"
                    )
            # a plain list: references, so that they are not parameters of this module too
            self._shared: list[Tensor] = shared
            self.task_weights = nn.Parameter(torch.ones(K))
            self.register_buffer("initial_losses", torch.ones(K))
            self.register_buffer("_has_initial", torch.zeros((), dtype=torch.bool))
            self.gradnorm_loss: Tensor | None = None
            self._normalised_version = -1

    # --- public ---------------------------------------------------------------------------------

    @property
    def weights(self) -> dict[str, float]:
        """The current factor of each task's loss in the total, as floats (for logging)."""
        with torch.no_grad():
            values = self._current_weights().detach().cpu().tolist()
        return dict(zip(self.tasks, values, strict=True))

    def step(self) -> None:
        """End an epoch. With ``"dwa"``, record the epoch average of each task's loss and update
        the weights; other weightings: nothing to do (so a training loop can always call it).

        Raises ``ValueError`` with ``"dwa"`` when no loss was recorded since the last step.
        """
        if self.weighting != "dwa":
            return
        # once per epoch: reading the count on the host is fine here
        count = float(self._epoch_count)
        if count == 0:
            raise ValueError(
                "step: expected task losses recorded since the last step, got none (losses are "
                "recorded by calls in training mode)"
            )
        average = self._epoch_sum / count
        self.loss_history = torch.stack([self.loss_history[1], average])
        self.num_epochs = self.num_epochs + 1
        self._epoch_sum = torch.zeros_like(self._epoch_sum)
        self._epoch_count = torch.zeros_like(self._epoch_count)
        if int(self.num_epochs) >= 2:
            previous, before = self.loss_history[1], self.loss_history[0]
            tiny = torch.finfo(before.dtype).tiny
            ratio = previous / before.clamp_min(tiny)
            # K softmax(r / T): the weights sum to K
            new = len(self.tasks) * torch.softmax(ratio / self.temperature, dim=0)
            # a new tensor, not an in-place update: a graph built before step() stays valid
            self.dwa_weights = new

    def forward(self, losses: Mapping[str, Tensor]) -> Tensor:
        """The total loss of ``{task: scalar loss}`` (exactly the tasks of the constructor)."""
        L = self._stack(losses)
        if self.weighting == "fixed":
            parts = [
                w * losses[t].to(L.dtype)
                for w, t in zip(self.fixed_weights, self.tasks, strict=True)
            ]
            return torch.stack(parts).sum()
        if self.weighting == "uncertainty":
            s = self.log_vars.to(L.dtype)
            return (0.5 * torch.exp(-s) * L + 0.5 * s).sum()
        if self.weighting == "dwa":
            if self.training:
                with torch.no_grad():
                    self._epoch_sum.add_(L.detach().to(self._epoch_sum))
                    self._epoch_count.add_(1)
            return (self.dwa_weights.to(device=L.device, dtype=L.dtype) * L).sum()
        return self._gradnorm(L, [losses[t] for t in self.tasks])

    def extra_repr(self) -> str:
        extra = ""
        if self.weighting == "dwa":
            extra = f", temperature={self.temperature}"
        elif self.weighting == "gradnorm":
            extra = f", alpha={self.alpha}"
        return f"tasks={list(self.tasks)}, weighting={self.weighting!r}{extra}"

    # --- internals ------------------------------------------------------------------------------

    def _stack(self, losses: Mapping[str, Tensor]) -> Tensor:
        if not isinstance(losses, Mapping):
            raise TypeError(f"losses: expected a dict {{task: loss}}, got {describe(losses)}")
        missing = [t for t in self.tasks if t not in losses]
        extra = [str(t) for t in losses if t not in self.tasks]
        if missing or extra:
            raise ValueError(
                f"losses: expected exactly the tasks {list(self.tasks)}, got missing tasks "
                f"{missing} and extra tasks {extra}"
            )
        values = [losses[t] for t in self.tasks]
        for task, value in zip(self.tasks, values, strict=True):
            if not isinstance(value, Tensor):
                raise TypeError(f"losses[{task!r}]: expected a tensor, got {describe(value)}")
            if value.dim() != 0:
                raise ValueError(
                    f"losses[{task!r}]: expected a scalar (0-dim) loss, got shape "
                    f"{tuple(value.shape)}"
                )
        dtype = compute_dtype(*values)
        return torch.stack([v.to(dtype) for v in values])

    def _current_weights(self) -> Tensor:
        if self.weighting == "fixed":
            return torch.tensor(self.fixed_weights, dtype=torch.float64)
        if self.weighting == "uncertainty":
            return 0.5 * torch.exp(-self.log_vars)
        if self.weighting == "dwa":
            return self.dwa_weights
        w = self.task_weights.clamp_min(_GRADNORM_FLOOR)
        return len(self.tasks) * w / w.sum()

    def _renormalise(self) -> None:
        """Rescale the GradNorm weights to sum to K after an optimizer update changed them.

        ``_version`` counts in-place changes of the parameter (an optimizer step, a state-dict
        load): a Python int, so this test needs no host synchronisation, and a call that follows
        another without an update in between (gradient accumulation) modifies nothing that its
        graph saved.
        """
        w = self.task_weights
        if w._version == self._normalised_version:
            return
        with torch.no_grad():
            w.clamp_(min=_GRADNORM_FLOOR)
            w.mul_(len(self.tasks) / w.sum())
        self._normalised_version = w._version

    def _gradnorm(self, L: Tensor, values: list[Tensor]) -> Tensor:
        self._renormalise()
        w = self.task_weights
        # a copy, not a view: the in-place renormalisation must not touch what the graph saved
        w_now = w.detach().clone().to(device=L.device, dtype=L.dtype)
        total = (w_now * L).sum()
        if not (self.training and torch.is_grad_enabled() and L.requires_grad):
            return total

        with torch.no_grad():
            # L_i(0): the losses of the first call in training mode; `where` on a flag buffer
            # (no host synchronisation) keeps them afterwards
            first = L.detach().to(self.initial_losses)
            self.initial_losses.copy_(torch.where(self._has_initial, self.initial_losses, first))
            self._has_initial.fill_(True)

        norms = []
        for value in values:
            if not value.requires_grad:
                norms.append(torch.zeros((), dtype=L.dtype, device=L.device))
                continue
            grads = torch.autograd.grad(value, self._shared, retain_graph=True, allow_unused=True)
            squares = [g.detach().pow(2).sum() for g in grads if g is not None]
            if squares:
                norms.append(torch.stack(squares).sum().sqrt().to(L.dtype))
            else:
                norms.append(torch.zeros((), dtype=L.dtype, device=L.device))
        # ||grad_W (w_i L_i)|| = w_i ||grad_W L_i||: the weight enters linearly, so only the
        # weight carries a gradient (the norms are constants here, as in the paper's update of w)
        G = w.to(device=L.device, dtype=L.dtype) * torch.stack(norms)
        with torch.no_grad():
            tiny = torch.finfo(L.dtype).tiny
            loss_ratio = L.detach() / self.initial_losses.to(L).clamp_min(tiny)
            rate = loss_ratio / loss_ratio.mean().clamp_min(tiny)
            target = G.mean() * rate.pow(self.alpha)
        gradnorm_loss = (G - target).abs().sum()
        self.gradnorm_loss = gradnorm_loss.detach()
        # value: the weighted sum; gradient: the weighted sum's for the network, L_grad's for w
        return total + (gradnorm_loss - gradnorm_loss.detach())


# the smallest GradNorm weight kept at renormalisation: a weight never turns negative or 0
_GRADNORM_FLOOR = 1e-6
