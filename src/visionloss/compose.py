"""Composition: weighted sums of losses, multi-task weighting, class-weight schemes, the registry.

* :class:`CombinedLoss`: a fixed weighted sum of losses called with the same inputs, with the
  last value of each part kept for logging.
* :class:`MultiTaskLoss`: the total of several task losses with fixed, uncertainty (Kendall
  2018), dynamic weight average (Liu 2019) or GradNorm (Chen 2018) weights.
* :func:`class_weights`: per-class weights from class counts (inverse, inverse square root,
  effective number of samples of Cui 2019).
* :func:`build_loss`: a loss from an expression, a mapping, a list of mappings or an
  OmegaConf/Hydra configuration, by any name form of the registry (:mod:`visionloss.registry`,
  whose ``register``/``get_loss``/``available_losses`` are re-exported here).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Real
from typing import Any

import torch
from torch import Tensor, nn

from ._core import LossSpec, check_choice, check_number, compute_dtype, describe
from ._expression import MAX_EXPRESSION_LENGTH, MAX_STRING_LENGTH, Term, parse_expression
from .registry import available_losses, get_loss, lookup, loss_info, register, unregister

__all__ = [
    "CLASS_WEIGHT_SCHEMES",
    "MAX_EXPRESSION_LENGTH",
    "MAX_STRING_LENGTH",
    "WEIGHTINGS",
    "CombinedLoss",
    "FunctionLoss",
    "MultiTaskLoss",
    "available_losses",
    "build_loss",
    "class_weights",
    "get_loss",
    "loss_info",
    "register",
    "unregister",
]

WEIGHTINGS: tuple[str, ...] = ("fixed", "uncertainty", "dwa", "gradnorm")
CLASS_WEIGHT_SCHEMES: tuple[str, ...] = ("inverse", "inverse_sqrt", "effective_number")


def _check_weight_value(value: Any, name: str) -> float:
    """A loss weight: a real number (not a bool), finite, >= 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name}: expected a real number >= 0, got {describe(value)}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {number!r}")
    return number


# --- CombinedLoss ---------------------------------------------------------------------------------


class CombinedLoss(nn.Module):
    r"""A weighted sum of losses called with the same inputs.

    .. math::
        L = \sum_k w_k \, L_k(\text{inputs})

    Each part is a callable: a loss Module (registered as a submodule, so its parameters and
    buffers follow ``.to()``, ``.parameters()`` and the ``state_dict``) or a function. ``forward``
    passes its positional and keyword arguments unchanged to every part (e.g.
    ``loss(logits, target)``, or ``loss(x, y, weight=w)`` when every part takes a ``weight``).
    A part with weight 0 is still computed (its value is logged).

    After each call, :attr:`parts` maps each part's name to its last value, detached and
    unweighted (a 0-dim tensor when the part reduces to a scalar): ready for logging, no host
    synchronisation until you read it.

    Args:
        losses: a mapping ``{name: (loss, weight)}``; ``name`` a non-empty string without ``.``,
            ``loss`` a callable, ``weight`` a finite real number >= 0. The order of the mapping is
            the order of the sum.

    Attributes:
        weights: ``{name: weight}`` as floats. Change a weight with :meth:`set_weight` (checked).
        parts: ``{name: last value}``, empty before the first call.

    Example:
        >>> import torch, visionloss
        >>> import visionloss.functional as VF
        >>> loss = visionloss.CombinedLoss(
        ...     {"l2": (visionloss.MSELoss(), 1.0), "l1": (VF.mae_loss, 0.5)}
        ... )
        >>> loss(torch.tensor([0.0, 3.0]), torch.zeros(2))  # 4.5 + 0.5 * 1.5
        tensor(5.2500)
        >>> loss.parts
        {'l2': tensor(4.5000), 'l1': tensor(1.5000)}
    """

    def __init__(self, losses: Mapping[str, tuple[Callable[..., Tensor], float]]) -> None:
        super().__init__()
        if not isinstance(losses, Mapping):
            raise TypeError(
                f"losses: expected a mapping {{name: (loss, weight)}}, got {describe(losses)}"
            )
        if not losses:
            raise ValueError(
                "losses: expected at least one (loss, weight) pair, got an empty mapping"
            )
        self.losses = nn.ModuleDict()
        self._functions: dict[str, Callable[..., Tensor]] = {}
        self._names: list[str] = []
        self.weights: dict[str, float] = {}
        for name, spec in losses.items():
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(
                    f"losses: expected names that are non-empty strings without '.', got "
                    f"{describe(name)}"
                )
            where = f"losses[{name!r}]"
            if (
                isinstance(spec, str | bytes)
                or not isinstance(spec, Sequence)
                or len(spec) != 2
                or not callable(spec[0])
            ):
                raise TypeError(
                    f"{where}: expected a (loss, weight) pair with a callable loss and a number "
                    f"weight, got {describe(spec)}"
                )
            loss, weight = spec
            self.weights[name] = _check_weight_value(weight, f"{where} weight")
            if isinstance(loss, nn.Module):
                try:
                    self.losses[name] = loss
                except KeyError as error:  # a name ModuleDict reserves ("keys", "training"...)
                    raise ValueError(
                        f"losses: expected a name that is not an attribute of nn.ModuleDict, got "
                        f"{name!r}"
                    ) from error
            else:
                self._functions[name] = loss
            self._names.append(name)
        self.parts: dict[str, Tensor] = {}

    def set_weight(self, name: str, weight: float) -> None:
        """Change the weight of a part (e.g. on a schedule); checked like the constructor's."""
        if name not in self.weights:
            raise ValueError(f"name: expected one of {self._names}, got {describe(name)}")
        self.weights[name] = _check_weight_value(weight, "weight")

    def forward(self, *inputs: Any, **kwargs: Any) -> Tensor:
        total: Tensor | None = None
        for name in self._names:
            part = self._functions[name] if name in self._functions else self.losses[name]
            value = part(*inputs, **kwargs)
            self.parts[name] = value.detach()
            weighted = value * self.weights[name]
            total = weighted if total is None else total + weighted
        return total  # type: ignore[return-value]  # at least one part, checked in __init__

    def extra_repr(self) -> str:
        shown = []
        for name in self._names:
            kind = (
                "" if name not in self._functions else f" {_callable_name(self._functions[name])}"
            )
            shown.append(f"{name}:{kind} weight={self.weights[name]!r}")
        return ", ".join(shown)


def _callable_name(function: Callable[..., Any]) -> str:
    return getattr(function, "__name__", type(function).__name__)


# --- MultiTaskLoss --------------------------------------------------------------------------------


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
                        fixed[i] = _check_weight_value(weights[task], f"weights[{task!r}]")
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


# --- class_weights --------------------------------------------------------------------------------


def class_weights(
    counts: Tensor | Sequence[float], *, scheme: str = "inverse", beta: float = 0.999
) -> Tensor:
    r"""Per-class weights from class counts, normalised to mean 1 over the classes present.

    .. math::
        \text{inverse: } v_c = \frac{1}{n_c}, \quad
        \text{inverse\_sqrt: } v_c = \frac{1}{\sqrt{n_c}}, \quad
        \text{effective\_number: } v_c = \frac{1 - \beta}{1 - \beta^{n_c}}, \qquad
        w_c = \frac{v_c}{\frac{1}{|P|}\sum_{k \in P} v_k}

    where :math:`P` is the set of classes with :math:`n_c > 0`. ``"effective_number"`` is Cui
    et al.'s class-balanced weight, the inverse of the effective number of samples
    :math:`(1 - \beta^{n})/(1 - \beta)`; it goes from uniform (:math:`\beta = 0`) towards
    ``"inverse"`` as :math:`\beta \to 1`. It is computed as
    :math:`(1-\beta) / (-\mathrm{expm1}(n \log \beta))`, accurate for :math:`\beta` close to 1.

    A class with count 0 (absent from the data) gets weight 0 rather than infinity, and the
    normalisation runs over the present classes only, so the present classes' weights are the
    same as without the absent ones and their mean is 1 (with every class present the weights
    sum to the number of classes, Cui et al.'s normalisation). Counts may be fractional
    (frequencies).

    Args:
        counts: ``(C,)`` non-negative finite counts, a tensor or a sequence of numbers.
        scheme: ``"inverse"`` (default), ``"inverse_sqrt"`` or ``"effective_number"``.
        beta: :math:`\beta \in [0, 1)` of ``"effective_number"``. Default 0.999.

    Returns:
        A ``(C,)`` float tensor (float64 for float64 counts, else the default float dtype) on the
        device of ``counts``, ready for ``class_weight=``.

    Raises:
        ValueError: counts not 1-D, empty, negative, NaN or inf, or all zero.

    References:
        Y. Cui, M. Jia, T.-Y. Lin, Y. Song, S. Belongie, "Class-Balanced Loss Based on Effective
        Number of Samples", CVPR 2019, arXiv:1901.05555.

    Example:
        >>> import visionloss
        >>> visionloss.class_weights([10, 30, 0, 60])
        tensor([2.0000, 0.6667, 0.0000, 0.3333])
        >>> visionloss.class_weights([1, 4], scheme="inverse_sqrt")
        tensor([1.3333, 0.6667])
    """
    check_choice(scheme, "scheme", CLASS_WEIGHT_SCHEMES)
    check_number(beta, "beta", low=0.0, high=1.0, high_inclusive=False)
    if isinstance(counts, Tensor):
        c = counts.detach()
    else:
        if isinstance(counts, str | bytes):
            raise TypeError(f"counts: expected a tensor or a sequence of numbers, got {counts!r}")
        try:
            c = torch.as_tensor(counts)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"counts: expected a tensor or a sequence of numbers, got {describe(counts)}"
            ) from error
    if c.dtype == torch.bool or c.is_complex():
        raise TypeError(f"counts: expected real counts, got dtype {c.dtype}")
    if c.dim() != 1 or c.numel() == 0:
        raise ValueError(f"counts: expected a non-empty 1-D sequence, got shape {tuple(c.shape)}")
    dtype = compute_dtype(c) if c.is_floating_point() else torch.get_default_dtype()
    c = c.to(dtype)
    # a one-off computation, not a loss: its checks always run
    if not bool(torch.isfinite(c).all()) or bool((c < 0).any()):
        raise ValueError(
            f"counts: expected finite counts >= 0, got {c.tolist() if c.numel() <= 8 else c}"
        )
    present = c > 0
    if not bool(present.any()):
        raise ValueError("counts: expected at least one class with a positive count, got all zeros")
    safe = torch.where(present, c, torch.ones_like(c))  # absent classes are masked below
    if scheme == "inverse":
        raw = 1.0 / safe
    elif scheme == "inverse_sqrt":
        raw = torch.rsqrt(safe)
    elif beta == 0.0:
        raw = torch.ones_like(safe)  # 1 - 0^n = 1 for every n > 0
    else:
        # 1 - beta^n = -expm1(n log beta): no cancellation for beta near 1 and small n
        raw = (1.0 - beta) / -torch.expm1(safe * math.log(beta))
    raw = torch.where(present, raw, torch.zeros_like(raw))
    return raw * (present.sum().to(dtype) / raw.sum())


# --- build_loss: a loss from a configuration ------------------------------------------------------


class FunctionLoss(nn.Module):
    """A loss function with stored options, as a Module: ``forward(*inputs, **kwargs)`` returns
    ``function(*inputs, **options, **kwargs)``. :func:`build_loss` builds these for functions
    registered with :func:`register`."""

    def __init__(self, function: Callable[..., Tensor], /, **options: Any) -> None:
        super().__init__()
        if not callable(function):
            raise TypeError(f"function: expected a callable, got {describe(function)}")
        self.function = function
        self.options = dict(options)

    def forward(self, *inputs: Any, **kwargs: Any) -> Tensor:
        return self.function(*inputs, **self.options, **kwargs)

    def extra_repr(self) -> str:
        head = "" if isinstance(self.function, nn.Module) else _callable_name(self.function)
        shown = [f"{k}={v!r}" for k, v in self.options.items()]
        return ", ".join(([head] if head else []) + shown)


def _signature_options(obj: Any) -> tuple[list[str] | None, list[str]]:
    """``(accepted, required)`` option names of a user function or class; ``accepted`` is
    ``None`` when anything is accepted (``**kwargs``, or no signature to read)."""
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None, []
    is_class = isinstance(obj, type)
    accepted: list[str] = []
    required: list[str] = []
    for p in parameters:
        if p.kind is p.VAR_KEYWORD:
            return None, required
        if p.kind is p.KEYWORD_ONLY or (
            p.kind is p.POSITIONAL_OR_KEYWORD and (is_class or p.default is not p.empty)
        ):
            # a function's positional parameters without a default are its data, not options
            accepted.append(p.name)
            if p.default is p.empty:
                required.append(p.name)
    return accepted, required


def _check_option_names(
    name: str, accepted: Sequence[str] | None, required: Sequence[str], options: Mapping[str, Any],
    where: str,
) -> None:
    if accepted is not None:
        for option in options:
            if option not in accepted:
                listed = ", ".join(accepted) if accepted else "none"
                raise ValueError(
                    f"{where}: unknown option {option!r} of the loss {name!r} (its options: "
                    f"{listed})"
                )
    for option in required:
        if option not in options:
            raise ValueError(
                f"{where}: the loss {name!r} needs the option {option!r}, e.g. "
                f"{name}({option}=...)"
            )


def _build_one(name: str, options: dict[str, Any], where: str) -> nn.Module:
    """The Module of one loss by any name form, its options checked now."""
    canonical, entry = lookup(name)
    if isinstance(entry, LossSpec):
        _check_option_names(canonical, entry.options.names(), entry.required, options, where)
        try:
            if entry.module is not None and entry.module.spec is entry:
                return entry.module(**options)
            entry.options(**options)  # the checks; the function is then called with the options
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {canonical}: {error}") from error
        return FunctionLoss(entry.function, **options)
    accepted, required = _signature_options(entry)
    _check_option_names(canonical, accepted, required, options, where)
    if isinstance(entry, type):
        try:
            module: nn.Module = entry(**options)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {canonical}: {error}") from error
        return module
    return FunctionLoss(entry, **options)


def _plain(config: Any) -> Any:
    """An OmegaConf container as plain dicts and lists (resolving interpolations)."""
    if type(config).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(config, resolve=True)
    return config


def _term_of(entry: Any, where: str) -> Term:
    entry = _plain(entry)
    if not isinstance(entry, Mapping):
        raise TypeError(f"{where}: expected a mapping {{'name': ..., **options}}, got {describe(entry)}")
    if "name" not in entry:
        raise ValueError(f"{where}: expected a 'name' key (e.g. {{'name': 'dice', 'mode': 'binary'}}), got keys {sorted(entry)}")
    options = {str(k): v for k, v in entry.items() if k not in ("name", "weight")}
    weight = entry.get("weight", 1.0)
    try:
        weight = _check_weight_value(weight, f"{where}['weight']")
    except TypeError as error:
        raise TypeError(str(error)) from None
    return Term(entry["name"], options, weight)


def _combined(terms: Sequence[Term], where: str) -> CombinedLoss:
    parts: dict[str, tuple[nn.Module, float]] = {}
    seen: dict[str, int] = {}
    for term in terms:
        canonical, _ = lookup(term.name)
        seen[canonical] = seen.get(canonical, 0) + 1
        key = canonical if seen[canonical] == 1 else f"{canonical}_{seen[canonical]}"
        while key in parts:  # e.g. a user loss named "mse_2" next to two "mse"
            key += "_"
        parts[key] = (_build_one(term.name, dict(term.options), where), term.weight)
    return CombinedLoss(parts)


def build_loss(config: str | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> nn.Module:
    """Build a loss from a configuration: an expression, a mapping, or a list of mappings.

    Names: any form of a registered loss, ``"mse"``, ``"mse_loss"`` or ``"MSELoss"``; a typo
    raises ``ValueError`` with the closest names of all three forms. Options are checked when the
    loss is built (an unknown, missing or invalid option raises ``ValueError`` naming it and the
    loss), and tensor options accept lists of numbers (``class_weight=[1.0, 2.0, 1.0]``).

    * an expression (a ``str``): a weighted sum of losses, e.g.
      ``"dice(mode='multiclass') + 0.5 * cross_entropy(label_smoothing=0.1)"``. The grammar: a
      name; a call with keyword options whose values are literals (numbers, strings up to
      :data:`MAX_STRING_LENGTH` characters, ``True``/``False``/``None``, lists or tuples of
      numbers); ``+`` between losses; ``*`` between a number and a loss or a parenthesised sum.
      It is parsed with :mod:`ast` over this whitelist and never evaluated; everything else
      (attributes, subscripts, other calls, ``**kwargs``, names starting with ``_``, other
      operators, negative weights, more than :data:`MAX_EXPRESSION_LENGTH` characters) raises
      ``ValueError`` naming what was refused. Returns a :class:`CombinedLoss`.
    * a mapping ``{"name": "dice", "mode": "multiclass", ...}``: that loss's Module (with a
      ``"weight"`` key: a :class:`CombinedLoss` of that one part).
    * a list of mappings, each with an optional ``"weight"`` (default 1): a :class:`CombinedLoss`.
    * an OmegaConf ``DictConfig``/``ListConfig`` (a Hydra config): read as the plain container.

    In a :class:`CombinedLoss` the parts are named after the losses' registry names (``"mse"``,
    then ``"mse_2"``... when a loss appears again) and called with the same arguments; ``.parts``
    keeps the last value of each.

    Raises:
        TypeError: ``config`` is none of the above.
        ValueError: an unknown name, a refused expression, a wrong option.

    Example:
        >>> import torch, visionloss
        >>> loss = visionloss.build_loss("mse + 0.5 * HuberLoss(delta=2.0)")
        >>> loss(torch.tensor([0.0, 3.0]), torch.zeros(2))  # 4.5 + 0.5 * 2.0
        tensor(5.5000)
        >>> sorted(loss.parts)
        ['huber', 'mse']
        >>> visionloss.build_loss({"name": "huber_loss", "delta": 2.0})
        HuberLoss(delta=2.0, reduction='mean')
    """
    config = _plain(config)
    if isinstance(config, str):
        return _combined(parse_expression(config), "expression")
    if isinstance(config, Mapping):
        term = _term_of(config, "config")
        module = _build_one(term.name, dict(term.options), "config")
        if "weight" not in config:
            return module
        canonical, _ = lookup(term.name)
        return CombinedLoss({canonical: (module, term.weight)})
    if isinstance(config, Sequence) and not isinstance(config, bytes):
        if not config:
            raise ValueError("config: expected at least one loss, got an empty list")
        return _combined([_term_of(e, f"config[{i}]") for i, e in enumerate(config)], "config")
    raise TypeError(
        "config: expected an expression (str), a mapping {'name': ..., **options} or a list of "
        f"them, got {describe(config)}"
    )
