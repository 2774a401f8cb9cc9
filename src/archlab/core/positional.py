"""Positional information: rotary embeddings (1D and 2D), fixed sin-cos tables (1D and 2D), learned tables.

- RoPE: Su et al. 2021 (RoFormer). A pair of channels (i, i + d/2) is rotated by angle ``p * theta_i`` with
  ``theta_i = base^(-2i/d)``; the half-split pairing ("rotate_half") is the layout Hugging Face's Llama uses,
  so converted weights need no permutation. 2D RoPE rotates the first half of the head by the row index and
  the second half by the column index (Heo et al. 2024, "Rotary Position Embedding for Vision Transformer",
  axial variant).
- sin-cos 1D: Vaswani et al. 2017, ``PE[p, 2i] = sin(p / base^(2i/d))``, ``PE[p, 2i+1] = cos(...)`` (interleaved).
- sin-cos 2D: He et al. 2022 (MAE) layout: the first d/2 channels encode the column, the last d/2 the row, each
  as ``[sin(p * w), cos(p * w)]`` concatenated with ``w_i = base^(-i/(d/4))``.
"""

from __future__ import annotations

import torch
from torch import nn


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``[x1, x2] -> [-x2, x1]`` over the last dimension split in two halves."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def rope_angles(positions: torch.Tensor, dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables for ``positions`` (L,) at ``dim`` channels: each (L, dim), halves repeated."""
    if dim % 2:
        raise ValueError(f"rope dim={dim} must be even")
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64, device=positions.device) / dim))
    freqs = positions.to(torch.float64)[:, None] * inv_freq[None, :]  # (L, dim/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (L, dim)
    return emb.cos().float(), emb.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` (B, H, L, Dh) by tables ``cos``, ``sin`` (L, Dh)."""
    return (x * cos.to(x.dtype) + rotate_half(x) * sin.to(x.dtype)).to(x.dtype)


class RotaryEmbedding(nn.Module):
    """1D RoPE over the head dimension with a cached table up to ``max_len`` positions."""

    def __init__(self, head_dim: int, *, max_len: int = 4096, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"head_dim={head_dim} must be even for rotary embeddings")
        self.head_dim, self.base = head_dim, base
        cos, sin = rope_angles(torch.arange(max_len), head_dim, base)
        self.register_buffer("cos", cos, persistent=False)  # (max_len, Dh)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Rotate ``x`` (B, H, L, Dh) at integer ``positions`` (L,)."""
        if positions.numel() and int(positions.max()) >= self.cos.shape[0]:
            cos, sin = rope_angles(positions, self.head_dim, self.base)
        else:
            cos, sin = self.cos[positions], self.sin[positions]  # (L, Dh)
        return apply_rope(x, cos, sin)


class RotaryEmbedding2D(nn.Module):
    """Axial 2D RoPE: first half of the head rotated by row, second half by column."""

    def __init__(self, head_dim: int, *, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 4:
            raise ValueError(f"head_dim={head_dim} must be divisible by 4 for 2D rotary embeddings")
        self.head_dim, self.base = head_dim, base

    def forward(self, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Rotate ``x`` (B, H, L, Dh) at grid coordinates ``rows``, ``cols`` (L,) each."""
        half = self.head_dim // 2
        x_row, x_col = x[..., :half], x[..., half:]  # (B, H, L, Dh/2) each
        row = apply_rope(x_row, *rope_angles(rows, half, self.base))
        col = apply_rope(x_col, *rope_angles(cols, half, self.base))
        return torch.cat((row, col), dim=-1)


def sincos_1d(length: int, dim: int, *, base: float = 10000.0) -> torch.Tensor:
    """The fixed sinusoidal table of Vaswani et al. 2017: (length, dim), sin and cos interleaved."""
    if dim % 2:
        raise ValueError(f"sin-cos dim={dim} must be even")
    pos = torch.arange(length, dtype=torch.float64)[:, None]  # (L, 1)
    div = base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # (dim/2,)
    table = torch.zeros(length, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos / div)
    table[:, 1::2] = torch.cos(pos / div)
    return table.float()


def _sincos_concat(positions: torch.Tensor, dim: int, base: float) -> torch.Tensor:
    """``[sin(p * w), cos(p * w)]`` for ``positions`` (N,): (N, dim), MAE layout."""
    omega = 1.0 / base ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))  # (dim/2,)
    out = positions.to(torch.float64)[:, None] * omega[None, :]  # (N, dim/2)
    return torch.cat((out.sin(), out.cos()), dim=1)


def sincos_2d(height: int, width: int, dim: int, *, base: float = 10000.0) -> torch.Tensor:
    """Fixed 2D sin-cos table for a ``height x width`` grid in row-major order: (height * width, dim)."""
    if dim % 4:
        raise ValueError(f"2D sin-cos dim={dim} must be divisible by 4")
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")  # (H, W) each
    col_emb = _sincos_concat(cols.flatten(), dim // 2, base)  # (H*W, dim/2)
    row_emb = _sincos_concat(rows.flatten(), dim // 2, base)  # (H*W, dim/2)
    return torch.cat((col_emb, row_emb), dim=1).float()


class LearnedPositionalEmbedding(nn.Module):
    """A trained table of ``max_len`` position vectors (GPT-2)."""

    def __init__(self, max_len: int, dim: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.weight = nn.Parameter(torch.zeros(max_len, dim))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        """Vectors for integer ``positions`` (L,): (L, D)."""
        if positions.numel() and int(positions.max()) >= self.max_len:
            raise ValueError(f"position {int(positions.max())} is past the learned table (max_len={self.max_len})")
        return self.weight[positions]
