"""The generative adversarial network (Goodfellow et al. 2014): a generator G(z), z ~ N(0, I), and a
discriminator D in one module, with the loss of each player (``archlab.gan.losses``).

``GAN.loss(batch, player)`` takes a batch holding every random draw of the step, ``{"real": x (B, ...),
"noise": z (B, Z), "mix": eps (B,)}`` (eps for the gradient penalty's interpolates), so that a batch is a pure
function of the seed and the step and splits along its first dimension. ``n_critic`` is the number of
discriminator updates per generator update (5 for WGAN-GP, Gulrajani et al. 2017); ``pack`` is PacGAN's
packing degree; ``norm="spectral"`` spectrally normalises the discriminator (Miyato et al. 2018).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import Tensor, nn

from archlab.core.io import PretrainedMixin
from archlab.core.validation import check_at_least, check_choices, check_positive
from archlab.gan.losses import GAN_LOSSES, GANLoss, discriminator_loss, generator_loss, gradient_penalty
from archlab.gan.networks import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    Norm,
    Output,
)

Architecture = Literal["mlp", "dcgan"]
PLAYERS = ("discriminator", "generator")


@dataclass
class GANConfig:
    """A GAN over items of ``data_shape`` (``(D,)`` vectors for the MLP, ``(C, H, W)`` images, H and W divisible
    by 4, for DCGAN); ``output`` is the generator's last activation (``"sigmoid"`` for images in [0, 1])."""

    data_shape: tuple[int, ...] = (2,)
    architecture: Architecture = "mlp"
    latent_dim: int = 8
    hidden_dim: int = 128
    n_layers: int = 3
    channels: int = 32
    output: Output = "none"
    loss: GANLoss = "non-saturating"
    gp_weight: float = 10.0
    n_critic: int = 1
    pack: int = 1
    norm: Norm = "none"

    def __post_init__(self) -> None:
        self.data_shape = tuple(int(d) for d in self.data_shape)
        check_choices(self, {"architecture": ("mlp", "dcgan"), "output": ("none", "sigmoid"), "loss": GAN_LOSSES,
                             "norm": ("none", "spectral")}, quote=True)
        if not self.data_shape or min(self.data_shape) < 1:
            raise ValueError(f"data_shape={self.data_shape} must be a non-empty tuple of sizes >= 1")
        if self.architecture == "dcgan" and (len(self.data_shape) != 3 or self.data_shape[1] % 4
                                             or self.data_shape[2] % 4):
            raise ValueError(f"data_shape={self.data_shape} must be (C, H, W) with H and W divisible by 4 for "
                             "architecture='dcgan'")
        check_at_least(self, 1, "latent_dim", "hidden_dim", "n_layers", "channels", "n_critic", "pack")
        check_positive(self, "gp_weight")


@dataclass
class GANOutput:
    """``loss`` of the player (scalar); ``d_real`` and ``d_fake`` the batch means of D(x) and D(G(z)) (a
    probability for the minimax and non-saturating losses, the raw critic value otherwise; ``d_real`` is None
    for the generator's loss); ``gradient_penalty`` without its weight (WGAN-GP's discriminator only)."""

    loss: Tensor
    d_fake: Tensor
    d_real: Optional[Tensor] = None
    gradient_penalty: Optional[Tensor] = None


class GAN(PretrainedMixin, nn.Module):
    config_class = GANConfig

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        if c.architecture == "mlp":
            self.generator = MLPGenerator(latent_dim=c.latent_dim, data_shape=c.data_shape, hidden_dim=c.hidden_dim,
                                          n_layers=c.n_layers, output=c.output)
            self.discriminator = MLPDiscriminator(data_shape=c.data_shape, hidden_dim=c.hidden_dim,
                                                  n_layers=c.n_layers, pack=c.pack, norm=c.norm)
        else:
            shape: tuple[int, int, int] = (c.data_shape[0], c.data_shape[1], c.data_shape[2])
            self.generator = DCGANGenerator(latent_dim=c.latent_dim, data_shape=shape, channels=c.channels,
                                            output=c.output)
            self.discriminator = DCGANDiscriminator(data_shape=shape, channels=c.channels, pack=c.pack, norm=c.norm)

    def _shown(self, logits: Tensor) -> Tensor:
        """D's output as logged: a probability for the minimax and non-saturating losses, else the critic value."""
        logits = logits.detach()
        return torch.sigmoid(logits).mean() if self.config.loss in ("minimax", "non-saturating") else logits.mean()

    def loss(self, batch: dict[str, Tensor], player: str) -> GANOutput:
        """The loss of ``player`` (``"discriminator"`` or ``"generator"``) on ``batch`` (see the module docstring)."""
        if player not in PLAYERS:
            raise ValueError(f"player={player!r} is not one of 'discriminator', 'generator'")
        kind = self.config.loss
        if player == "generator":
            fake_logits = self.discriminator(self.generator(batch["noise"]))
            return GANOutput(loss=generator_loss(kind, fake_logits), d_fake=self._shown(fake_logits))
        with torch.no_grad():  # D's loss does not reach G: no graph through the generator
            fake = self.generator(batch["noise"])
        real = batch["real"]
        real_logits, fake_logits = self.discriminator(real), self.discriminator(fake)
        loss = discriminator_loss(kind, real_logits, fake_logits)
        penalty = None
        if kind == "wgan-gp":
            penalty = gradient_penalty(self.discriminator, real, fake, batch["mix"])
            loss = loss + self.config.gp_weight * penalty
        return GANOutput(loss=loss, d_fake=self._shown(fake_logits), d_real=self._shown(real_logits),
                         gradient_penalty=None if penalty is None else penalty.detach())

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """``n`` samples G(z), z ~ N(0, I) drawn from ``generator`` (on its device): (n, *data_shape)."""
        like = next(self.parameters())
        device = generator.device if generator is not None else like.device
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=device).to(like)
        return self.generator(z)
