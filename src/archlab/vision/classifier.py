"""The image-classifier contract of every vision model (DESIGN.md, "Interfaces").

- ``forward_hidden(x)``: the backbone's last hidden state, what Hugging Face's base models return as
  ``last_hidden_state`` (a CNN's final feature map (B, C, h, w); a ViT's tokens (B, L, D) after its final norm).
- ``forward_features(x) -> (B, D)``: the pooled representation the head reads (global average pooling, the
  class token, the mean of the patch tokens).
- ``forward_head(features) -> (B, num_classes)``: the classifier; with ``num_classes=0`` there is none and
  ``forward`` returns the features (a headless backbone, as timm's ``num_classes=0``).
- ``forward(x) = forward_head(forward_features(x))``.
"""

from __future__ import annotations

import torch
from torch import nn


class ImageClassifier(nn.Module):
    """Base class: subclasses define ``forward_hidden``, ``pool`` and a ``head`` module (``nn.Identity`` when
    ``num_classes=0``)."""

    head: nn.Module

    def forward_hidden(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """The last hidden state -> (B, D)."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, D), the input of the head."""
        if x.dim() != 4:
            raise ValueError(f"images must be (batch, channels, height, width), got shape {tuple(x.shape)}")
        return self.pool(self.forward_hidden(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, num_classes) logits (the features themselves when ``num_classes=0``)."""
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class StagedClassifier(ImageClassifier):
    """A CNN of a ``stem`` then ``stages`` (an ``nn.ModuleList``) run in order; ``forward_hidden`` returns the last
    stage's map (B, C, h, w), Hugging Face's ``last_hidden_state``."""

    stem: nn.Module
    stages: nn.ModuleList

    def forward_hidden(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x


def make_head(features: int, num_classes: int) -> nn.Module:
    """The linear classifier over ``features``, or ``nn.Identity`` for ``num_classes=0``."""
    return nn.Linear(features, num_classes) if num_classes else nn.Identity()


def global_average_pool(feature_map: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B, C), the mean over positions (Lin et al. 2014, "Network in Network")."""
    return feature_map.mean(dim=(-2, -1))


class Backbone(nn.Module):
    """The base-model view of a classifier: ``forward(x) = model.forward_hidden(x)``, the last hidden state that
    Hugging Face's ``ViTModel`` / ``ConvNextModel`` / ``ResNetModel`` return as ``last_hidden_state``."""

    def __init__(self, model: ImageClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_hidden(x)
