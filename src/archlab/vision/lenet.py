"""LeNet-5 (LeCun et al. 1998, "Gradient-based learning applied to document recognition", Fig. 2).

C1: 6 feature maps from 5x5 convolutions; S2: 2x2 subsampling; C3: 16 maps of 5x5 convolutions; S4: 2x2
subsampling; C5: 120 units; F6: 84 units; output: one unit per class. Simplified as is now usual: average
pooling without S2/S4's trainable coefficients, C3 connected to every S2 map (the paper's sparse connection
table is dropped), C5 a fully connected layer (the paper's C5 is a 5x5 convolution over a 5x5 map, the same
thing at 32x32 inputs), and a linear output instead of the Euclidean RBF units. ``padding=2`` keeps C1's maps
at the input size (the common variant for 28x28 MNIST); ``padding=0`` with 32x32 inputs is the paper's.
``forward_features`` is F6's 84 activations; the head is the output layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from archlab.core.io import PretrainedMixin
from archlab.core.validation import check_at_least, check_choices
from archlab.vision.classifier import ImageClassifier, make_head


@dataclass
class LeNetConfig:
    """``image_size`` the input side (square), ``padding`` of both convolutions, ``activation`` tanh (the
    paper's scaled tanh, unscaled here) or relu."""

    in_channels: int = 1
    image_size: int = 32
    num_classes: int = 10
    padding: int = 0
    activation: Literal["tanh", "relu"] = "tanh"

    def __post_init__(self) -> None:
        check_at_least(self, 1, "in_channels", "image_size")
        check_at_least(self, 0, "num_classes", "padding")
        check_choices(self, {"activation": ("tanh", "relu")}, quote=True)
        side = self.feature_side
        if side < 1:
            raise ValueError(f"image_size={self.image_size} with padding={self.padding} is too small for LeNet-5's "
                             "two 5x5 convolutions and 2x2 poolings; use a larger image or padding=2")

    @property
    def feature_side(self) -> int:
        """The side of S4's maps."""
        side = (self.image_size + 2 * self.padding - 4) // 2
        return (side + 2 * self.padding - 4) // 2


class LeNet5(PretrainedMixin, ImageClassifier):
    config_class = LeNetConfig

    def __init__(self, config: LeNetConfig) -> None:
        super().__init__()
        self.config = config
        self.c1 = nn.Conv2d(config.in_channels, 6, 5, padding=config.padding)
        self.c3 = nn.Conv2d(6, 16, 5, padding=config.padding)
        self.subsample = nn.AvgPool2d(2)
        self.c5 = nn.Linear(16 * config.feature_side ** 2, 120)
        self.f6 = nn.Linear(120, 84)
        self.act = nn.Tanh() if config.activation == "tanh" else nn.ReLU()
        self.head = make_head(84, config.num_classes)

    def forward_hidden(self, x: torch.Tensor) -> torch.Tensor:
        """S4's maps, (B, 16, s, s)."""
        x = self.subsample(self.act(self.c1(x)))  # C1, S2
        return self.subsample(self.act(self.c3(x)))  # C3, S4

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """C5 and F6 over the flattened maps: (B, 16, s, s) -> (B, 16 s^2) -> (B, 84)."""
        return self.act(self.f6(self.act(self.c5(hidden.flatten(1)))))
