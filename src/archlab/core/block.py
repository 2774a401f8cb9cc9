"""The residual block with a pluggable mixer and feed-forward, pre-norm by default.

- pre-norm (Xiong et al. 2020; GPT-2, Llama): ``x = x + mixer(norm1(x), **mixer_kwargs)``, then
  ``x = x + feed_forward(norm2(x))``.
- post-norm (Vaswani et al. 2017; BERT, Devlin et al. 2019), ``norm_position="post"``:
  ``x = norm1(x + mixer(x))``, then ``x = norm2(x + feed_forward(x))``.

The mixer is any module mapping (B, L, D) to (B, L, D) (attention, an SSM, a recurrence); the feed-forward is
an MLP, SwiGLU, a mixture of experts, or ``None`` for mixer-only stacks.

``step(x_t, state)`` runs one position (B, D) of a pre-norm block whose mixer has a decoding state
(``mixer.step(x_t, state) -> (y_t, state)``: a recurrence's state, an attention layer's KV cache); over the same
inputs it equals ``forward``.
"""

from __future__ import annotations

import torch
from typing import Any, Literal

from torch import nn

from archlab.core.norm import NormKind, make_norm


class Block(nn.Module):
    """Residual block, pre-norm (default) or post-norm: (B, L, D) -> (B, L, D)."""

    def __init__(
        self,
        *,
        d_model: int,
        mixer: nn.Module,
        feed_forward: nn.Module | None,
        norm: NormKind = "layernorm",
        norm_eps: float = 1e-5,
        norm_bias: bool = True,
        dropout: float = 0.0,
        norm_position: Literal["pre", "post"] = "pre",
    ) -> None:
        super().__init__()
        if norm_position not in ("pre", "post"):
            raise ValueError(f"norm_position={norm_position!r} is not one of 'pre', 'post'")
        self.norm_position = norm_position
        self.norm1 = make_norm(norm, d_model, eps=norm_eps, bias=norm_bias)
        self.mixer = mixer
        self.norm2 = make_norm(norm, d_model, eps=norm_eps, bias=norm_bias) if feed_forward is not None else None
        self.feed_forward = feed_forward
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, **mixer_kwargs) -> torch.Tensor:
        if self.norm_position == "post":
            x = self.norm1(x + self.dropout(self.mixer(x, **mixer_kwargs)))
            if self.feed_forward is not None:
                x = self.norm2(x + self.dropout(self.feed_forward(x)))
            return x
        x = x + self.dropout(self.mixer(self.norm1(x), **mixer_kwargs))
        if self.feed_forward is not None:
            x = x + self.dropout(self.feed_forward(self.norm2(x)))
        return x

    def step(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """One position ``x`` (B, D) -> (B, D), the mixer stepping ``state``; returns the output and the state."""
        if self.norm_position != "pre":
            raise ValueError(f"step needs norm_position='pre', got {self.norm_position!r}")
        y, state = self.mixer.step(self.norm1(x), state)  # (B, D)
        x = x + self.dropout(y)
        if self.feed_forward is not None:
            x = x + self.dropout(self.feed_forward(self.norm2(x)))
        return x, state
