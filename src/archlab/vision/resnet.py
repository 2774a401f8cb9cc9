"""ResNet (He et al. 2016, "Deep Residual Learning for Image Recognition"): stages of residual blocks
``y = relu(F(x) + shortcut(x))``.

- Basic block (Fig. 5 left): ``F = BN(conv3x3(relu(BN(conv3x3(x)))))``.
- Bottleneck block (Fig. 5 right): 1x1 reducing to ``width / bottleneck_reduction`` channels, 3x3, 1x1 back
  to ``width``; the stride sits on the 3x3 (``bottleneck_stride="3x3"``, "ResNet v1.5" as torchvision and Hugging
  Face use it) or on the first 1x1 (``"1x1"``, the paper's).
- Shortcut: the identity, or a projection 1x1 convolution + BN where the shape changes (option B of section 3.3).
- Stem: ImageNet's 7x7 stride-2 convolution and 3x3 stride-2 max pooling (``stem="imagenet"``), or one 3x3
  stride-1 convolution for small images (``stem="small"``, the CIFAR nets of section 4.2).
- Stage ``s > 0`` halves the resolution in its first block; stage 0 keeps it unless ``first_stage_stride=2``.

Module names follow Hugging Face's ``ResNetModel`` where it costs nothing (``convs.{k}`` for its ``layer.{k}``),
so the key table of ``archlab.vision.interop`` is short. Initialisation: Kaiming normal (fan-out) for the
convolutions, BN weights 1 and biases 0 (torchvision's). Presets: ``resnet_config("resnet18" | "resnet34" |
"resnet50" | "resnet101")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.io import PretrainedMixin
from archlab.core.validation import check_at_least, check_choices
from archlab.vision.classifier import StagedClassifier, global_average_pool, make_head
from archlab.vision.layers import ConvBN

BlockKind = Literal["basic", "bottleneck"]


@dataclass
class ResNetConfig:
    """``widths[s]`` is the output width of stage ``s`` (for bottlenecks, the expanded width: 256 .. 2048 in
    ResNet-50); ``depths[s]`` its number of blocks."""

    in_channels: int = 3
    num_classes: int = 1000
    block: BlockKind = "basic"
    widths: tuple[int, ...] = (64, 128, 256, 512)
    depths: tuple[int, ...] = (2, 2, 2, 2)
    stem: Literal["imagenet", "small"] = "imagenet"
    stem_width: int = 64
    bottleneck_reduction: int = 4
    bottleneck_stride: Literal["3x3", "1x1"] = "3x3"
    first_stage_stride: int = 1

    def __post_init__(self) -> None:
        self.widths, self.depths = tuple(self.widths), tuple(self.depths)
        check_at_least(self, 1, "in_channels", "stem_width", "bottleneck_reduction", "first_stage_stride")
        check_at_least(self, 0, "num_classes")
        check_choices(self, {"block": ("basic", "bottleneck"), "stem": ("imagenet", "small"),
                             "bottleneck_stride": ("3x3", "1x1")}, quote=True)
        if not self.widths or len(self.widths) != len(self.depths):
            raise ValueError(f"widths={self.widths} and depths={self.depths} must be non-empty and of equal length")
        check_at_least({f"widths[{i}]": w for i, w in enumerate(self.widths)}, 1)
        check_at_least({f"depths[{i}]": d for i, d in enumerate(self.depths)}, 1)
        if self.block == "bottleneck":
            for i, w in enumerate(self.widths):
                if w % self.bottleneck_reduction:
                    raise ValueError(f"widths[{i}]={w} must be divisible by "
                                     f"bottleneck_reduction={self.bottleneck_reduction}")


PRESETS = {
    "resnet18": dict(block="basic", depths=(2, 2, 2, 2), widths=(64, 128, 256, 512)),
    "resnet34": dict(block="basic", depths=(3, 4, 6, 3), widths=(64, 128, 256, 512)),
    "resnet50": dict(block="bottleneck", depths=(3, 4, 6, 3), widths=(256, 512, 1024, 2048)),
    "resnet101": dict(block="bottleneck", depths=(3, 4, 23, 3), widths=(256, 512, 1024, 2048)),
}


def resnet_config(name: str, **overrides) -> ResNetConfig:
    """The preset ``name`` (resnet18, resnet34, resnet50, resnet101), with ``overrides`` applied."""
    if name not in PRESETS:
        raise ValueError(f"resnet preset {name!r} is not one of {', '.join(PRESETS)}")
    return ResNetConfig(**{**PRESETS[name], **overrides})


class ResidualBlock(nn.Module):
    """A basic or bottleneck block: ``relu(convs(x) + shortcut(x))``, (B, C_in, H, W) -> (B, C_out, H/s, W/s)."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int, kind: BlockKind, reduction: int = 4,
                 bottleneck_stride: Literal["3x3", "1x1"] = "3x3") -> None:
        super().__init__()
        if kind == "basic":
            convs = [ConvBN(in_channels, out_channels, stride=stride),
                     ConvBN(out_channels, out_channels, activation="none")]
        else:
            mid = out_channels // reduction
            s1, s3 = (stride, 1) if bottleneck_stride == "1x1" else (1, stride)
            convs = [ConvBN(in_channels, mid, kernel_size=1, stride=s1), ConvBN(mid, mid, stride=s3),
                     ConvBN(mid, out_channels, kernel_size=1, activation="none")]
        self.convs = nn.Sequential(*convs)
        needs_projection = in_channels != out_channels or stride != 1
        self.shortcut = (ConvBN(in_channels, out_channels, kernel_size=1, stride=stride, activation="none")
                         if needs_projection else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.convs(x) + self.shortcut(x))


class ResNet(PretrainedMixin, StagedClassifier):
    config_class = ResNetConfig

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        self.config = config
        if config.stem == "imagenet":
            self.stem = nn.Sequential(ConvBN(config.in_channels, config.stem_width, kernel_size=7, stride=2),
                                      nn.MaxPool2d(3, stride=2, padding=1))
        else:
            self.stem = nn.Sequential(ConvBN(config.in_channels, config.stem_width))
        stages, channels = [], config.stem_width
        for s, (width, depth) in enumerate(zip(config.widths, config.depths)):
            stride = config.first_stage_stride if s == 0 else 2
            blocks = [ResidualBlock(channels if j == 0 else width, width, stride=stride if j == 0 else 1,
                                    kind=config.block, reduction=config.bottleneck_reduction,
                                    bottleneck_stride=config.bottleneck_stride) for j in range(depth)]
            stages.append(nn.Sequential(*blocks))
            channels = width
        self.stages = nn.ModuleList(stages)
        self.head = make_head(channels, config.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        return global_average_pool(hidden)
