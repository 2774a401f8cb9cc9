"""ConvNeXt (Liu et al. 2022, "A ConvNet for the 2020s"): a ResNet modernised step by step towards a ViT.

- Stem ("patchify", section 2.2): a ``stem_patch x stem_patch`` convolution of stride ``stem_patch`` and a
  LayerNorm.
- Block (Fig. 4): depthwise 7x7 convolution -> LayerNorm -> Linear to ``mlp_ratio * C`` (inverted
  bottleneck) -> GELU -> Linear back to C -> layer scale ``gamma`` (Touvron et al. 2021, CaiT; initialised to
  ``layer_scale_init``, none when 0) -> stochastic depth -> residual add. The 1x1 convolutions are Linear
  layers on the channels-last view, as in the official code.
- Downsampling between stages (section 2.6): LayerNorm then a 2x2 stride-2 convolution.
- Head: global average pooling, LayerNorm, linear classifier.

Stochastic-depth rates grow linearly from 0 to ``drop_path`` over the blocks (Huang et al. 2016). Initialisation:
truncated normal (std 0.02) weights and zero biases for convolutions and linears, as the official code.
Module names follow Hugging Face's ``ConvNextModel`` (``dwconv``, ``pwconv1``, ``pwconv2``). Presets (Table 9):
``convnext_config("tiny" | "small" | "base" | "large")``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.io import PretrainedMixin
from archlab.core.norm import LayerNorm
from archlab.core.validation import check_at_least
from archlab.vision.classifier import StagedClassifier, global_average_pool, make_head
from archlab.vision.layers import DropPath, LayerNorm2d


@dataclass
class ConvNeXtConfig:
    """``widths[s]`` channels and ``depths[s]`` blocks in stage ``s``; ``norm_eps`` of the LayerNorms inside
    the network, ``head_norm_eps`` of the head's (Hugging Face reads it from ``layer_norm_eps``)."""

    in_channels: int = 3
    num_classes: int = 1000
    widths: tuple[int, ...] = (96, 192, 384, 768)
    depths: tuple[int, ...] = (3, 3, 9, 3)
    stem_patch: int = 4
    kernel_size: int = 7
    mlp_ratio: int = 4
    layer_scale_init: float = 1e-6
    drop_path: float = 0.0
    norm_eps: float = 1e-6
    head_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        self.widths, self.depths = tuple(self.widths), tuple(self.depths)
        check_at_least(self, 1, "in_channels", "stem_patch", "kernel_size", "mlp_ratio")
        check_at_least(self, 0, "num_classes", "layer_scale_init")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size={self.kernel_size} must be odd (same padding)")
        if not 0.0 <= self.drop_path < 1.0:
            raise ValueError(f"drop_path={self.drop_path} must lie in [0, 1)")
        if not self.widths or len(self.widths) != len(self.depths):
            raise ValueError(f"widths={self.widths} and depths={self.depths} must be non-empty and of equal length")
        check_at_least({f"widths[{i}]": w for i, w in enumerate(self.widths)}, 1)
        check_at_least({f"depths[{i}]": d for i, d in enumerate(self.depths)}, 1)


PRESETS = {
    "tiny": dict(widths=(96, 192, 384, 768), depths=(3, 3, 9, 3)),
    "small": dict(widths=(96, 192, 384, 768), depths=(3, 3, 27, 3)),
    "base": dict(widths=(128, 256, 512, 1024), depths=(3, 3, 27, 3)),
    "large": dict(widths=(192, 384, 768, 1536), depths=(3, 3, 27, 3)),
}


def convnext_config(name: str, **overrides) -> ConvNeXtConfig:
    """The preset ``name`` (tiny, small, base, large), with ``overrides`` applied."""
    if name not in PRESETS:
        raise ValueError(f"convnext preset {name!r} is not one of {', '.join(PRESETS)}")
    return ConvNeXtConfig(**{**PRESETS[name], **overrides})


class ConvNeXtBlock(nn.Module):
    """(B, C, H, W) -> (B, C, H, W): ``x + drop_path(gamma * pwconv2(gelu(pwconv1(norm(dwconv(x))))))``."""

    def __init__(self, channels: int, *, kernel_size: int, mlp_ratio: int, layer_scale_init: float,
                 drop_path: float, eps: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)
        self.norm = LayerNorm(channels, eps=eps)
        self.pwconv1 = nn.Linear(channels, mlp_ratio * channels)
        self.pwconv2 = nn.Linear(mlp_ratio * channels, channels)
        self.gamma = nn.Parameter(torch.full((channels,), layer_scale_init)) if layer_scale_init > 0 else None
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (B, C, H, W) -> (B, H, W, C)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))  # (B, H, W, C)
        if self.gamma is not None:
            y = self.gamma * y
        return x + self.drop_path(y.permute(0, 3, 1, 2))  # (B, H, W, C) -> (B, C, H, W)


class ConvNeXtStage(nn.Module):
    """Optional downsampling (LayerNorm + 2x2 stride-2 conv), then the blocks."""

    def __init__(self, in_channels: int, out_channels: int, *, downsample: bool, blocks: list[ConvNeXtBlock],
                 eps: float) -> None:
        super().__init__()
        self.downsample = (nn.Sequential(LayerNorm2d(in_channels, eps=eps),
                                         nn.Conv2d(in_channels, out_channels, 2, stride=2))
                           if downsample else nn.Identity())
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class ConvNeXt(PretrainedMixin, StagedClassifier):
    config_class = ConvNeXtConfig

    def __init__(self, config: ConvNeXtConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.stem = nn.Sequential(nn.Conv2d(c.in_channels, c.widths[0], c.stem_patch, stride=c.stem_patch),
                                  LayerNorm2d(c.widths[0], eps=c.norm_eps))
        n_blocks = sum(c.depths)
        rates = [c.drop_path * i / max(n_blocks - 1, 1) for i in range(n_blocks)]  # linear from 0 to drop_path
        stages, channels, k = [], c.widths[0], 0
        for s, (width, depth) in enumerate(zip(c.widths, c.depths)):
            blocks = [ConvNeXtBlock(width, kernel_size=c.kernel_size, mlp_ratio=c.mlp_ratio,
                                    layer_scale_init=c.layer_scale_init, drop_path=rates[k + j], eps=c.norm_eps)
                      for j in range(depth)]
            stages.append(ConvNeXtStage(channels, width, downsample=s > 0, blocks=blocks, eps=c.norm_eps))
            channels, k = width, k + depth
        self.stages = nn.ModuleList(stages)
        self.head_norm = LayerNorm(channels, eps=c.head_norm_eps)
        self.head = make_head(channels, c.num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """Global average pooling then the head's LayerNorm: (B, C, h, w) -> (B, C)."""
        return self.head_norm(global_average_pool(hidden))
