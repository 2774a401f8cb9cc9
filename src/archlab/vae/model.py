"""The variational autoencoder (Kingma and Welling 2014): encoder q_phi(z|x), decoder p_theta(x|z), prior N(0, I).

``VAE.loss(x)`` is the negative ELBO per item, -E_q[log p(x|z)] + beta * KL(q(z|x) || p(z)), estimated with one
reparameterised sample (``archlab.vae.objectives``), the KL in closed form, optionally weighted by an annealing
factor (Bowman et al. 2016) and floored per dimension by free bits (Kingma et al. 2016). The likelihood is
``"bernoulli"`` (decoder logits; data in [0, 1]) or ``"gaussian"`` with a fixed standard deviation
``observation_std`` (decoder mean). ``iwae_bound(x, k)`` is Burda et al.'s k-sample bound on log p(x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import Tensor, nn

from archlab.core.gaussian import gaussian_kl, reparameterize, standard_normal
from archlab.core.io import PretrainedMixin
from archlab.core.validation import check_at_least, check_choices, check_positive
from archlab.vae.networks import build_encoder_decoder, check_conv_shape
from archlab.vae.objectives import (
    bernoulli_log_likelihood,
    free_bits_kl,
    gaussian_log_density,
    gaussian_log_likelihood,
    iwae_bound,
    standard_normal_log_density,
)

Likelihood = Literal["bernoulli", "gaussian"]
Architecture = Literal["mlp", "conv"]


@dataclass
class VAEConfig:
    """A VAE over items of ``data_shape`` (``(C, H, W)`` images, or ``(D,)`` vectors for the MLP).

    ``beta`` weights the KL (beta-VAE); ``free_bits`` is lambda in nats per latent dimension (0: off);
    ``kl_anneal_steps`` is the length of the linear KL warm-up of a training run (0: off; the task applies it).
    """

    data_shape: tuple[int, ...] = (1, 8, 8)
    architecture: Architecture = "mlp"
    latent_dim: int = 8
    hidden_dim: int = 256
    channels: int = 32
    likelihood: Likelihood = "bernoulli"
    observation_std: float = 0.1
    beta: float = 1.0
    free_bits: float = 0.0
    kl_anneal_steps: int = 0

    def __post_init__(self) -> None:
        self.data_shape = tuple(int(d) for d in self.data_shape)
        check_choices(self, {"architecture": ("mlp", "conv"), "likelihood": ("bernoulli", "gaussian")}, quote=True)
        if not self.data_shape or min(self.data_shape) < 1:
            raise ValueError(f"data_shape={self.data_shape} must be a non-empty tuple of sizes >= 1")
        if self.architecture == "conv":
            check_conv_shape(self.data_shape)
        check_at_least(self, 1, "latent_dim", "hidden_dim", "channels")
        check_positive(self, "observation_std", "beta")
        check_at_least(self, 0, "free_bits", "kl_anneal_steps")


@dataclass
class VAEOutput:
    """``loss`` the objective (scalar, batch mean); ``reconstruction`` -E_q[log p(x|z)] and ``kl`` KL(q || p)
    (scalars, batch means, nats); ``kl_per_dim`` (Z,) the batch mean KL of each latent dimension; ``mean``
    (B, Z) the posterior means."""

    loss: Tensor
    reconstruction: Tensor
    kl: Tensor
    kl_per_dim: Tensor
    mean: Tensor

    @property
    def elbo(self) -> Tensor:
        """The ELBO (batch mean, nats): -(reconstruction + kl), whatever beta, annealing and free bits were."""
        return -(self.reconstruction + self.kl)


class VAE(PretrainedMixin, nn.Module):
    config_class = VAEConfig

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder, self.decoder = build_encoder_decoder(
            config.architecture, data_shape=config.data_shape, latent_dim=config.latent_dim,
            hidden_dim=config.hidden_dim, channels=config.channels)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The posterior q(z|x): ``(mean, logvar)``, each (B, Z)."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """The parameter of p(x|z) for z (B, Z): logits (Bernoulli) or means (Gaussian), (B, *data_shape)."""
        return self.decoder(z)

    def log_likelihood(self, x: Tensor, decoded: Tensor) -> Tensor:
        """log p(x|z) (B,) given the decoder's output for z."""
        if self.config.likelihood == "bernoulli":
            return bernoulli_log_likelihood(x, decoded)
        return gaussian_log_likelihood(x, decoded, self.config.observation_std)

    def mean_of(self, decoded: Tensor) -> Tensor:
        """E[x|z] from the decoder's output: sigmoid of the logits (Bernoulli) or the mean itself (Gaussian)."""
        return torch.sigmoid(decoded) if self.config.likelihood == "bernoulli" else decoded

    def loss(self, x: Tensor, *, kl_weight: float = 1.0, generator: Optional[torch.Generator] = None) -> VAEOutput:
        """The negative ELBO of ``x`` (B, *data_shape) with one reparameterised sample, the KL weighted by
        ``beta * kl_weight`` and floored by free bits."""
        mean, logvar = self.encode(x)
        z = reparameterize(mean, logvar, generator=generator)
        reconstruction = -self.log_likelihood(x, self.decode(z)).mean()
        kl = gaussian_kl(mean, logvar)  # (B, Z)
        kl_term = free_bits_kl(kl, self.config.free_bits)
        loss = reconstruction + self.config.beta * kl_weight * kl_term
        return VAEOutput(loss=loss, reconstruction=reconstruction, kl=kl.sum(-1).mean(), kl_per_dim=kl.mean(0),
                         mean=mean)

    def iwae_bound(self, x: Tensor, k: int, *, generator: Optional[torch.Generator] = None) -> Tensor:
        """Burda et al.'s L_k for each item of ``x``: (B,) nats, a lower bound on log p(x) that tightens with k."""
        if k < 1:
            raise ValueError(f"k={k} must be >= 1")
        mean, logvar = self.encode(x)
        b = x.shape[0]
        z = reparameterize(mean.expand(k, *mean.shape), logvar.expand(k, *logvar.shape),
                           generator=generator)  # (K, B, Z)
        decoded = self.decode(z.reshape(k * b, -1))  # (K*B, *data_shape)
        x_rep = x.expand(k, *x.shape).reshape(k * b, *x.shape[1:])  # (K, B, ...) -> (K*B, ...)
        log_px_z = self.log_likelihood(x_rep, decoded).view(k, b)  # (K*B,) -> (K, B)
        log_joint = log_px_z + standard_normal_log_density(z)
        return iwae_bound(log_joint, gaussian_log_density(z, mean, logvar))

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """``n`` items E[x|z], z ~ N(0, I): (n, *data_shape)."""
        z = standard_normal((n, self.config.latent_dim), generator=generator, like=next(self.parameters()))
        return self.mean_of(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """E[x|z] at the posterior mean z = mu(x): (B, *data_shape)."""
        return self.mean_of(self.decode(self.encode(x)[0]))
