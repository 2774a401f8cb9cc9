"""A plain deep CNN in the style of VGG (Simonyan and Zisserman 2015): stages of 3x3 convolution + BatchNorm +
ReLU, the resolution halved between stages, global average pooling and a linear head.

Its depth is configurable (``depths``: convolutions per stage), which makes it the "plain" network of He et al.
2016, Fig. 1 and section 4.1, whose training error grows with depth (the degradation problem) where a ResNet
of the same depth does not. Simplified from VGG: one linear layer as the head (VGG has three), BatchNorm after
each convolution (VGG predates it; He et al.'s plain nets have it). Halving is VGG's 2x2 max pooling
(``downsample="maxpool"``) or, as in He et al.'s plain nets, a stride-2 first convolution (``"stride"``).
Initialisation: Kaiming normal, fan-out, for ReLU (He et al. 2015), as torchvision's VGG and ResNet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from archlab.core.io import PretrainedMixin
from archlab.core.validation import check_at_least, check_choices
from archlab.vision.classifier import ImageClassifier, global_average_pool, make_head
from archlab.vision.layers import ConvBN


@dataclass
class PlainCNNConfig:
    """``widths[s]`` channels and ``depths[s]`` convolutions in stage ``s``; the total depth in weight layers is
    ``sum(depths) + 1`` (the head)."""

    in_channels: int = 3
    num_classes: int = 10
    widths: tuple[int, ...] = (64, 128, 256, 512)
    depths: tuple[int, ...] = (2, 2, 3, 3)
    downsample: Literal["maxpool", "stride"] = "maxpool"
    batch_norm: bool = True

    def __post_init__(self) -> None:
        self.widths, self.depths = tuple(self.widths), tuple(self.depths)
        check_at_least(self, 1, "in_channels")
        check_at_least(self, 0, "num_classes")
        check_choices(self, {"downsample": ("maxpool", "stride")}, quote=True)
        if not self.widths or len(self.widths) != len(self.depths):
            raise ValueError(f"widths={self.widths} and depths={self.depths} must be non-empty and of equal length")
        check_at_least({f"widths[{i}]": w for i, w in enumerate(self.widths)}, 1)
        check_at_least({f"depths[{i}]": d for i, d in enumerate(self.depths)}, 1)


class PlainCNN(PretrainedMixin, ImageClassifier):
    config_class = PlainCNNConfig

    def __init__(self, config: PlainCNNConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        channels = config.in_channels
        for s, (width, depth) in enumerate(zip(config.widths, config.depths)):
            for j in range(depth):
                halve = s > 0 and j == 0
                if halve and config.downsample == "maxpool":
                    layers.append(nn.MaxPool2d(2))
                stride = 2 if halve and config.downsample == "stride" else 1
                layers.append(ConvBN(channels, width, stride=stride, batch_norm=config.batch_norm))
                channels = width
        self.features = nn.Sequential(*layers)
        self.head = make_head(channels, config.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_hidden(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        return global_average_pool(hidden)
