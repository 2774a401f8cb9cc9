"""Encoders and decoders of the VAE: an MLP pair for any data shape and a convolutional pair for images.

An encoder maps x (B, *data_shape) to the parameters of q(z|x), ``(mean, logvar)`` each (B, Z); a decoder maps
z (B, Z) to the parameter of p(x|z) with x's shape: Bernoulli logits or a Gaussian mean. The convolutional
pair follows DCGAN's layout (Radford et al. 2016): stride-2 4x4 convolutions halve the resolution twice, and
transposed stride-2 4x4 convolutions double it back, so an image side must be divisible by 4. Weights keep
torch's default initialisation.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from archlab.core.mlp import hidden_layers


class MLPEncoder(nn.Module):
    """x (B, *data_shape) -> flatten -> [Linear, ReLU] x n_layers -> Linear -> (mean, logvar), each (B, Z)."""

    def __init__(self, *, data_shape: tuple[int, ...], latent_dim: int, hidden_dim: int, n_layers: int = 2) -> None:
        super().__init__()
        layers, width = hidden_layers(math.prod(data_shape), hidden_dim, n_layers)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2 * latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, logvar = self.head(self.body(x.flatten(1))).chunk(2, dim=-1)  # (B, 2Z) -> 2 x (B, Z)
        return mean, logvar


class MLPDecoder(nn.Module):
    """z (B, Z) -> [Linear, ReLU] x n_layers -> Linear -> (B, *data_shape)."""

    def __init__(self, *, data_shape: tuple[int, ...], latent_dim: int, hidden_dim: int, n_layers: int = 2) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        layers, width = hidden_layers(latent_dim, hidden_dim, n_layers)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, math.prod(data_shape))

    def forward(self, z: Tensor) -> Tensor:
        return self.head(self.body(z)).view(z.shape[0], *self.data_shape)  # (B, D) -> (B, *data_shape)


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> conv 3x3 -> two stride-2 4x4 convs (H/4, W/4) -> Linear -> (mean, logvar), each (B, Z)."""

    def __init__(self, *, data_shape: tuple[int, int, int], latent_dim: int, channels: int) -> None:
        super().__init__()
        c, h, w = data_shape
        self.body = nn.Sequential(
            nn.Conv2d(c, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.ReLU(),  # (B, 2ch, H/2, W/2)
            nn.Conv2d(2 * channels, 2 * channels, 4, stride=2, padding=1), nn.ReLU(),  # (B, 2ch, H/4, W/4)
        )
        self.head = nn.Linear(2 * channels * (h // 4) * (w // 4), 2 * latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.body(x).flatten(1)  # (B, 2ch, H/4, W/4) -> (B, 2ch * H/4 * W/4)
        mean, logvar = self.head(features).chunk(2, dim=-1)  # (B, 2Z) -> 2 x (B, Z)
        return mean, logvar


class ConvDecoder(nn.Module):
    """z (B, Z) -> Linear -> (B, 2ch, H/4, W/4) -> two stride-2 4x4 transposed convs -> conv 3x3 -> (B, C, H, W)."""

    def __init__(self, *, data_shape: tuple[int, int, int], latent_dim: int, channels: int) -> None:
        super().__init__()
        c, h, w = data_shape
        self.start = (2 * channels, h // 4, w // 4)
        self.project = nn.Linear(latent_dim, math.prod(self.start))
        self.body = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), nn.ReLU(),  # (B, ch, H/2, W/2)
            nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1), nn.ReLU(),  # (B, ch, H, W)
            nn.Conv2d(channels, c, 3, padding=1),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.project(z).view(z.shape[0], *self.start))  # (B, 2ch*H/4*W/4) -> (B, 2ch, H/4, W/4)


def check_conv_shape(data_shape: tuple[int, ...]) -> None:
    """The convolutional pair needs a (C, H, W) shape with H and W divisible by 4."""
    if len(data_shape) != 3 or data_shape[1] % 4 or data_shape[2] % 4:
        raise ValueError(f"data_shape={tuple(data_shape)} must be (C, H, W) with H and W divisible by 4 for "
                         "architecture='conv'")


def build_encoder_decoder(architecture: str, *, data_shape: tuple[int, ...], latent_dim: int, hidden_dim: int,
                          channels: int) -> tuple[nn.Module, nn.Module]:
    """The encoder and decoder of ``architecture`` (``"mlp" | "conv"``)."""
    if architecture == "mlp":
        return (MLPEncoder(data_shape=data_shape, latent_dim=latent_dim, hidden_dim=hidden_dim),
                MLPDecoder(data_shape=data_shape, latent_dim=latent_dim, hidden_dim=hidden_dim))
    if architecture == "conv":
        check_conv_shape(data_shape)
        shape = tuple(data_shape)
        return (ConvEncoder(data_shape=shape, latent_dim=latent_dim, channels=channels),  # type: ignore[arg-type]
                ConvDecoder(data_shape=shape, latent_dim=latent_dim, channels=channels))  # type: ignore[arg-type]
    raise ValueError(f"architecture={architecture!r} is not one of 'mlp', 'conv'")
