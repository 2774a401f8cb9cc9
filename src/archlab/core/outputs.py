"""Output dataclasses shared by every family's language models."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LMOutput:
    """``logits`` (B, L, V); ``loss`` the mean next-token cross-entropy (nats) when labels were given;
    ``aux_loss`` an auxiliary training loss already included in ``loss`` (a router's balancing loss), if any."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None
    aux_loss: torch.Tensor | None = None
