"""The latent autoencoder of a latent diffusion model (Rombach et al. 2022, section 3.1): a convolutional VAE
with a KL-regularised diagonal Gaussian posterior that compresses an image by a factor ``f = 2^(levels - 1)``
per side, so a denoiser runs on ``(H / f) x (W / f)`` latents instead of pixels.

    encoder:  conv_in -> per level: ResBlock x layers_per_block, Downsample (bottom-right padded) except last
              -> ResBlock, SpatialAttention, ResBlock -> silu(GN) -> conv_out: 2 x latent_channels maps
    posterior q(z|x) = N(mu, diag sigma^2) from (quant_conv of) those maps, log sigma^2 clamped to [-30, 20]
    decoder:  (post_quant_conv) -> conv_in -> ResBlock, SpatialAttention, ResBlock
              -> per level, lowest first: ResBlock x (layers_per_block + 1), Upsample except last -> conv_out

The loss is the reconstruction error plus ``kl_weight`` times KL(q || N(0, I)) (Rombach et al. use a small
weight, ~1e-6, so the latent stays nearly deterministic but well scaled). A diffusion model sees
``(mu - shift_factor) * scaling_factor`` (``to_latent``), chosen so the latents have about unit variance, and
``from_latent`` inverts it before decoding. The layout follows diffusers' ``AutoencoderKL``
(``autoencoder_interop`` maps it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.gaussian import gaussian_kl, reparameterize
from archlab.core.io import PretrainedMixin
from archlab.core.validation import check_at_least, check_positive
from archlab.diffusion.conv_blocks import Downsample, MiddleBlock, ResBlock, Upsample, group_norm

EPS = 1e-6  # the GroupNorm epsilon throughout (Rombach et al.'s autoencoder)


@dataclass
class AutoencoderConfig:
    """``in_channels`` / ``out_channels`` (None: the same), ``widths`` per level (top first; the compression
    is 2^(levels - 1)), ``layers_per_block``, ``latent_channels``, ``norm_groups``, ``mid_attention``,
    ``quant_conv`` / ``post_quant_conv`` (the 1x1 convolutions around the posterior), and the latent scaling
    ``scaling_factor`` and ``shift_factor``."""

    in_channels: int = 1
    out_channels: Optional[int] = None
    widths: tuple[int, ...] = (32, 64)
    layers_per_block: int = 1
    latent_channels: int = 4
    norm_groups: int = 8
    mid_attention: bool = True
    quant_conv: bool = True
    post_quant_conv: bool = True
    scaling_factor: float = 1.0
    shift_factor: float = 0.0

    def __post_init__(self) -> None:
        self.widths = tuple(self.widths)
        check_at_least(self, 1, "in_channels", "layers_per_block", "latent_channels", "norm_groups")
        check_positive(self, "scaling_factor")
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"widths={self.widths} must be one or more positive channel counts")
        self.out_channels = self.in_channels if self.out_channels is None else self.out_channels
        check_at_least(self, 1, "out_channels")

    @property
    def compression(self) -> int:
        """The factor ``f`` by which each side shrinks."""
        return 2 ** (len(self.widths) - 1)


@dataclass
class Posterior:
    """q(z|x) = N(mean, diag exp(logvar)), each (B, latent_channels, H / f, W / f)."""

    mean: torch.Tensor
    logvar: torch.Tensor

    def sample(self, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return reparameterize(self.mean, self.logvar, generator=generator)

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per image, summed over latent elements: (B,)."""
        return gaussian_kl(self.mean, self.logvar).flatten(1).sum(1)


class Encoder(nn.Module):
    """(B, C, H, W) -> (B, 2 x latent_channels, H / f, W / f): the posterior's mean and log-variance maps."""

    def __init__(self, c: AutoencoderConfig) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(c.in_channels, c.widths[0], 3, padding=1)
        width = c.widths[0]
        self.down = nn.ModuleList()
        for level, out in enumerate(c.widths):
            stage = nn.Module()
            stage.resnets = nn.ModuleList()
            for _ in range(c.layers_per_block):
                stage.resnets.append(ResBlock(width, out, time_dim=None, groups=c.norm_groups, eps=EPS))
                width = out
            stage.downsample = Downsample(width, padding=0) if level < len(c.widths) - 1 else None
            self.down.append(stage)
        self.mid = MiddleBlock(width, time_dim=None, groups=c.norm_groups, eps=EPS, attention=c.mid_attention)
        self.norm_out = group_norm(width, c.norm_groups, EPS)
        self.conv_out = nn.Conv2d(width, 2 * c.latent_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for stage in self.down:
            for resnet in stage.resnets:
                h = resnet(h)
            if stage.downsample is not None:
                h = stage.downsample(h)
        return self.conv_out(F.silu(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    """(B, latent_channels, H / f, W / f) -> (B, C_out, H, W)."""

    def __init__(self, c: AutoencoderConfig) -> None:
        super().__init__()
        width = c.widths[-1]
        self.conv_in = nn.Conv2d(c.latent_channels, width, 3, padding=1)
        self.mid = MiddleBlock(width, time_dim=None, groups=c.norm_groups, eps=EPS, attention=c.mid_attention)
        self.up = nn.ModuleList()
        for level, out in enumerate(reversed(c.widths)):
            stage = nn.Module()
            stage.resnets = nn.ModuleList()
            for _ in range(c.layers_per_block + 1):
                stage.resnets.append(ResBlock(width, out, time_dim=None, groups=c.norm_groups, eps=EPS))
                width = out
            stage.upsample = Upsample(width) if level < len(c.widths) - 1 else None
            self.up.append(stage)
        self.norm_out = group_norm(width, c.norm_groups, EPS)
        self.conv_out = nn.Conv2d(width, c.out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for stage in self.up:
            for resnet in stage.resnets:
                h = resnet(h)
            if stage.upsample is not None:
                h = stage.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class LatentAutoencoder(nn.Module, PretrainedMixin):
    """``encode(x) -> Posterior``, ``decode(z) -> image``; ``forward(x)`` decodes the posterior mean."""

    config_class = AutoencoderConfig

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        self.config = c = config
        self.encoder = Encoder(c)
        self.decoder = Decoder(c)
        self.quant_conv = nn.Conv2d(2 * c.latent_channels, 2 * c.latent_channels, 1) if c.quant_conv else None
        self.post_quant_conv = nn.Conv2d(c.latent_channels, c.latent_channels, 1) if c.post_quant_conv else None

    def encode(self, x: torch.Tensor) -> Posterior:
        f, channels = self.config.compression, self.config.in_channels
        if x.dim() != 4 or x.shape[1] != channels or x.shape[2] % f or x.shape[3] % f:
            raise ValueError(f"images must be (batch, {channels}, H, W) with H and W divisible by the "
                             f"compression {f}, got shape {tuple(x.shape)}")
        moments = self.encoder(x)
        if self.quant_conv is not None:
            moments = self.quant_conv(moments)
        mean, logvar = moments.chunk(2, dim=1)  # (B, Z, h, w) each
        return Posterior(mean, logvar.clamp(-30.0, 20.0))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.post_quant_conv is not None:
            z = self.post_quant_conv(z)
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x).mean)

    def to_latent(self, x: torch.Tensor) -> torch.Tensor:
        """The latents a diffusion model sees: ``(mu - shift_factor) * scaling_factor``."""
        return (self.encode(x).mean - self.config.shift_factor) * self.config.scaling_factor

    def from_latent(self, latents: torch.Tensor) -> torch.Tensor:
        """Images from diffusion latents: ``decode(latents / scaling_factor + shift_factor)``."""
        return self.decode(latents / self.config.scaling_factor + self.config.shift_factor)

    def loss(self, x: torch.Tensor, *, kl_weight: float = 1e-6,
             generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Mean squared reconstruction error per pixel plus ``kl_weight`` x KL per pixel, averaged over the
        batch, with the decoder fed a reparameterised sample."""
        posterior = self.encode(x)
        decoded = self.decode(posterior.sample(generator))
        pixels = x[0].numel()
        return F.mse_loss(decoded, x) + kl_weight * posterior.kl().mean() / pixels
