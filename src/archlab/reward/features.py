"""A reward model over feature vectors: an MLP ``phi (B, F) -> r (B,)``, the proxy of the synthetic claims.

Gao, Schulman and Hilton 2023 (arXiv 2210.10760) train proxy reward models on comparisons labelled by a fixed
"gold" reward model; here items are feature vectors ``phi`` instead of texts, so the proxy is a plain MLP
(``n_layers`` hidden layers of ``hidden`` units, GELU) with a scalar output, trained by the Bradley-Terry loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from archlab.core.io import PretrainedMixin
from archlab.core.mlp import hidden_layers
from archlab.core.validation import check_at_least


@dataclass
class FeatureRewardConfig:
    """Input width ``in_features``, ``n_layers`` hidden layers of ``hidden`` units."""

    in_features: int = 16
    hidden: int = 64
    n_layers: int = 2

    def __post_init__(self) -> None:
        check_at_least(self, 1, "in_features", "hidden")
        check_at_least(self, 0, "n_layers")


class FeatureReward(PretrainedMixin, nn.Module):
    """MLP reward model: features (B, F) -> rewards (B,)."""

    config_class = FeatureRewardConfig

    def __init__(self, config: FeatureRewardConfig) -> None:
        super().__init__()
        self.config = config
        layers, width = hidden_layers(config.in_features, config.hidden, config.n_layers, act=nn.GELU)
        self.body = nn.Sequential(*layers)
        self.score = nn.Linear(width, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 2 or features.shape[1] != self.config.in_features:
            raise ValueError(f"features must be (B, {self.config.in_features}), got {tuple(features.shape)}")
        return self.score(self.body(features)).squeeze(-1)  # (B, 1) -> (B,)
