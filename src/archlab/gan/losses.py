"""The adversarial losses on discriminator logits (critic values for the Wasserstein loss) and the gradient
penalty. Each loss is a batch mean; ``real`` and ``fake`` are D's outputs (B,) on data and on G(z).

- ``"minimax"`` (Goodfellow et al. 2014, eq. 1): D maximises log D(x) + log(1 - D(G(z))); G minimises
  log(1 - D(G(z))), the saturating loss whose gradient vanishes when D confidently rejects G(z).
- ``"non-saturating"`` (Goodfellow et al. 2014, section 3): the same D; G maximises log D(G(z)) instead.
- ``"hinge"`` (Lim and Ye 2017; Miyato et al. 2018): D minimises E[relu(1 - D(x))] + E[relu(1 + D(G(z)))];
  G minimises -E[D(G(z))].
- ``"wgan-gp"`` (Arjovsky et al. 2017; Gulrajani et al. 2017): the critic minimises E[D(G(z))] - E[D(x)]
  plus the gradient penalty lambda E[(||grad D(x_hat)||_2 - 1)^2] on x_hat = eps x + (1 - eps) G(z),
  eps ~ U[0, 1] per item (their Algorithm 1); G minimises -E[D(G(z))].

D(x) = sigmoid(logit) for the first two; ``log(1 - sigmoid(l)) = -softplus(l)`` and
``log sigmoid(l) = -softplus(-l)`` keep them stable.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

GANLoss = Literal["minimax", "non-saturating", "hinge", "wgan-gp"]
GAN_LOSSES = ("minimax", "non-saturating", "hinge", "wgan-gp")


def _check(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise ValueError(f"loss={kind!r} is not one of {', '.join(repr(k) for k in GAN_LOSSES)}")


def discriminator_loss(kind: GANLoss, real: Tensor, fake: Tensor) -> Tensor:
    """The discriminator's (critic's) loss without the gradient penalty."""
    _check(kind)
    if kind in ("minimax", "non-saturating"):
        return F.softplus(-real).mean() + F.softplus(fake).mean()  # -log D(x) - log(1 - D(G(z)))
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return fake.mean() - real.mean()


def generator_loss(kind: GANLoss, fake: Tensor) -> Tensor:
    """The generator's loss on D's outputs for G(z)."""
    _check(kind)
    if kind == "minimax":
        return -F.softplus(fake).mean()  # log(1 - D(G(z)))
    if kind == "non-saturating":
        return F.softplus(-fake).mean()  # -log D(G(z))
    return -fake.mean()


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, mix: Tensor) -> Tensor:
    """E[(||grad_x critic(x_hat)||_2 - 1)^2] at x_hat = mix * real + (1 - mix) * fake (without lambda).

    ``real``, ``fake`` (B, ...) and ``mix`` (B,) in [0, 1]; ``critic`` maps (B, ...) to (B', ) values (B' = B
    / pack for a packed critic). The gradient norm is taken per critic output: over everything the output
    saw (the whole pack). The graph is kept, so the penalty trains the critic.
    """
    shape = (-1,) + (1,) * (real.dim() - 1)
    x_hat = (mix.view(shape) * real + (1 - mix.view(shape)) * fake.detach()).requires_grad_(True)
    values = critic(x_hat)  # (B',)
    (grad,) = torch.autograd.grad(values.sum(), x_hat, create_graph=True)  # (B, ...)
    per_output = grad.reshape(values.shape[0], -1)  # (B, ...) -> (B', pack * prod(...))
    return (per_output.norm(dim=1) - 1).pow(2).mean()
