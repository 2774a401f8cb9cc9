"""The convolutional blocks the U-Net denoiser and the latent autoencoder are built from.

- ``ResBlock``: the residual block of Ho et al. 2020 (after Wide ResNets, Zagoruyko and Komodakis 2016) with
  GroupNorm (Wu and He 2018): ``h = conv1(silu(GN(x)))``; the time embedding enters as a per-channel bias
  ``h += W silu(e)``, or as a scale and shift after the second norm (``"scale_shift"``: Dhariwal and Nichol
  2021, section 3.1, "AdaGN"); ``out = (shortcut(x) + conv2(dropout(silu(GN(h))))) / output_scale``. Without a
  time embedding (the autoencoder) the injection is skipped.
- ``SpatialAttention``: self-attention over the H x W positions of a feature map (Ho et al. 2020 put it at the
  16 x 16 resolution), pre-normed by GroupNorm, residual, divided by ``output_scale``; optionally followed by
  cross-attention to a condition sequence (Rombach et al. 2022, section 3.3: queries from the image, keys and
  values from the text encoder's token states).
- ``Downsample``: a stride-2 3 x 3 convolution, padded 1 on every side, or (``padding=0``, the latent
  autoencoder) padded by one row and column at the bottom and right only.
- ``Upsample``: nearest-neighbour doubling, then a 3 x 3 convolution.

The layer names follow diffusers' ``ResnetBlock2D`` / ``Attention`` / ``Downsample2D`` / ``Upsample2D``
enough that conversion is a rename (``unet_interop``, ``autoencoder_interop``).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.attention import MultiHeadAttention

TIME_INJECTIONS = ("default", "scale_shift")


def group_norm(channels: int, groups: int, eps: float) -> nn.GroupNorm:
    """``GroupNorm(groups, channels)``; a channel count ``groups`` does not divide is a ``ValueError``."""
    if groups < 1 or channels % groups:
        raise ValueError(f"norm groups={groups} must divide the channel count {channels}")
    return nn.GroupNorm(groups, channels, eps=eps)


class ResBlock(nn.Module):
    """``(x (B, C_in, H, W), e (B, D_t) or None) -> (B, C_out, H, W)``."""

    def __init__(self, in_channels: int, out_channels: int, *, time_dim: Optional[int], groups: int,
                 eps: float, dropout: float = 0.0, time_injection: str = "default",
                 output_scale: float = 1.0) -> None:
        super().__init__()
        if time_injection not in TIME_INJECTIONS:
            raise ValueError(f"time_injection={time_injection!r} is not one of {', '.join(TIME_INJECTIONS)}")
        self.time_injection, self.output_scale = time_injection, output_scale
        self.norm1 = group_norm(in_channels, groups, eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        width = 2 * out_channels if time_injection == "scale_shift" else out_channels
        self.time_proj = nn.Linear(time_dim, width) if time_dim else None
        self.norm2 = group_norm(out_channels, groups, eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, e: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_proj is not None:
            if e is None:
                raise ValueError("this block injects a time embedding: call it with e=(batch, time_dim)")
            t = self.time_proj(F.silu(e))[:, :, None, None]  # (B, C or 2C, 1, 1)
            if self.time_injection == "scale_shift":
                scale, shift = t.chunk(2, dim=1)
                h = self.norm2(h) * (1 + scale) + shift
            else:
                h = self.norm2(h + t)
        else:
            h = self.norm2(h)
        h = self.conv2(self.dropout(F.silu(h)))
        skip = x if self.shortcut is None else self.shortcut(x)
        return (skip + h) / self.output_scale


class SpatialAttention(nn.Module):
    """``(x (B, C, H, W), context (B, Lc, D_c) or None) -> (B, C, H, W)``: self-attention over positions, and
    cross-attention to ``context`` when built with ``d_context``."""

    def __init__(self, channels: int, *, head_dim: int, groups: int, eps: float, output_scale: float = 1.0,
                 d_context: Optional[int] = None) -> None:
        super().__init__()
        if channels % head_dim:
            raise ValueError(f"attention head_dim={head_dim} must divide the channel count {channels}")
        self.output_scale = output_scale
        self.norm = group_norm(channels, groups, eps)
        self.attn = MultiHeadAttention(d_model=channels, n_heads=channels // head_dim, head_dim=head_dim)
        if d_context is None:
            self.cross_norm = self.cross_attn = None
        else:
            self.cross_norm = nn.LayerNorm(channels)
            self.cross_attn = MultiHeadAttention(d_model=channels, n_heads=channels // head_dim, head_dim=head_dim,
                                                 d_context=d_context)

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, c, height, width = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, C, H, W) -> (B, HW, C)
        h = self.attn(tokens).transpose(1, 2).reshape(b, c, height, width)  # -> (B, C, H, W)
        x = (x + h) / self.output_scale
        if self.cross_attn is None:
            if context is not None:
                raise ValueError("this attention has no cross-attention: build the model with d_context")
            return x
        if context is None:
            raise ValueError("cross-attention needs context=(batch, length, d_context)")
        tokens = x.flatten(2).transpose(1, 2)  # (B, HW, C)
        tokens = tokens + self.cross_attn(self.cross_norm(tokens), context=context)
        return tokens.transpose(1, 2).reshape(b, c, height, width)


class Downsample(nn.Module):
    """(B, C, H, W) -> (B, C, H / 2, W / 2) by a stride-2 3 x 3 convolution."""

    def __init__(self, channels: int, *, padding: int = 1) -> None:
        super().__init__()
        if padding not in (0, 1):
            raise ValueError(f"downsample padding={padding} must be 0 (bottom-right) or 1 (every side)")
        self.asymmetric = padding == 0
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.asymmetric:
            x = F.pad(x, (0, 1, 0, 1))  # one column right, one row below
        return self.conv(x)


class Upsample(nn.Module):
    """(B, C, H, W) -> (B, C, 2H, 2W): nearest-neighbour doubling, then a 3 x 3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class MiddleBlock(nn.Module):
    """The lowest resolution's ``ResBlock -> SpatialAttention (optional) -> ResBlock``, channels unchanged."""

    def __init__(self, channels: int, *, time_dim: Optional[int], groups: int, eps: float, attention: bool,
                 head_dim: Optional[int] = None, attention_groups: Optional[int] = None, dropout: float = 0.0,
                 time_injection: str = "default", output_scale: float = 1.0,
                 d_context: Optional[int] = None) -> None:
        super().__init__()
        kwargs = dict(time_dim=time_dim, groups=groups, eps=eps, dropout=dropout, time_injection=time_injection,
                      output_scale=output_scale)
        self.res1 = ResBlock(channels, channels, **kwargs)
        self.attn = SpatialAttention(channels, head_dim=head_dim or channels, groups=attention_groups or groups,
                                     eps=eps, output_scale=output_scale, d_context=d_context) if attention else None
        self.res2 = ResBlock(channels, channels, **kwargs)

    def forward(self, h: torch.Tensor, e: Optional[torch.Tensor] = None,
                context: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.res1(h, e)
        if self.attn is not None:
            h = self.attn(h, context)
        return self.res2(h, e)
