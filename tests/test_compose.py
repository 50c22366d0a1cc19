"""Composition: CombinedLoss, MultiTaskLoss's four weightings, class_weights, the registry and
build_loss.

Expected values are derived by hand from the formulas in the docstrings (noted at each test); the
toy trainings check the fixed points the papers derive (Kendall 2018: s_i = log L_i; GradNorm:
equal weighted gradient norms when the training rates are equal).
"""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn

import visionloss
import visionloss.functional as VF
from catalogue import all_cases
from visionloss import CombinedLoss, MultiTaskLoss, build_loss, class_weights
from visionloss.compose import FunctionLoss, get_loss, register, unregister


@pytest.fixture
def one_thread():
    """The toy trainings run hundreds of tiny steps: one thread is faster than two competing."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- CombinedLoss ---------------------------------------------------------------------------------


def test_combined_is_the_weighted_sum_and_logs_detached_parts(gen):
    x = torch.randn(3, 4, generator=gen, requires_grad=True)
    y = torch.randn(3, 4, generator=gen)
    loss = CombinedLoss(
        {"l2": (visionloss.MSELoss(), 2.0), "l1": (VF.mae_loss, 0.25), "off": (VF.huber_loss, 0)}
    )
    total = loss(x, y)
    expected = 2.0 * ((x - y) ** 2).mean() + 0.25 * (x - y).abs().mean()
    torch.testing.assert_close(total, expected)
    assert list(loss.parts) == ["l2", "l1", "off"]
    torch.testing.assert_close(loss.parts["l2"], ((x - y) ** 2).mean())  # unweighted
    torch.testing.assert_close(loss.parts["off"], VF.huber_loss(x, y))  # weight 0: still logged
    assert all(p.dim() == 0 and not p.requires_grad for p in loss.parts.values())
    (grad,) = torch.autograd.grad(total, x)
    (grad_expected,) = torch.autograd.grad(expected, x)
    torch.testing.assert_close(grad, grad_expected)
    assert loss.weights == {"l2": 2.0, "l1": 0.25, "off": 0.0}


def test_combined_registers_module_parts_and_passes_keywords(gen):
    robust = visionloss.RobustLoss(alpha=nn.Parameter(torch.tensor(1.0)))
    loss = CombinedLoss({"robust": (robust, 1.0), "mse": (VF.mse_loss, 1.0)})
    assert [p is robust.alpha for p in loss.parameters()] == [True]
    assert "losses.robust.alpha" in loss.state_dict()
    loss.double()
    assert robust.alpha.dtype == torch.float64
    x = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    y = torch.zeros(2, 3, dtype=torch.float64)
    w = torch.tensor([[1.0], [0.0]], dtype=torch.float64)  # the second row is ignored
    torch.testing.assert_close(loss(x, y, weight=w), loss(x[:1], y[:1]))
    assert "robust" in repr(loss) and "mse: mse_loss weight=1.0" in repr(loss)


def test_combined_set_weight():
    loss = CombinedLoss({"a": (VF.mse_loss, 1.0), "b": (VF.mae_loss, 1.0)})
    loss.set_weight("b", 3)
    x = torch.tensor([2.0])
    torch.testing.assert_close(loss(x, torch.zeros(1)), torch.tensor(4.0 + 3 * 2.0))
    with pytest.raises(ValueError, match=r"weight: expected a finite number >= 0, got -1.0"):
        loss.set_weight("a", -1.0)
    with pytest.raises(ValueError, match=r"name: expected one of \['a', 'b'\], got 'c'"):
        loss.set_weight("c", 1.0)


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ([("a", (VF.mse_loss, 1.0))], TypeError, r"losses: expected a mapping"),
        ({}, ValueError, r"losses: expected at least one \(loss, weight\) pair"),
        ({"a": VF.mse_loss}, TypeError, r"losses\['a'\]: expected a \(loss, weight\) pair"),
        ({"a": (VF.mse_loss,)}, TypeError, r"losses\['a'\]: expected a \(loss, weight\) pair"),
        ({"a": (1.0, VF.mse_loss)}, TypeError, r"losses\['a'\]: expected a \(loss, weight\)"),
        ({"a": ("mse", 1.0)}, TypeError, r"losses\['a'\]: expected a \(loss, weight\) pair"),
        (
            {"a": (VF.mse_loss, -0.5)},
            ValueError,
            r"losses\['a'\] weight: expected a finite number >= 0, got -0.5",
        ),
        ({"a": (VF.mse_loss, math.nan)}, ValueError, r"losses\['a'\] weight: expected a finite"),
        ({"a": (VF.mse_loss, math.inf)}, ValueError, r"losses\['a'\] weight: expected a finite"),
        ({"a": (VF.mse_loss, True)}, TypeError, r"losses\['a'\] weight: expected a real number"),
        ({"a": (VF.mse_loss, "1")}, TypeError, r"losses\['a'\] weight: expected a real number"),
        ({"a.b": (VF.mse_loss, 1.0)}, ValueError, r"losses: expected names that are non-empty"),
        ({3: (VF.mse_loss, 1.0)}, ValueError, r"losses: expected names that are non-empty"),
        (
            {"training": (visionloss.MSELoss(), 1.0)},
            ValueError,
            r"not an attribute of nn.ModuleDict",
        ),
    ],
)
def test_combined_bad_specs(spec, error, message):
    with pytest.raises(error, match=message):
        CombinedLoss(spec)


def test_combined_compiles_fullgraph(gen):
    torch._dynamo.reset()
    x, y = torch.randn(3, 4, generator=gen), torch.randn(3, 4, generator=gen)
    loss = CombinedLoss({"l2": (visionloss.MSELoss(), 1.0), "l1": (VF.mae_loss, 0.5)})
    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    got = compiled(x, y)
    torch.testing.assert_close(loss.parts["l1"], VF.mae_loss(x, y))  # parts set under compile
    torch.testing.assert_close(got, loss(x, y))


# --- MultiTaskLoss: fixed -------------------------------------------------------------------------


def test_fixed_weights_default_one_and_given():
    losses = {"a": torch.tensor(2.0), "b": torch.tensor(3.0), "c": torch.tensor(5.0)}
    assert MultiTaskLoss(["a", "b", "c"])(losses).item() == 10.0
    mtl = MultiTaskLoss(["a", "b", "c"], weights={"b": 0.5, "c": 0})
    assert mtl(losses).item() == 2.0 + 1.5
    assert mtl.weights == {"a": 1.0, "b": 0.5, "c": 0.0}
    mtl.step()  # a no-op outside "dwa"


def test_fixed_keeps_float64_and_moves_to_the_losses_device():
    losses = {"a": torch.tensor(1.0, dtype=torch.float64), "b": torch.tensor(2.0)}
    out = MultiTaskLoss(["a", "b"], weights={"a": 0.1})(losses)
    assert out.dtype == torch.float64
    assert out.item() == pytest.approx(0.1 + 2.0, abs=1e-15)


@pytest.mark.parametrize("weighting", ["fixed", "uncertainty", "dwa"])
def test_task_keys_must_match(weighting):
    mtl = MultiTaskLoss(["seg", "depth"], weighting=weighting)
    with pytest.raises(
        ValueError,
        match=r"losses: expected exactly the tasks \['seg', 'depth'\], got missing tasks "
        r"\['depth'\] and extra tasks \['normals'\]",
    ):
        mtl({"seg": torch.tensor(1.0), "normals": torch.tensor(1.0)})
    with pytest.raises(ValueError, match=r"losses\['seg'\]: expected a scalar \(0-dim\) loss"):
        mtl({"seg": torch.ones(2), "depth": torch.tensor(1.0)})
    with pytest.raises(TypeError, match=r"losses\['depth'\]: expected a tensor, got 1.0"):
        mtl({"seg": torch.tensor(1.0), "depth": 1.0})
    with pytest.raises(TypeError, match=r"losses: expected a dict"):
        mtl([torch.tensor(1.0), torch.tensor(1.0)])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"tasks": "ab"}, TypeError, r"tasks: expected a sequence of task names, got 'ab'"),
        ({"tasks": []}, ValueError, r"tasks: expected at least one task name"),
        ({"tasks": ["a", "a"]}, ValueError, r"tasks: expected distinct names, got \['a'\]"),
        ({"tasks": ["a", 1]}, TypeError, r"tasks: expected non-empty strings, got 1"),
        (
            {"weighting": "equal"},
            ValueError,
            r"weighting: expected one of 'fixed', 'uncertainty', 'dwa', 'gradnorm', got 'equal'",
        ),
        (
            {"weights": {"c": 1.0}},
            ValueError,
            r"weights: expected keys among the tasks \['a', 'b'\], got the unknown tasks \['c'\]",
        ),
        (
            {"weights": {"a": -1.0}},
            ValueError,
            r"weights\['a'\]: expected a finite number >= 0, got -1.0",
        ),
        (
            {"weights": {"a": 1.0}, "weighting": "dwa"},
            ValueError,
            r"weights: expected None with weighting='dwa'",
        ),
        (
            {"weighting": "gradnorm"},
            ValueError,
            r"shared_parameters: expected the parameters of the last shared layer",
        ),
        (
            {"weighting": "gradnorm", "shared_parameters": []},
            ValueError,
            r"shared_parameters: expected at least one tensor",
        ),
        (
            {"weighting": "gradnorm", "shared_parameters": [torch.ones(2)]},
            TypeError,
            r"shared_parameters: expected tensors that require grad",
        ),
        (
            {"shared_parameters": [nn.Parameter(torch.ones(1))]},
            ValueError,
            r"shared_parameters: expected None with weighting='fixed'",
        ),
        (
            {"weighting": "dwa", "temperature": 0.0},
            ValueError,
            r"temperature: expected a value in \(0.0, inf\], got 0.0",
        ),
        (
            {"weighting": "gradnorm", "alpha": -1.0},
            ValueError,
            r"alpha: expected a value in \[0.0, inf\], got -1.0",
        ),
    ],
)
def test_multitask_bad_arguments(kwargs, error, message):
    kwargs = {"tasks": ["a", "b"], **kwargs}
    tasks = kwargs.pop("tasks")
    with pytest.raises(error, match=message):
        MultiTaskLoss(tasks, **kwargs)


# --- MultiTaskLoss: uncertainty -------------------------------------------------------------------


def test_uncertainty_total_and_gradients_in_closed_form():
    # total = sum 0.5 exp(-s) L + 0.5 s; d/ds = -0.5 exp(-s) L + 0.5; d/dL = 0.5 exp(-s)
    mtl = MultiTaskLoss(["a", "b"], weighting="uncertainty").double()
    assert mtl.log_vars.tolist() == [0.0, 0.0]  # initialised to 0 (sigma = 1)
    assert mtl.weights == {"a": 0.5, "b": 0.5}
    L = torch.tensor([2.0, 0.5], dtype=torch.float64)
    s = torch.tensor([0.3, -0.7], dtype=torch.float64)
    with torch.no_grad():
        mtl.log_vars.copy_(s)
    optimizer = torch.optim.SGD(mtl.parameters(), lr=0.1)
    for _ in range(3):
        losses = L.clone().requires_grad_(True)
        total = mtl({"a": losses[0], "b": losses[1]})
        expected = (0.5 * torch.exp(-s) * L + 0.5 * s).sum()
        torch.testing.assert_close(total, expected)
        optimizer.zero_grad()
        total.backward()
        ds = -0.5 * torch.exp(-s) * L + 0.5
        torch.testing.assert_close(mtl.log_vars.grad, ds)
        torch.testing.assert_close(losses.grad, 0.5 * torch.exp(-s))
        optimizer.step()
        s = s - 0.1 * ds  # the same SGD step by hand
        torch.testing.assert_close(mtl.log_vars.detach(), s)
    torch.testing.assert_close(
        torch.tensor(list(mtl.weights.values()), dtype=torch.float64), 0.5 * torch.exp(-s)
    )


def test_uncertainty_learns_log_noise_variances(one_thread):
    # Two regression heads on a shared layer; targets with Gaussian noise sigma = (0.5, 2).
    # At the optimum s_i = log MSE_i (d/ds [0.5 e^-s L + 0.5 s] = 0) and MSE_i -> sigma_i^2.
    gen = torch.Generator().manual_seed(0)
    n, sigmas = 2048, (0.5, 2.0)
    x = torch.randn(n, 3, generator=gen)
    ys = [
        x @ torch.randn(3, 1, generator=gen) + sigma * torch.randn(n, 1, generator=gen)
        for sigma in sigmas
    ]
    torch.manual_seed(0)
    shared = nn.Linear(3, 8)
    heads = nn.ModuleList([nn.Linear(8, 1), nn.Linear(8, 1)])
    mtl = MultiTaskLoss(["a", "b"], weighting="uncertainty")
    params = [*shared.parameters(), *heads.parameters(), *mtl.parameters()]
    optimizer = torch.optim.Adam(params, lr=0.05)
    for _ in range(300):
        z = shared(x)
        mses = [VF.mse_loss(head(z), y) for head, y in zip(heads, ys, strict=True)]
        total = mtl(dict(zip(["a", "b"], mses, strict=True)))
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    s = mtl.log_vars.detach()
    final = torch.stack([m.detach() for m in mses])
    torch.testing.assert_close(s, final.log(), rtol=0, atol=0.02)  # the closed-form optimum
    # and the noise variances (sample variance of 2048 draws: ~3% relative spread)
    torch.testing.assert_close(s, torch.tensor([math.log(0.25), math.log(4.0)]), rtol=0, atol=0.1)


# --- MultiTaskLoss: dynamic weight average --------------------------------------------------------


def _dwa_weights(prev, before, T=2.0):
    r = torch.tensor(prev) / torch.tensor(before)
    return (len(prev) * torch.softmax(r / T, 0)).tolist()


def _call(mtl, a, b):
    return mtl({"a": torch.tensor(a), "b": torch.tensor(b)})


def test_dwa_weights_from_a_known_history():
    mtl = MultiTaskLoss(["a", "b"], weighting="dwa")
    # epoch 0: weights 1; averages (2, 6)
    assert _call(mtl, 1.0, 4.0).item() == 5.0
    assert _call(mtl, 3.0, 8.0).item() == 11.0
    mtl.eval()
    _call(mtl, 100.0, 100.0)  # eval mode: not recorded
    mtl.train()
    mtl.step()
    assert mtl.weights == {"a": 1.0, "b": 1.0}  # still 1 in the second epoch
    # epoch 1: averages (1, 6)
    assert _call(mtl, 1.0, 6.0).item() == 7.0
    mtl.step()
    # epoch 2: r = (1/2, 6/6), w = 2 softmax(r / 2) = 2 e^{r/2} / (e^{1/4} + e^{1/2})
    w = _dwa_weights([1.0, 6.0], [2.0, 6.0])
    assert w[0] == pytest.approx(2 * math.exp(0.25) / (math.exp(0.25) + math.exp(0.5)))
    assert list(mtl.weights.values()) == pytest.approx(w)
    assert _call(mtl, 0.5, 3.0).item() == pytest.approx(w[0] * 0.5 + w[1] * 3.0)
    assert _call(mtl, 1.5, 9.0).item() == pytest.approx(w[0] * 1.5 + w[1] * 9.0)
    mtl.step()
    # epoch 3: averages of epoch 2 (1, 6) against epoch 1 (1, 6): r = (1, 1), equal weights
    assert list(mtl.weights.values()) == pytest.approx([1.0, 1.0])

    # the state (history, weights) travels in the state_dict
    again = MultiTaskLoss(["a", "b"], weighting="dwa")
    again.load_state_dict(mtl.state_dict())
    assert again.weights == mtl.weights
    _call(mtl, 2.0, 3.0)
    _call(again, 2.0, 3.0)
    mtl.step()
    again.step()
    assert list(again.weights.values()) == pytest.approx(_dwa_weights([2.0, 3.0], [1.0, 6.0]))
    assert again.weights == mtl.weights


def test_dwa_temperature_and_three_tasks():
    mtl = MultiTaskLoss(["a", "b", "c"], weighting="dwa", temperature=0.5)
    for averages in ([1.0, 1.0, 1.0], [0.5, 1.0, 2.0]):
        mtl({t: torch.tensor(v) for t, v in zip("abc", averages, strict=True)})
        mtl.step()
    w = list(mtl.weights.values())
    assert w == pytest.approx(_dwa_weights([0.5, 1.0, 2.0], [1.0, 1.0, 1.0], T=0.5))
    assert sum(w) == pytest.approx(3.0)
    assert w[2] > w[1] > w[0]  # the task whose loss fell least gets the most weight


def test_dwa_step_without_losses_and_zero_history():
    mtl = MultiTaskLoss(["a", "b"], weighting="dwa")
    with pytest.raises(
        ValueError, match=r"step: expected task losses recorded since the last step"
    ):
        mtl.step()
    _call(mtl, 0.0, 1.0)
    mtl.step()
    _call(mtl, 1.0, 1.0)
    mtl.step()
    w = list(mtl.weights.values())
    assert all(math.isfinite(v) for v in w)  # 1 / 0 ratio: against the smallest float
    assert w == pytest.approx([2.0, 0.0])


# --- MultiTaskLoss: GradNorm ----------------------------------------------------------------------


def _two_task_toy(scale: float = 30.0):
    """A shared layer and two linear heads; task b's targets are `scale` times larger, so its
    gradient on the shared layer is about `scale` times task a's at the start."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=gen)
    y_a = x @ torch.randn(4, 1, generator=gen)
    y_b = scale * (x @ torch.randn(4, 1, generator=gen))
    torch.manual_seed(0)
    shared = nn.Sequential(nn.Linear(4, 8), nn.Tanh())
    heads = nn.ModuleList([nn.Linear(8, 1), nn.Linear(8, 1)])

    def losses():
        z = shared(x)
        return {"a": VF.mse_loss(heads[0](z), y_a), "b": VF.mse_loss(heads[1](z), y_b)}

    return shared, heads, losses


def _grad_norms(losses, params):
    norms = []
    for value in losses.values():
        grads = torch.autograd.grad(value, params, retain_graph=True)
        norms.append(torch.cat([g.flatten() for g in grads]).norm())
    return torch.stack(norms)


def test_gradnorm_first_step_gradients_by_hand():
    shared, heads, make_losses = _two_task_toy()
    W = list(shared[0].parameters())
    mtl = MultiTaskLoss(["a", "b"], weighting="gradnorm", shared_parameters=W, alpha=1.5)
    losses = make_losses()
    g = _grad_norms(losses, W).detach()
    total = mtl(losses)
    L = torch.stack(list(losses.values()))
    torch.testing.assert_close(total, L.sum())  # w = 1: the value is sum w_i L_i
    total.backward()
    # first call: L(0) = L, so r_i = 1 and the target is mean(G) for both tasks;
    # dL_grad/dw_i = sign(w_i g_i - mean(w g)) g_i
    G = g  # w = 1
    torch.testing.assert_close(mtl.task_weights.grad, torch.sign(G - G.mean()) * g)
    torch.testing.assert_close(mtl.gradnorm_loss, (G - G.mean()).abs().sum())
    # the network's gradient is that of sum_i w_i L_i, nothing of L_grad leaks into it
    net = [*shared.parameters(), *heads.parameters()]
    reference = torch.autograd.grad(sum(make_losses().values()), net)
    for p, r in zip(net, reference, strict=True):
        torch.testing.assert_close(p.grad, r)


def test_gradnorm_target_uses_training_rates_and_alpha():
    # hand-made losses with a known graph: L_i = c_i * (p . p), shared parameter p
    p = nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    mtl = MultiTaskLoss(["a", "b"], weighting="gradnorm", shared_parameters=[p], alpha=2.0)
    mtl.double()
    c0 = [1.0, 3.0]
    mtl({"a": c0[0] * p.dot(p), "b": c0[1] * p.dot(p)}).backward()  # records L(0)
    mtl.task_weights.grad = None
    c = [0.5, 2.5]  # L_a fell to 1/2 of L(0), L_b to 5/6
    out = mtl({"a": c[0] * p.dot(p), "b": c[1] * p.dot(p)})
    out.backward()
    g = torch.tensor([ci * 2 * p.detach().norm().item() for ci in c], dtype=torch.float64)
    ratio = torch.tensor([c[0] / c0[0], c[1] / c0[1]], dtype=torch.float64)
    r = ratio / ratio.mean()
    target = g.mean() * r**2  # w = 1, alpha = 2
    torch.testing.assert_close(mtl.gradnorm_loss, (g - target).abs().sum())
    torch.testing.assert_close(mtl.task_weights.grad, torch.sign(g - target) * g)


def test_gradnorm_frozen_network_reaches_equal_weighted_gradient_norms(one_thread):
    # With the network frozen the training rates stay 1, so GradNorm's fixed point is
    # w_a g_a = w_b g_b with w_a + w_b = 2: w_a = 2 g_b / (g_a + g_b).
    shared, _, make_losses = _two_task_toy()
    W = list(shared[0].parameters())
    g = _grad_norms(make_losses(), W).detach()
    assert g[1] / g[0] > 20  # very different gradient scales
    mtl = MultiTaskLoss(["a", "b"], weighting="gradnorm", shared_parameters=W)
    optimizer = torch.optim.Adam(mtl.parameters(), lr=0.05)
    for _ in range(150):
        total = mtl(make_losses())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        optimizer.param_groups[0]["lr"] *= 0.97  # a decaying step settles the L1 objective
    w = mtl.weights
    assert w["a"] + w["b"] == pytest.approx(2.0)  # renormalised to K
    assert w["a"] == pytest.approx(float(2 * g[1] / g.sum()), abs=0.01)
    ratio = w["a"] * g[0] / (w["b"] * g[1])
    assert abs(math.log(ratio)) < 0.3  # from log(g_b / g_a) > 3 at the start


def test_gradnorm_training_balances_weighted_gradient_norms(one_thread):
    # one optimizer over the network and the task weights, one backward per step
    shared, heads, make_losses = _two_task_toy()
    W = list(shared[0].parameters())
    mtl = MultiTaskLoss(["a", "b"], weighting="gradnorm", shared_parameters=W)
    optimizer = torch.optim.Adam(
        [
            {"params": [*shared.parameters(), *heads.parameters()], "lr": 1e-3},
            {"params": mtl.parameters(), "lr": 0.02},
        ]
    )
    history = []
    for _ in range(120):
        losses = make_losses()
        total = mtl(losses)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(mtl.gradnorm_loss.item())
    assert mtl.weights["b"] < 0.2 < 1.8 < mtl.weights["a"]  # the large-gradient task gave way
    assert sum(history[-20:]) / 20 < 0.05 * history[0]
    assert sum(mtl.weights.values()) == pytest.approx(2.0)


def test_gradnorm_eval_accumulation_and_unused_shared_parameters():
    shared, _, make_losses = _two_task_toy()
    W = list(shared[0].parameters())
    mtl = MultiTaskLoss(["a", "b"], weighting="gradnorm", shared_parameters=W)
    mtl.eval()
    with torch.no_grad():
        out = mtl(make_losses())
    torch.testing.assert_close(out, sum(make_losses().values()))
    assert mtl.gradnorm_loss is None
    mtl.train()
    # two forwards before one backward (gradient accumulation) stay valid
    (mtl(make_losses()) + mtl(make_losses())).backward()
    # a task that does not reach the shared parameters has gradient norm 0, not an error
    other = nn.Parameter(torch.ones(1))
    loss = mtl({"a": make_losses()["a"], "b": (other**2).sum()})
    assert torch.isfinite(loss)


# --- class_weights --------------------------------------------------------------------------------


def test_class_weights_by_hand():
    # inverse: 1/n = (1/10, 1/30, 1/60), mean 1/20 -> (2, 2/3, 1/3)
    torch.testing.assert_close(
        class_weights([10, 30, 60]), torch.tensor([2.0, 2.0 / 3.0, 1.0 / 3.0])
    )
    # inverse_sqrt: (1/1, 1/2), mean 3/4 -> (4/3, 2/3)
    torch.testing.assert_close(
        class_weights(torch.tensor([1, 4]), scheme="inverse_sqrt"), torch.tensor([4 / 3, 2 / 3])
    )
    # effective number, beta = 0.5: (1-b)/(1-b^n) at n = 1, 2, 3: 1, 2/3, 4/7
    raw = torch.tensor([1.0, 2 / 3, 4 / 7], dtype=torch.float64)
    torch.testing.assert_close(
        class_weights(
            torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), scheme="effective_number", beta=0.5
        ),
        raw / raw.mean(),
    )


def test_class_weights_effective_number_limits():
    counts = torch.tensor([5.0, 50.0, 500.0], dtype=torch.float64)
    # beta = 0: uniform; beta -> 1: inverse frequency (1 - b^n ~ n (1 - b))
    assert class_weights(counts, scheme="effective_number", beta=0.0).tolist() == [1.0, 1.0, 1.0]
    torch.testing.assert_close(
        class_weights(counts, scheme="effective_number", beta=1 - 1e-12),
        class_weights(counts),
        rtol=1e-6,
        atol=0,
    )
    # the default beta = 0.999, by hand: (1-b)/(1-b^n)
    raw = torch.tensor([0.001 / (1 - 0.999**n) for n in (5, 50, 500)], dtype=torch.float64)
    torch.testing.assert_close(class_weights(counts, scheme="effective_number"), raw / raw.mean())


@pytest.mark.parametrize("scheme", ["inverse", "inverse_sqrt", "effective_number"])
def test_class_weights_absent_classes_get_zero(scheme):
    with_zero = class_weights([10.0, 0.0, 40.0, 0.0], scheme=scheme)
    without = class_weights([10.0, 40.0], scheme=scheme)
    assert torch.isfinite(with_zero).all()
    assert with_zero[1] == 0 and with_zero[3] == 0
    torch.testing.assert_close(with_zero[[0, 2]], without)  # present classes: mean 1
    assert with_zero.dtype == torch.float32


def test_class_weights_types_and_uniform():
    assert class_weights([7, 7, 7]).tolist() == [1.0, 1.0, 1.0]
    assert class_weights((3.0, 1.0)).dtype == torch.float32
    assert class_weights(torch.tensor([1.0, 2.0], dtype=torch.float64)).dtype == torch.float64
    assert class_weights(torch.tensor([1.0, 2.0], dtype=torch.float16)).dtype == torch.float32
    # usable as a class_weight: sum(w * n) is the same for every class with "inverse"
    counts = torch.tensor([3.0, 12.0, 48.0])
    torch.testing.assert_close(
        class_weights(counts) * counts, torch.full((3,), 3 / (1 / 3 + 1 / 12 + 1 / 48))
    )


@pytest.mark.parametrize(
    ("counts", "kwargs", "error", "message"),
    [
        ([1, -2], {}, ValueError, r"counts: expected finite counts >= 0"),
        ([1.0, math.nan], {}, ValueError, r"counts: expected finite counts >= 0"),
        ([1.0, math.inf], {}, ValueError, r"counts: expected finite counts >= 0"),
        ([0, 0], {}, ValueError, r"counts: expected at least one class with a positive count"),
        ([], {}, ValueError, r"counts: expected a non-empty 1-D sequence, got shape \(0,\)"),
        (
            [[1, 2]],
            {},
            ValueError,
            r"counts: expected a non-empty 1-D sequence, got shape \(1, 2\)",
        ),
        ("12", {}, TypeError, r"counts: expected a tensor or a sequence of numbers"),
        ([True, False], {}, TypeError, r"counts: expected real counts, got dtype torch.bool"),
        (
            [1, 2],
            {"scheme": "log"},
            ValueError,
            r"scheme: expected one of 'inverse', 'inverse_sqrt', 'effective_number', got 'log'",
        ),
        (
            [1, 2],
            {"scheme": "effective_number", "beta": 1.0},
            ValueError,
            r"beta: expected a value in \[0.0, 1.0\), got 1.0",
        ),
    ],
)
def test_class_weights_bad_input(counts, kwargs, error, message):
    with pytest.raises(error, match=message):
        class_weights(counts, **kwargs)


# --- the registry ---------------------------------------------------------------------------------

# DESIGN.md section 3: function name in visionloss.functional -> registry name
DESIGN_NAMES = {
    "mse_loss": "mse",
    "mae_loss": "mae",
    "huber_loss": "huber",
    "smooth_l1_loss": "smooth_l1",
    "log_cosh_loss": "log_cosh",
    "charbonnier_loss": "charbonnier",
    "robust_loss": "robust",
    "binary_cross_entropy": "binary_cross_entropy",
    "cross_entropy": "cross_entropy",
    "focal_loss": "focal",
    "poly1_loss": "poly1",
    "varifocal_loss": "varifocal",
    "quality_focal_loss": "quality_focal",
    "distribution_focal_loss": "distribution_focal",
    "dice_loss": "dice",
    "jaccard_loss": "jaccard",
    "tversky_loss": "tversky",
    "focal_tversky_loss": "focal_tversky",
    "generalized_dice_loss": "generalized_dice",
    "lovasz_softmax_loss": "lovasz_softmax",
    "lovasz_hinge_loss": "lovasz_hinge",
    "dice_ce_loss": "dice_ce",
    "dice_focal_loss": "dice_focal",
    "dice_topk_loss": "dice_topk",
    "topk_cross_entropy": "topk_cross_entropy",
    "mcc_loss": "mcc",
    "soft_cldice_loss": "soft_cldice",
    "boundary_loss": "boundary",
    "hausdorff_dt_loss": "hausdorff_dt",
    "box_iou_loss": "box_iou",
    "iou_loss": "iou",
    "giou_loss": "giou",
    "diou_loss": "diou",
    "ciou_loss": "ciou",
    "eiou_loss": "eiou",
    "triplet_margin_loss": "triplet_margin",
    "batch_triplet_loss": "batch_triplet",
    "contrastive_loss": "contrastive",
    "nt_xent_loss": "nt_xent",
    "supervised_contrastive_loss": "supervised_contrastive",
    "arcface_loss": "arcface",
    "cosface_loss": "cosface",
    "multi_similarity_loss": "multi_similarity",
    "clip_loss": "clip",
    "generator_loss": "generator",
    "discriminator_loss": "discriminator",
    "gradient_penalty": "gradient_penalty",
    "r1_penalty": "r1_penalty",
    "gaussian_nll_loss": "gaussian_nll",
    "ssim_loss": "ssim",
    "ms_ssim_loss": "ms_ssim",
    "kl_divergence": "kl_divergence",
    "js_divergence": "js_divergence",
    "total_variation_loss": "total_variation",
    "feature_matching_loss": "feature_matching",
    "gaussian_kl": "gaussian_kl",
    "vae_loss": "vae",
    "perceptual_loss": "perceptual",
}


DESIGN_NAMES_BY_NAME = {v: k for k, v in DESIGN_NAMES.items()}
REGRESSION = {
    "mse_loss",
    "mae_loss",
    "huber_loss",
    "smooth_l1_loss",
    "log_cosh_loss",
    "charbonnier_loss",
    "robust_loss",
}


def _require(*functions: str) -> None:
    missing = [f for f in functions if f not in VF.__all__]
    assert not missing, f"catalogue functions missing from visionloss.functional: {missing}"


@pytest.mark.parametrize(("function", "name"), list(DESIGN_NAMES.items()))
def test_catalogue_function_is_registered_without_suffix(function, name):
    _require(function)
    assert name in visionloss.available_losses()
    assert get_loss(name) is getattr(VF, function)


def test_available_losses_sorted_and_regression_present():
    names = visionloss.available_losses()
    assert names == sorted(names)
    for name in ("mse", "mae", "huber", "smooth_l1", "log_cosh", "charbonnier", "robust"):
        assert name in names
    # every registered catalogue name maps back to an exported function
    assert set(names) <= set(DESIGN_NAMES.values()) | {
        n[:-5] if n.endswith("_loss") else n for n in VF.__all__
    }
    assert "box_convert" not in names


def test_registry_is_read_from_the_specs():
    # one source: every spec's function is exported by functional, its Module by visionloss,
    # and every loss function of functional has a spec (helpers such as box_convert have none)
    from visionloss.losses import SPECS

    spec_functions = {spec.function_name for spec in SPECS}
    assert {spec.name for spec in SPECS} == set(visionloss.available_losses())
    for spec in SPECS:
        assert getattr(VF, spec.function_name) is spec.function
        if spec.module is not None:
            assert getattr(visionloss, spec.module.__name__) is spec.module
    losses = {n for n in VF.__all__ if n.endswith("_loss") or n in DESIGN_NAMES}
    assert losses == spec_functions
    assert "box_convert" in VF.__all__ and "box_convert" not in spec_functions
    # the pairwise matrices of matching are helpers too, not losses
    for helper in ("box_iou", "generalized_box_iou"):
        assert helper in VF.__all__ and helper not in spec_functions


@pytest.mark.parametrize("form", ["huber", "huber_loss", "HuberLoss"])
def test_every_name_form_builds_the_same_loss(form):
    x, y = torch.tensor([0.5, 3.0]), torch.zeros(2)
    expected = VF.huber_loss(x, y, delta=2.0)
    torch.testing.assert_close(build_loss(f"{form}(delta=2.0)")(x, y), expected)
    torch.testing.assert_close(build_loss({"name": form, "delta": 2.0})(x, y), expected)
    assert visionloss.loss_info(form).name == "huber"
    assert get_loss(form) is VF.huber_loss


@pytest.mark.parametrize(
    ("typo", "suggested"), [("mse_los", "mse_loss"), ("MSELos", "MSELoss"), ("hubr", "huber")]
)
def test_typo_suggests_the_closest_of_all_name_forms(typo, suggested):
    with pytest.raises(ValueError, match=rf"did you mean '{suggested}'"):
        build_loss(typo)


def test_build_loss_from_mappings_and_lists():
    x, y = torch.tensor([0.5, 3.0]), torch.zeros(2)
    single = build_loss({"name": "HuberLoss", "delta": 2.0})
    assert isinstance(single, visionloss.HuberLoss) and single.delta == 2.0
    combined = build_loss([{"name": "mse"}, {"name": "huber_loss", "delta": 2.0, "weight": 0.5}])
    assert isinstance(combined, CombinedLoss) and combined.weights == {"mse": 1.0, "huber": 0.5}
    torch.testing.assert_close(
        combined(x, y), VF.mse_loss(x, y) + 0.5 * VF.huber_loss(x, y, delta=2.0)
    )
    weighted = build_loss({"name": "mae", "weight": 3.0})
    torch.testing.assert_close(weighted(x, y), 3 * VF.mae_loss(x, y))
    with pytest.raises(ValueError, match=r"config: huber: delta: expected a value in \(0.0, inf\]"):
        build_loss({"name": "huber", "delta": -1.0})
    with pytest.raises(ValueError, match=r"config\[1\]: expected a 'name' key"):
        build_loss([{"name": "mse"}, {"delta": 1.0}])
    with pytest.raises(ValueError, match=r"config: unknown option 'delta' of the loss 'mse'"):
        build_loss({"name": "mse", "delta": 1.0})
    with pytest.raises(ValueError, match=r"config: expected at least one loss"):
        build_loss([])


def test_build_loss_from_omegaconf():
    omegaconf = pytest.importorskip("omegaconf")
    x, y = torch.tensor([0.5, 3.0]), torch.zeros(2)
    config = omegaconf.OmegaConf.create(
        {"loss": [{"name": "mse"}, {"name": "robust", "alpha": "${alpha}", "weight": 2.0}],
         "alpha": 0.0}
    )
    loss = build_loss(config.loss)
    torch.testing.assert_close(loss(x, y), VF.mse_loss(x, y) + 2 * VF.robust_loss(x, y, alpha=0.0))
    single = build_loss(omegaconf.OmegaConf.create({"name": "huber", "delta": 2.0}))
    assert isinstance(single, visionloss.HuberLoss)


def test_options_are_checked_when_the_loss_is_built_not_at_the_first_call():
    with pytest.raises(ValueError, match=r"delta: expected a value in \(0.0, inf\], got -1.0"):
        visionloss.HuberLoss(delta=-1.0)
    with pytest.raises(ValueError, match=r"expression: huber: delta: expected"):
        build_loss("huber(delta=-1)")
    with pytest.raises(ValueError, match=r"reduction: expected one of"):
        visionloss.MSELoss(reduction="avg")


def test_get_loss_unknown_suggests():
    with pytest.raises(
        ValueError, match=r"name: expected a registered loss, got 'hubr'; did you mean 'huber'"
    ):
        get_loss("hubr")
    with pytest.raises(TypeError, match=r"name: expected a str, got 3"):
        get_loss(3)


@pytest.fixture
def registry_cleanup():
    names: list[str] = []
    yield names
    for name in names:
        unregister(name)


def test_register_function_forms_and_duplicates(registry_cleanup):
    @register
    def edge_loss(input, target, *, scale=1.0, reduction="mean"):
        return scale * (input - target).abs().sum()

    registry_cleanup.append("edge")
    assert get_loss("edge") is edge_loss  # returned unchanged, registered without "_loss"

    @register("scaled_sum")
    def whatever(input, target, *, scales=(1.0, 1.0)):
        return (torch.tensor(scales) * (input - target)).sum()

    registry_cleanup.append("scaled_sum")
    assert build_loss("scaled_sum(scales=[2, -1.5])")(torch.ones(2), torch.zeros(2)).item() == 0.5
    assert build_loss("scaled_sum(scales=(3, 1))")(torch.ones(2), torch.zeros(2)).item() == 4.0

    with pytest.raises(ValueError, match=r"name: 'edge' is already registered \(by register"):
        register("edge")(lambda input, target: input.sum())
    with pytest.raises(
        ValueError,
        match=r"name: 'mse' is already registered \(visionloss.functional.mse_loss\); pass override=True",
    ):
        register("mse")(lambda input, target: input.sum())

    @register("edge", override=True)
    def edge_v2(input, target):
        return (input - target).sum()

    assert get_loss("edge") is edge_v2

    @register(name="mse", override=True)
    def my_mse(input, target):
        return torch.zeros(())

    registry_cleanup.append("mse")
    assert build_loss("mse")(torch.ones(2), torch.zeros(2)).item() == 0.0
    unregister("mse")
    registry_cleanup.remove("mse")
    assert get_loss("mse") is VF.mse_loss  # the catalogue entry is back


def test_register_module_class_and_bad_names(registry_cleanup):
    @register
    class EdgeAwareLoss(nn.Module):
        def __init__(self, *, scale: float = 1.0) -> None:
            super().__init__()
            if scale <= 0:
                raise ValueError(f"scale: expected a value > 0, got {scale!r}")
            self.scale = scale

        def forward(self, input, target):
            return self.scale * (input - target).abs().mean()

    registry_cleanup.append("edge_aware")  # CamelCase -> snake_case, without "_loss"
    loss = build_loss("0.5 * edge_aware(scale=4)")
    assert isinstance(loss.losses["edge_aware"], EdgeAwareLoss)
    assert loss(torch.ones(3), torch.zeros(3)).item() == 2.0
    with pytest.raises(
        ValueError, match=r"expression: edge_aware: scale: expected a value > 0, got -1"
    ):
        build_loss("edge_aware(scale=-1)")
    with pytest.raises(
        ValueError, match=r"unknown option 'size' of the loss 'edge_aware' \(its options: scale\)"
    ):
        build_loss("edge_aware(size=1)")

    for bad in ("_private", "two words", "class", "3d"):
        with pytest.raises(ValueError, match=r"name: expected a Python identifier"):
            register(bad)
    with pytest.raises(TypeError, match=r"register: expected a function or an nn.Module class"):
        register("thing")(int)
    with pytest.raises(TypeError, match=r"override: expected a bool"):
        register("thing", override=1)
    with pytest.raises(ValueError, match=r"name: expected a loss registered with register\(\)"):
        unregister("mse")


# --- build_loss -----------------------------------------------------------------------------------


def test_build_loss_values_equal_the_hand_built_sum(gen):
    x = torch.randn(3, 5, generator=gen, requires_grad=True)
    y = torch.randn(3, 5, generator=gen)
    cases = {
        "mse": VF.mse_loss(x, y),
        "mse + 0.5 * huber(delta=2.0)": VF.mse_loss(x, y) + 0.5 * VF.huber_loss(x, y, delta=2.0),
        "2 * (mse + mae) * 0.25": 0.5 * VF.mse_loss(x, y) + 0.5 * VF.mae_loss(x, y),
        "mae * 3 + robust(alpha=-2, scale=0.5)": 3 * VF.mae_loss(x, y)
        + VF.robust_loss(x, y, alpha=-2.0, scale=0.5),
        "smooth_l1(beta=0) + smooth_l1(beta=1.0, reduction='sum')": VF.mae_loss(x, y)
        + VF.smooth_l1_loss(x, y, reduction="sum"),
        "  charbonnier(eps=1e-2)  ": VF.charbonnier_loss(x, y, eps=1e-2),
        "+1 * log_cosh": VF.log_cosh_loss(x, y),
    }
    for expression, expected in cases.items():
        loss = build_loss(expression)
        assert isinstance(loss, CombinedLoss)
        torch.testing.assert_close(loss(x, y), expected, msg=expression)
    loss = build_loss("mse + 0.5 * mse(reduction='sum') + mae")
    assert list(loss.parts) == [] and list(loss.weights) == ["mse", "mse_2", "mae"]
    loss(x, y)
    torch.testing.assert_close(loss.parts["mse_2"], VF.mse_loss(x, y, reduction="sum"))
    assert loss.weights["mse_2"] == 0.5
    part = loss.losses["mse_2"]
    assert isinstance(part, visionloss.MSELoss) and part.options() == {"reduction": "sum"}
    assert repr(part) == "MSELoss(reduction='sum')"


def test_build_loss_keeps_integer_and_special_literals(registry_cleanup):
    seen = {}

    @register("probe")
    def probe_loss(input, target, *, a=None, b=None, c=None, d=None, e=None):
        seen.update(a=a, b=b, c=c, d=d, e=e)
        return input.sum()

    registry_cleanup.append("probe")
    build_loss("probe(a=-3, b=True, c=None, d='x', e=[1, -2.5])")(torch.ones(1), torch.ones(1))
    assert seen == {"a": -3, "b": True, "c": None, "d": "x", "e": [1, -2.5]}
    assert isinstance(seen["a"], int)


HOSTILE = {
    "__import__('os').system('x')": r"refused attribute access",
    "__import__": r"refused a name starting with '_'",
    "mse().__class__": r"refused attribute access",
    "mse.__class__.__bases__": r"refused attribute access",
    "[x for x in ()]": r"refused a comprehension",
    "(x for x in ())": r"refused a generator expression",
    "mse(a=open('f'))": r"refused a call as the value of option 'a' of 'mse'",
    "mse(reduction=mse)": r"refused a name as the value of option 'reduction' of 'mse'",
    "lambda: 0": r"refused a lambda",
    "mse + exec('1')": r"expected a registered loss name, got 'exec'",
    "eval('mse')": r"expected a registered loss name, got 'eval'",
    "mse" + " + mse" * 200: r"expected at most 1000 characters, got 1203",
    "mse(reduction='" + "x" * 200 + "')": r"refused a string of 200 characters",
    "huber(2.0)": r"refused a positional argument of 'huber'",
    "huber(**{'delta': 2})": r"refused \*\*kwargs",
    "huber(*[2])": r"refused a positional argument",
    "f'{mse}'": r"refused an f-string",
    "mse[0]": r"refused subscripting",
    "mse - mae": r"refused the operator '-'",
    "mse / 2": r"refused the operator '/'",
    "mse ** 2": r"refused the operator '\*\*'",
    "-mse": r"refused a negated loss",
    "-0.5 * mse": r"expected finite weights >= 0, got -0.5",
    "1e999 * mse": r"expected finite weights >= 0, got inf",
    "mse * mae": r"refused a product of two losses",
    "mse + 1": r"refused adding a number",
    "0.5": r"expected at least one loss, got only a number",
    "'mse'": r"refused a string where a loss or a number was expected",
    "mse if True else mae": r"refused a conditional expression",
    "(y := mse)": r"refused an assignment expression",
    "{'a': mse}": r"refused a dict",
    "mse, mae": r"refused a tuple outside an option",
    "mse == mae": r"refused a comparison",
    "mse; import os": r"expected valid Python syntax",
    "import os": r"expected valid Python syntax",
    "mse\x00": r"expected valid Python syntax",
    "mse(": r"expected valid Python syntax",
    "": r"expected a loss expression such as 'mse', got an empty string",
    "msee": r"expected a registered loss name, got 'msee' at column 0; did you mean 'mse'",
    "mse(foo=1)": r"unknown option 'foo' of the loss 'mse' \(its options: reduction\)",
    "mse(__class__=1)": r"refused the option name '__class__'",
    "huber(delta=-1.0)": r"expression: huber: delta: expected a value in \(0.0, inf\], got -1.0",
    "huber(delta='a')": r"expression: huber: delta: expected a real number, got 'a'",
    "mse(reduction='avg')": r"expression: mse: reduction: expected one of 'none', 'mean', 'sum'",
    "huber(delta=[1, 'a'])": r"refused a list or tuple element that is not a number",
    "huber(delta=b'1')": r"refused a bytes constant",
    "huber(delta=1j)": r"refused a complex constant",
    "huber(delta={1})": r"refused a set as the value of option 'delta'",
    "mse.mro()": r"refused attribute access",
    "(lambda: mse)()": r"refused a call of something other than a loss name",
    "[mse][0]": r"refused subscripting",
    "~mse": r"refused the operator '~'",
    "not mse": r"refused the operator 'not'",
    "mse @ mae": r"refused the operator '@'",
}


@pytest.mark.parametrize("expression", list(HOSTILE), ids=[repr(e)[:40] for e in HOSTILE])
def test_build_loss_refuses(expression):
    with pytest.raises(ValueError, match=HOSTILE[expression]):
        build_loss(expression)


def test_build_loss_never_evaluates(monkeypatch):
    calls = []
    monkeypatch.setattr("builtins.eval", lambda *a, **k: calls.append(a))
    monkeypatch.setattr("builtins.exec", lambda *a, **k: calls.append(a))
    build_loss("mse + 0.5 * huber(delta=2.0)")
    with pytest.raises(ValueError):
        build_loss("__import__('os').system('echo hacked')")
    assert calls == []


def test_build_loss_type_and_deep_nesting():
    with pytest.raises(TypeError, match=r"config: expected an expression \(str\), a mapping"):
        build_loss(3)
    deep = "(" * 90 + "mse" + ")" * 90  # parentheses vanish in the ast
    assert build_loss(deep).weights == {"mse": 1.0}
    with pytest.raises(ValueError, match=r"expression: "):
        build_loss("(" * 400 + "mse" + ")" * 400)


def _literal(value) -> str | None:
    if value is None or isinstance(value, bool | str):
        return repr(value)
    if isinstance(value, int | float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, list | tuple) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        return repr(value)
    return None


def _registry_name(function) -> str | None:
    return next((n for n in visionloss.available_losses() if get_loss(n) is function), None)


def _buildable(case) -> bool:
    # rows whose function is registered and whose options can be written as literals
    rendered = [_literal(v) for v in case.options.values()]
    return _registry_name(case.function) is not None and all(v is not None for v in rendered)


@pytest.mark.parametrize("case", [c for c in all_cases() if _buildable(c)], ids=lambda c: c.id)
def test_build_loss_matches_every_catalogue_row(case):
    # every row of the test catalogue whose options are literals, built from its name
    name = _registry_name(case.function)
    rendered = {k: _literal(v) for k, v in case.options.items()}
    expression = f"{name}({', '.join(f'{k}={v}' for k, v in rendered.items())})"
    inputs = case.make_inputs(torch.Generator().manual_seed(0), torch.float64)
    got = build_loss(expression)(*inputs)
    torch.testing.assert_close(got, case.function(*inputs, **case.options))


@pytest.mark.parametrize("name", visionloss.available_losses())
def test_build_loss_builds_every_registered_loss_by_name(name):
    function = get_loss(name)
    spec = visionloss.loss_info(name)
    required = list(spec.required)
    if required:
        with pytest.raises(
            ValueError, match=rf"the loss '{name}' needs the option '{required[0]}'"
        ):
            build_loss(name)
        return
    loss = build_loss(name)
    part = loss.losses[name]
    if spec.module is not None and spec.module.spec is spec:
        assert type(part) is spec.module  # the loss's own Module, options checked
    else:
        assert isinstance(part, FunctionLoss) and part.function is function
    positional = [
        p
        for p in inspect.signature(function).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if name in DESIGN_NAMES.values() and DESIGN_NAMES_BY_NAME[name] in REGRESSION:
        # a plain (input, target) loss: the built Module gives the function's value
        assert len(positional) == 2
        x, y = torch.randn(2, 3), torch.randn(2, 3)
        torch.testing.assert_close(loss(x, y), function(x, y))


# --- build_loss with the other families (each skips until its functions are in functional) -------


def _seg_inputs():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 4, generator=gen)
    target = torch.randint(0, 3, (2, 4, 4), generator=gen)
    return logits, target


def test_build_loss_dice_plus_cross_entropy():
    _require("dice_loss", "cross_entropy")
    logits, target = _seg_inputs()
    loss = build_loss("dice(mode='multiclass') + 0.5 * cross_entropy(label_smoothing=0.1)")
    expected = VF.dice_loss(logits, target, mode="multiclass") + 0.5 * VF.cross_entropy(
        logits, target, label_smoothing=0.1
    )
    torch.testing.assert_close(loss(logits, target), expected)
    assert set(loss.parts) == {"dice", "cross_entropy"}
    with pytest.raises(ValueError, match=r"the loss 'dice' needs the option 'mode'"):
        build_loss("dice + cross_entropy")


def test_build_loss_focal_and_bce():
    _require("focal_loss", "binary_cross_entropy")
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 1, 3, 3, generator=gen)
    target = (torch.rand(4, 1, 3, 3, generator=gen) > 0.5).float()
    loss = build_loss("focal(mode='binary', gamma=2.0) + 0.25 * binary_cross_entropy")
    expected = VF.focal_loss(logits, target, mode="binary", gamma=2.0) + 0.25 * (
        VF.binary_cross_entropy(logits, target)
    )
    torch.testing.assert_close(loss(logits, target), expected)


def test_build_loss_boxes():
    _require("giou_loss", "diou_loss")
    gen = torch.Generator().manual_seed(2)
    xy = torch.rand(5, 2, generator=gen)
    pred = torch.cat([xy, xy + torch.rand(5, 2, generator=gen) + 0.1], dim=1)
    xy = torch.rand(5, 2, generator=gen)
    target = torch.cat([xy, xy + torch.rand(5, 2, generator=gen) + 0.1], dim=1)
    loss = build_loss("giou + 0.5 * diou")
    expected = VF.giou_loss(pred, target) + 0.5 * VF.diou_loss(pred, target)
    torch.testing.assert_close(loss(pred, target), expected)


def test_build_loss_embedding_with_more_than_two_inputs():
    _require("triplet_margin_loss", "batch_triplet_loss")
    gen = torch.Generator().manual_seed(3)
    a, p, n = (torch.randn(6, 8, generator=gen) for _ in range(3))
    loss = build_loss("triplet_margin(margin=0.5)")
    torch.testing.assert_close(loss(a, p, n), VF.triplet_margin_loss(a, p, n, margin=0.5))
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = build_loss("batch_triplet(mining='batch_all', margin=0.3)")
    torch.testing.assert_close(
        loss(a, labels), VF.batch_triplet_loss(a, labels, mining="batch_all", margin=0.3)
    )


def test_build_loss_generative():
    _require("kl_divergence", "gaussian_nll_loss")
    gen = torch.Generator().manual_seed(4)
    p, q = torch.randn(4, 5, generator=gen), torch.randn(4, 5, generator=gen)
    torch.testing.assert_close(build_loss("2 * kl_divergence")(p, q), 2 * VF.kl_divergence(p, q))
    mean, target, logvar = (torch.randn(3, 4, generator=gen) for _ in range(3))
    torch.testing.assert_close(
        build_loss("gaussian_nll")(mean, target, logvar), VF.gaussian_nll_loss(mean, target, logvar)
    )


def test_hydra_style_instantiation_with_config_lists():
    # Hydra's instantiate passes ListConfig values to the class (_convert_ "none" by default):
    # tensor options take them as lists of numbers
    omegaconf = pytest.importorskip("omegaconf")
    config = omegaconf.OmegaConf.create({"mode": "multiclass", "class_weight": [1.0, 2.0, 1.0]})
    loss = visionloss.DiceCELoss(mode=config.mode, class_weight=config.class_weight)
    assert isinstance(loss.class_weight, torch.Tensor) and loss.class_weight.tolist() == [1, 2, 1]
    logits = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    target = torch.randint(0, 3, (2, 4, 4), generator=torch.Generator().manual_seed(1))
    expected = VF.dice_ce_loss(logits, target, class_weight=torch.tensor([1.0, 2.0, 1.0]))
    torch.testing.assert_close(loss(logits, target), expected)
    with pytest.raises(TypeError, match=r"class_weight: expected a tensor or a list of numbers"):
        visionloss.DiceLoss(mode="multiclass", class_weight=["a", "b"])
