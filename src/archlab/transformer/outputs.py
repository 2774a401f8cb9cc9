"""Outputs of the transformer family's base models (the LM heads return ``core.outputs.LMOutput``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class BaseModelOutput:
    """``last_hidden_state`` (B, L, D): the final hidden states, after the final norm where the model has one."""

    last_hidden_state: torch.Tensor
