"""The diagonal Gaussian posterior q(z|x) = N(mu, diag sigma^2) of a variational autoencoder (Kingma and Welling
2014): its reparameterised sample and its KL divergence to the standard normal prior, shared by the VAE family
and the latent autoencoder of the diffusion family.

Code names for the paper's symbols: ``mean`` / ``logvar`` are mu_phi(x) and log sigma_phi(x)^2;
``reparameterize`` is z = mu + sigma * eps with eps ~ N(0, I) (their eq. 10); ``gaussian_kl`` is
D_KL(q || N(0, I)) per dimension, 1/2 (mu^2 + sigma^2 - 1 - log sigma^2) (their Appendix B, sign turned).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def standard_normal(shape: tuple[int, ...], *, generator: Optional[torch.Generator], like: Tensor) -> Tensor:
    """N(0, I) draws of ``shape`` from ``generator`` (on its device), returned on ``like``'s device and dtype."""
    device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=device).to(device=like.device, dtype=like.dtype)


def reparameterize(mean: Tensor, logvar: Tensor, *, generator: Optional[torch.Generator] = None) -> Tensor:
    """z = mean + exp(logvar / 2) * eps, eps ~ N(0, I): a sample of q(z|x) differentiable in mean and logvar
    (eps is drawn on ``generator``'s device, then moved to ``mean``'s)."""
    eps = standard_normal(mean.shape, generator=generator, like=mean)
    return mean + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) per element, in nats: same shape as ``mean``."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)
