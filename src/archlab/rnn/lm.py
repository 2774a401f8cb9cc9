"""A recurrent language model: embedding, a stack of LSTM or GRU layers, a linear head (Mikolov et al. 2010;
Zaremba et al. 2014 for the multi-layer LSTM with dropout between layers).

``forward(ids, labels, state=...)`` runs a chunk of tokens; given a ``RecurrentState`` it starts from it and
advances it to the chunk's end in place (as the transformer's KV cache is extended), which is what truncated
backpropagation through time carries from one chunk to the next (``archlab.rnn.tbptt``). ``init_state(batch)`` is
the zero state and ``step(tokens, state)`` consumes one token per sequence; over the same tokens, step-by-step
logits equal the full forward's; ``generate`` is ``core.lm``'s. The head is tied to the embedding when
``d_model`` equals ``hidden_size`` and ``tie_embeddings`` is set (Press and Wolf 2017; Inan et al. 2017).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import nn

from archlab.core.io import PretrainedMixin
from archlab.core.lm import GenerationMixin, next_token_loss
from archlab.core.outputs import LMOutput
from archlab.core.tokens import check_token_ids
from archlab.core.validation import check_at_least, check_choices
from archlab.rnn.layers import LayerState, RecurrentLayer


@dataclass
class RNNLMConfig:
    """Configuration of ``RNNLM``: ``cell`` "lstm" or "gru"; ``forget_bias`` or ``chrono_t_max`` set the
    forget-gate biases (``archlab.rnn.init``); ``recurrent_init`` "uniform" (torch's) or "orthogonal"."""

    vocab_size: int = 256
    cell: Literal["lstm", "gru"] = "lstm"
    d_model: int = 128
    hidden_size: int = 256
    n_layers: int = 2
    dropout: float = 0.0
    tie_embeddings: bool = False
    recurrent_init: Literal["uniform", "orthogonal"] = "uniform"
    forget_bias: Optional[float] = 1.0
    chrono_t_max: Optional[float] = None

    def __post_init__(self) -> None:
        check_at_least(self, 1, "vocab_size", "d_model", "hidden_size", "n_layers")
        check_choices(self, {"cell": ("lstm", "gru"), "recurrent_init": ("uniform", "orthogonal")}, quote=True)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout} must be in [0, 1)")
        if self.tie_embeddings and self.d_model != self.hidden_size:
            raise ValueError(f"tie_embeddings=True needs d_model={self.d_model} == hidden_size={self.hidden_size}")
        if self.forget_bias is not None and self.chrono_t_max is not None:
            raise ValueError(f"forget_bias={self.forget_bias} and chrono_t_max={self.chrono_t_max}: set one to None")
        if self.chrono_t_max is not None and self.chrono_t_max <= 2:
            raise ValueError(f"chrono_t_max={self.chrono_t_max} must be > 2")


def lstm_config(**overrides) -> RNNLMConfig:
    return RNNLMConfig(**{"cell": "lstm", **overrides})


def gru_config(**overrides) -> RNNLMConfig:
    return RNNLMConfig(**{"cell": "gru", **overrides})


@dataclass
class RecurrentState:
    """The state a recurrent LM carries: ``h`` (n_layers, B, H) and, for the LSTM, ``c`` (n_layers, B, H)."""

    h: torch.Tensor
    c: Optional[torch.Tensor] = None

    @property
    def layer_state(self) -> LayerState:
        return self.h if self.c is None else (self.h, self.c)

    def update(self, state: LayerState) -> None:
        """Replace the tensors with ``state`` (a layer's final state)."""
        self.h, self.c = state if isinstance(state, tuple) else (state, None)

    def detach_(self) -> "RecurrentState":
        """Cut the graph behind the state (truncated BPTT); returns self."""
        self.h = self.h.detach()
        self.c = None if self.c is None else self.c.detach()
        return self


class RNNLM(GenerationMixin, PretrainedMixin, nn.Module):
    """Recurrent LM: ids (B, L) -> ``LMOutput(logits (B, L, V), loss)``."""

    config_class = RNNLMConfig

    def __init__(self, config: RNNLMConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embedding = nn.Embedding(c.vocab_size, c.d_model)
        self.rnn = RecurrentLayer(kind=c.cell, input_size=c.d_model, hidden_size=c.hidden_size, n_layers=c.n_layers,
                                  dropout=c.dropout, recurrent_init=c.recurrent_init, forget_bias=c.forget_bias,
                                  chrono_t_max=c.chrono_t_max)
        self.drop = nn.Dropout(c.dropout)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)  # Zaremba et al. 2014
        if c.tie_embeddings:
            self.lm_head.weight = self.embedding.weight

    def num_parameters(self) -> int:
        """Parameter count, tied weights once."""
        return sum(p.numel() for p in self.parameters())

    def check_ids(self, input_ids: torch.Tensor, *, past: int = 0) -> None:
        """ValueError unless ``input_ids`` is (B, L) of valid ids (of any length: the state does not grow)."""
        check_token_ids(input_ids, vocab_size=self.config.vocab_size)

    def forward(self, input_ids: torch.Tensor, labels: Optional[torch.Tensor] = None, *,
                state: Optional[RecurrentState] = None) -> LMOutput:
        """Logits for ``input_ids`` (B, L); ``labels`` (B, L) are the targets (-100 ignored); with ``state``,
        the chunk continues from it and ``state`` is advanced to the chunk's end."""
        self.check_ids(input_ids)
        x = self.drop(self.embedding(input_ids))  # (B, L, D)
        out, final = self.rnn(x, None if state is None else state.layer_state)  # (B, L, H)
        if state is not None:
            state.update(final)
        logits = self.lm_head(self.drop(out))  # (B, L, V)
        loss = None
        if labels is not None:
            loss = next_token_loss(logits, labels)
        return LMOutput(logits=logits, loss=loss)

    def init_state(self, batch: int, *, max_len: Optional[int] = None) -> RecurrentState:
        """The zero state for ``batch`` sequences (of any length: ``max_len`` is accepted and unused)."""
        state = RecurrentState(h=torch.empty(0))
        state.update(self.rnn.init_state(batch))
        return state

    def step(self, tokens: torch.Tensor, state: RecurrentState) -> tuple[torch.Tensor, RecurrentState]:
        """Consume one token per sequence, ``tokens`` (B,); return next-token logits (B, V) and the state."""
        if tokens.dim() != 1:
            raise ValueError(f"step takes one token per sequence, shape (batch,), got {tuple(tokens.shape)}")
        self.check_ids(tokens[:, None])
        y, final = self.rnn.step(self.drop(self.embedding(tokens)), state.layer_state)  # (B, H)
        state.update(final)
        return self.lm_head(self.drop(y)), state
