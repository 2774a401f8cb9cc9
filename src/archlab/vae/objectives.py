"""The terms of the variational objective: a diagonal Gaussian posterior, its KL to the prior, likelihoods,
the ELBO's training knobs (beta, KL annealing, free bits), the importance-weighted bound and active units.

Kingma and Welling 2014 (*Auto-Encoding Variational Bayes*); the posterior's sample (``reparameterize``) and its
KL to the prior (``gaussian_kl``) are ``archlab.core.gaussian``'s, shared with the diffusion family's latent
autoencoder.

- beta-VAE (Higgins et al. 2017): the KL weighted by ``beta``.
- KL annealing (Bowman et al. 2016): the KL weighted by ``kl_anneal_weight(step)``, rising linearly 0 -> 1.
- Free bits (Kingma et al. 2016, *Improved Variational Inference with Inverse Autoregressive Flow*, eq. 15):
  each latent dimension's KL, averaged over the batch, is replaced by max(lambda, KL_j), so a dimension under
  lambda nats gets no gradient pushing it further to the prior (``free_bits_kl``).
- IWAE (Burda et al. 2016, eq. 8): L_k = E[log 1/k sum_i p(x, z_i) / q(z_i | x)], z_i ~ q(z|x); L_1 is the ELBO
  and L_k rises to log p(x) as k grows (``iwae_bound``).
- Active units (Burda et al. 2016, section 5.2): A_u = Cov_x(E_{q(u|x)}[u]) > 1e-2 (``active_units``).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor


LOG_2PI = math.log(2 * math.pi)
ACTIVE_UNIT_THRESHOLD = 1e-2


def gaussian_log_density(z: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mean, diag exp(logvar)) summed over the last dimension: (..., Z) -> (...)."""
    return -0.5 * (LOG_2PI + logvar + (z - mean).pow(2) / logvar.exp()).sum(-1)


def standard_normal_log_density(z: Tensor) -> Tensor:
    """log N(z; 0, I) summed over the last dimension: (..., Z) -> (...)."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def bernoulli_log_likelihood(x: Tensor, logits: Tensor) -> Tensor:
    """log p(x|z) of independent Bernoulli pixels with the given logits (x in [0, 1], continuous values allowed,
    the usual relaxation), summed over every dimension but the first: (B, ...) -> (B,)."""
    ll = -torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return ll.flatten(1).sum(-1)


def gaussian_log_likelihood(x: Tensor, mean: Tensor, std: float) -> Tensor:
    """log N(x; mean, std^2 I) summed over every dimension but the first: (B, ...) -> (B,)."""
    ll = -0.5 * (LOG_2PI + 2 * math.log(std) + (x - mean).pow(2) / std**2)
    return ll.flatten(1).sum(-1)


def free_bits_kl(kl: Tensor, free_bits: float) -> Tensor:
    """The KL term with free bits: sum_j max(lambda, mean_batch KL_j), from the per-item, per-dimension KL (B, Z).

    The result is a scalar for the whole batch; with ``free_bits=0`` it equals ``kl.sum(-1).mean()``.
    """
    if free_bits < 0:
        raise ValueError(f"free_bits={free_bits} must be >= 0")
    return kl.mean(0).clamp_min(free_bits).sum()


def kl_anneal_weight(step: int, anneal_steps: int) -> float:
    """The KL weight of Bowman et al.'s annealing at optimiser step ``step`` (0-based): linear from 0 to 1 over
    ``anneal_steps`` steps, then 1; ``anneal_steps=0`` is no annealing (always 1)."""
    if anneal_steps <= 0:
        return 1.0
    return min(1.0, step / anneal_steps)


def iwae_bound(log_joint: Tensor, log_q: Tensor) -> Tensor:
    """L_k from k importance samples: log(1/k sum_i exp(log p(x, z_i) - log q(z_i|x))).

    ``log_joint`` and ``log_q`` are (K, B); returns (B,).
    """
    k = log_joint.shape[0]
    return torch.logsumexp(log_joint - log_q, dim=0) - math.log(k)


def active_units(means: Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """The number of latent dimensions whose posterior mean varies over the data: Var_x(mu_j(x)) > threshold.

    ``means`` is (N, Z), the posterior means of N inputs."""
    if means.shape[0] < 2:
        raise ValueError(f"active_units needs at least 2 posterior means, got {means.shape[0]}")
    return int((means.var(dim=0) > threshold).sum())
