"""The RNN family's representative model for its atlas page: a small two-layer LSTM language model on one line of
real text as bytes (the hook ``representative_model`` of ``archlab.atlas.anatomy``)."""

from __future__ import annotations

import torch

from archlab.rnn.lm import RNNLM, lstm_config

TEXT = b"c = f * c + i * g; h = o * tanh(c)"


def representative_model() -> tuple[RNNLM, tuple[torch.Tensor]]:
    torch.manual_seed(0)
    model = RNNLM(lstm_config(d_model=64, hidden_size=128, n_layers=2))
    return model, (torch.tensor([list(TEXT)] * 2),)  # ids (2, L)
