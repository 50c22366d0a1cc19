"""A first look at visionloss: a few losses on a toy regression, with one training step."""

import torch

import visionloss
import visionloss.functional as VF

torch.manual_seed(0)
pred = torch.randn(4, 3, 8, 8, requires_grad=True)
target = torch.randn(4, 3, 8, 8)
target[0, 0, 0, 0] = 50.0  # one outlier

print(f"{'loss':<14}{'value':>10}{'grad norm':>12}")
for name, fn in [
    ("mse", VF.mse_loss),
    ("mae", VF.mae_loss),
    ("huber", VF.huber_loss),
    ("log_cosh", VF.log_cosh_loss),
    ("charbonnier", VF.charbonnier_loss),
    ("robust a=0", lambda x, y: VF.robust_loss(x, y, alpha=0.0)),
]:
    loss = fn(pred, target)
    (grad,) = torch.autograd.grad(loss, pred)
    print(f"{name:<14}{loss.item():>10.4f}{grad.norm().item():>12.4f}")

# the Module form, with a learnable shape parameter (Barron's adaptive loss)
criterion = visionloss.RobustLoss(alpha=torch.nn.Parameter(torch.tensor(1.0)))
optimizer = torch.optim.SGD([pred, *criterion.parameters()], lr=0.1)
loss = criterion(pred, target)
loss.backward()
optimizer.step()
print(f"{criterion}: loss {loss.item():.4f}, alpha after one step {criterion.alpha.item():.4f}")
