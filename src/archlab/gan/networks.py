"""Generators and discriminators: MLPs for vectors (the 2-D ring) and DCGAN-style convolutional nets for images.

DCGAN (Radford et al. 2016): the generator projects z to a (2ch, H/4, W/4) map and doubles the resolution
twice with stride-2 4x4 transposed convolutions, batch norm and ReLU; the discriminator halves it twice with
stride-2 4x4 convolutions and LeakyReLU(0.2). Simplified here: no batch norm in the discriminator (a
gradient penalty is per item, Gulrajani et al. 2017, and packing mixes items), weights keep torch's default
initialisation rather than N(0, 0.02).

Packing (Lin et al. 2018, PacGAN): the discriminator judges ``pack`` samples at once, all real or all fake,
concatenated (the MLP's inputs end to end, the convolution's along channels): (B, ...) -> (B / pack, pack *
...). A collapsed generator's packs hold near-duplicates, which real packs seldom do, so D can penalise it.
Spectral normalisation (``archlab.gan.spectral_norm``) wraps every linear and convolution of the
discriminator when ``norm="spectral"``.
"""

from __future__ import annotations

import math
from typing import Literal

from torch import Tensor, nn

from archlab.core.mlp import hidden_layers
from archlab.gan.spectral_norm import spectral_norm

Output = Literal["none", "sigmoid"]
Norm = Literal["none", "spectral"]


def _output_layer(output: Output) -> nn.Module:
    return nn.Sigmoid() if output == "sigmoid" else nn.Identity()


def _normed(layer: nn.Module, norm: Norm) -> nn.Module:
    return spectral_norm(layer) if norm == "spectral" else layer


def pack_items(x: Tensor, pack: int) -> Tensor:
    """(B, ...) -> (B / pack, pack, ...): consecutive items grouped into packs."""
    if x.shape[0] % pack:
        raise ValueError(f"a batch of {x.shape[0]} items does not split into packs of {pack}")
    return x.reshape(x.shape[0] // pack, pack, *x.shape[1:])


class MLPGenerator(nn.Module):
    """z (B, Z) -> [Linear, ReLU] x n_layers -> Linear -> (B, *data_shape)."""

    def __init__(self, *, latent_dim: int, data_shape: tuple[int, ...], hidden_dim: int, n_layers: int,
                 output: Output = "none") -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        layers, width = hidden_layers(latent_dim, hidden_dim, n_layers)
        self.net = nn.Sequential(*layers, nn.Linear(width, math.prod(data_shape)), _output_layer(output))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.data_shape)  # (B, D) -> (B, *data_shape)


class MLPDiscriminator(nn.Module):
    """x (B, *data_shape) -> packs (B/pack, pack * D) -> [Linear, LeakyReLU(0.2)] x n_layers -> Linear -> (B/pack,)."""

    def __init__(self, *, data_shape: tuple[int, ...], hidden_dim: int, n_layers: int, pack: int = 1,
                 norm: Norm = "none") -> None:
        super().__init__()
        self.pack = pack
        layers, width = hidden_layers(pack * math.prod(data_shape), hidden_dim, n_layers,
                                      act=lambda: nn.LeakyReLU(0.2), wrap=lambda layer: _normed(layer, norm))
        self.net = nn.Sequential(*layers, _normed(nn.Linear(width, 1), norm))

    def forward(self, x: Tensor) -> Tensor:
        packed = pack_items(x, self.pack).flatten(1)  # (B/pack, pack, ...) -> (B/pack, pack * D)
        return self.net(packed).squeeze(-1)


class DCGANGenerator(nn.Module):
    """z (B, Z) -> Linear -> (B, 2ch, H/4, W/4) -> 2 x [ConvT 4x4 stride 2, BN, ReLU] -> Conv 3x3 -> (B, C, H, W)."""

    def __init__(self, *, latent_dim: int, data_shape: tuple[int, int, int], channels: int,
                 output: Output = "none") -> None:
        super().__init__()
        c, h, w = data_shape
        self.start = (2 * channels, h // 4, w // 4)
        self.project = nn.Sequential(nn.Linear(latent_dim, math.prod(self.start)), nn.ReLU())
        self.body = nn.Sequential(
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1),  # (B, ch, H/2, W/2)
            nn.BatchNorm2d(channels), nn.ReLU(),
            nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1),  # (B, ch, H, W)
            nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, c, 3, padding=1), _output_layer(output),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.project(z).view(z.shape[0], *self.start))  # (B, 2ch*H/4*W/4) -> (B, 2ch, H/4, W/4)


class DCGANDiscriminator(nn.Module):
    """(B, C, H, W) -> packs (B/pack, pack*C, H, W) -> 2 x [Conv 4x4 stride 2, LeakyReLU] -> Linear -> (B/pack,)."""

    def __init__(self, *, data_shape: tuple[int, int, int], channels: int, pack: int = 1, norm: Norm = "none") -> None:
        super().__init__()
        c, h, w = data_shape
        self.pack = pack
        self.body = nn.Sequential(
            # (B', pack*C, H, W) -> (B', ch, H/2, W/2)
            _normed(nn.Conv2d(pack * c, channels, 4, stride=2, padding=1), norm), nn.LeakyReLU(0.2),
            _normed(nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), norm), nn.LeakyReLU(0.2),  # H/4, W/4
        )
        self.head = _normed(nn.Linear(2 * channels * (h // 4) * (w // 4), 1), norm)

    def forward(self, x: Tensor) -> Tensor:
        packed = pack_items(x, self.pack).flatten(1, 2)  # (B/pack, pack, C, H, W) -> (B/pack, pack*C, H, W)
        return self.head(self.body(packed).flatten(1)).squeeze(-1)  # (B', 2ch, H/4, W/4) -> (B', 2ch*H/4*W/4)
