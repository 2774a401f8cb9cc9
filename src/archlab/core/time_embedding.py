"""The sinusoidal embedding of a diffusion time step (Ho et al. 2020, after Vaswani et al. 2017).

For a time ``t`` (any real, usually an integer step in [0, T) or a flow time) and ``half = dim // 2``, the
frequencies are ``w_i = exp(-ln(max_period) * i / (half - downscale_freq_shift))`` for ``i < half`` and the
embedding is ``[sin(scale * t * w), cos(scale * t * w)]`` (``flip_sin_to_cos=True`` puts cos first), padded
with one zero column when ``dim`` is odd. The arguments and their defaults follow diffusers'
``get_timestep_embedding`` (``downscale_freq_shift=1``: Ho et al.'s DDPM code; Stable Diffusion's U-Net uses
``flip_sin_to_cos=True, downscale_freq_shift=0``), so weights converted from diffusers see the same features.
"""

from __future__ import annotations

import math

import torch

from archlab.core.validation import check_at_least


def timestep_embedding(t: torch.Tensor, dim: int, *, flip_sin_to_cos: bool = False,
                       downscale_freq_shift: float = 1.0, scale: float = 1.0,
                       max_period: float = 10000.0) -> torch.Tensor:
    """The sinusoidal features (B, dim), float32, of times ``t`` (B,) (a scalar is taken as one time)."""
    check_at_least(dict(dim=dim), 2)
    if dim // 2 - downscale_freq_shift <= 0:
        raise ValueError(f"dim={dim} must satisfy dim // 2 > downscale_freq_shift={downscale_freq_shift}")
    t = torch.as_tensor(t).reshape(-1)
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device)
    frequencies = torch.exp(exponent / (half - downscale_freq_shift))  # (half,)
    angles = scale * (t.float()[:, None] * frequencies[None, :])  # (B, half)
    first, second = (angles.cos(), angles.sin()) if flip_sin_to_cos else (angles.sin(), angles.cos())
    embedding = torch.cat((first, second), dim=-1)  # (B, 2 * half)
    if dim % 2:
        embedding = torch.nn.functional.pad(embedding, (0, 1))
    return embedding
