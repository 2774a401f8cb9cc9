"""Layers the CNNs share: channels-first LayerNorm, stochastic depth, and convolution + BatchNorm + activation.

- ``LayerNorm2d``: LayerNorm over the channels of every position of a (B, C, H, W) map (ConvNeXt's downsampling
  and stem norms, Liu et al. 2022), through ``core.LayerNorm`` on the channels-last view.
- ``DropPath``: stochastic depth (Huang et al. 2016): in training each sample's residual branch is dropped with
  probability ``p`` and the kept ones scaled by ``1 / (1 - p)``; the identity at evaluation.
- ``ConvBN``: ``act(BN(conv(x)))``, the unit of VGG-style nets and of ResNet (Ioffe and Szegedy 2015 for BN).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.norm import LayerNorm

ConvActivation = Literal["relu", "none"]


class LayerNorm2d(nn.Module):
    """LayerNorm over C of a (B, C, H, W) map."""

    def __init__(self, channels: int, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm = LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (B, C, H, W) -> (B, H, W, C) -> back


class DropPath(nn.Module):
    """Per-sample stochastic depth of a residual branch with drop probability ``p``."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop_path={p} must lie in [0, 1)")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype) < keep  # (B, 1, ...)
        return x * mask / keep


class ConvBN(nn.Module):
    """``act(BN(conv(x)))`` with "same" padding ``kernel_size // 2`` and no conv bias (BN has one)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        kernel_size: int = 3,
        stride: int = 1,
        activation: ConvActivation = "relu",
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
                              bias=not batch_norm)
        self.bn = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return F.relu(x) if self.activation == "relu" else x
