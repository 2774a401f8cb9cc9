"""Normalisation layers: LayerNorm, RMSNorm and adaptive LayerNorm.

- LayerNorm: Ba, Kiros and Hinton 2016, ``y = (x - mean) / sqrt(var + eps) * weight + bias`` over the last dim.
- RMSNorm: Zhang and Sennrich 2019, ``y = x / sqrt(mean(x^2) + eps) * weight`` (no centring, no bias).
- AdaLayerNorm: LayerNorm without its own affine whose shift and scale are regressed from a conditioning
  vector (Peebles and Xie 2023, DiT "adaLN"); the regression starts at zero so the layer starts as a plain norm.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

NormKind = Literal["layernorm", "rmsnorm"]


class LayerNorm(nn.Module):
    """LayerNorm over the last dimension, with an optional bias."""

    def __init__(self, dim: int, *, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class RMSNorm(nn.Module):
    """Root-mean-square norm over the last dimension, computed in float32 and cast back."""

    def __init__(self, dim: int, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


class AdaLayerNorm(nn.Module):
    """LayerNorm modulated by a condition: ``norm(x) * (1 + scale(c)) + shift(c)``.

    ``x``: (B, L, D) or (B, D); ``cond``: (B, D_cond). Zero-initialised regression (DiT, adaLN-Zero).
    """

    def __init__(self, dim: int, cond_dim: int, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.modulation = nn.Linear(cond_dim, 2 * dim)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift, scale = self.modulation(cond).chunk(2, dim=-1)  # (B, D) each
        if x.dim() == 3:
            shift, scale = shift.unsqueeze(1), scale.unsqueeze(1)  # (B, 1, D)
        normed = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        return normed * (1 + scale) + shift


def make_norm(kind: NormKind, dim: int, *, eps: float = 1e-5, bias: bool = True) -> nn.Module:
    """The norm named by ``kind`` (``"layernorm"`` or ``"rmsnorm"``)."""
    if kind == "layernorm":
        return LayerNorm(dim, eps=eps, bias=bias)
    if kind == "rmsnorm":
        return RMSNorm(dim, eps=eps)
    raise ValueError(f"norm={kind!r} is not one of 'layernorm', 'rmsnorm'")
