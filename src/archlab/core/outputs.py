"""Output dataclasses shared by every family: a backbone's hidden states, a language model's logits and loss."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class BaseModelOutput:
    """``last_hidden_state`` (B, L, D): a backbone's final hidden states, after the final norm where the model
    has one (Hugging Face's ``BaseModelOutput``)."""

    last_hidden_state: torch.Tensor


@dataclass
class LMOutput:
    """``logits`` (B, L, V); ``loss`` the mean next-token cross-entropy (nats) when labels were given;
    ``aux_loss`` an auxiliary training loss already included in ``loss`` (a router's balancing loss), if any;
    ``stats`` named scalars about the forward that a trainer logs (an MoE's max/mean expert load)."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None
    aux_loss: torch.Tensor | None = None
    stats: dict[str, torch.Tensor] = field(default_factory=dict)
