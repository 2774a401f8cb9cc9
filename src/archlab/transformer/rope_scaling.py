"""RoPE frequency scaling for contexts longer than the one a model was trained on.

- ``"linear"`` (position interpolation, Chen et al. 2023, "Extending Context Window of Large Language Models via
  Positional Interpolation"): every frequency ``theta_i`` is divided by ``factor``, i.e. positions are squeezed.
- ``"llama3"`` (Meta, Llama 3.1, 2024): frequencies whose wavelength ``2 pi / theta_i`` exceeds
  ``original_max_len / low_freq_factor`` are divided by ``factor``, those shorter than
  ``original_max_len / high_freq_factor`` are kept, and the band between is interpolated smoothly.

``ScaledRotaryEmbedding`` is ``core.positional.RotaryEmbedding`` with those frequencies; the rotation itself
(rotate_half layout) is the core one.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from archlab.core.positional import RotaryEmbedding, apply_rope

RopeScalingKind = Literal["none", "linear", "llama3"]


def rope_inv_freq(
    head_dim: int,
    base: float,
    *,
    kind: RopeScalingKind = "none",
    factor: float = 1.0,
    low_freq_factor: float = 1.0,
    high_freq_factor: float = 4.0,
    original_max_len: int = 8192,
) -> torch.Tensor:
    """The rotation frequencies ``theta_i`` (head_dim / 2,) in float64, scaled as ``kind`` says."""
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # (Dh/2,)
    if kind == "none":
        return inv_freq
    if kind == "linear":
        return inv_freq / factor
    if kind == "llama3":
        wavelen = 2 * math.pi / inv_freq
        low_freq_wavelen = original_max_len / low_freq_factor
        high_freq_wavelen = original_max_len / high_freq_factor
        scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth = (original_max_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
        return torch.where(medium, blended, scaled)
    raise ValueError(f"rope_scaling={kind!r} is not one of 'none', 'linear', 'llama3'")


class ScaledRotaryEmbedding(RotaryEmbedding):
    """1D RoPE at the frequencies ``inv_freq`` (Dh/2,) instead of the plain ``base^(-2i/d)``."""

    def __init__(self, head_dim: int, *, inv_freq: torch.Tensor, max_len: int = 4096) -> None:
        super().__init__(head_dim, max_len=1)
        if inv_freq.shape != (head_dim // 2,):
            raise ValueError(f"inv_freq must have shape ({head_dim // 2},), got {tuple(inv_freq.shape)}")
        self.inv_freq = inv_freq.to(torch.float64)
        self.cos, self.sin = self._angles(torch.arange(max_len))  # (max_len, Dh) each

    def _angles(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = positions.to(torch.float64)[:, None] * self.inv_freq.to(positions.device)[None, :]  # (L, Dh/2)
        emb = torch.cat((freqs, freqs), dim=-1)  # (L, Dh)
        return emb.cos().float(), emb.sin().float()

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        if positions.numel() and int(positions.max()) >= self.cos.shape[0]:
            cos, sin = self._angles(positions)
        else:
            cos, sin = self.cos[positions], self.sin[positions]  # (L, Dh)
        return apply_rope(x, cos, sin)
