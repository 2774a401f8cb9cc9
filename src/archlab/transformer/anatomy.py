"""The transformer family's representative model for its atlas page: a small GPT-2-style decoder on one line of
real text as bytes (the hook ``representative_model`` of ``archlab.atlas.anatomy``)."""

from __future__ import annotations

import torch

from archlab.transformer.lm import DecoderLM, gpt2_config

TEXT = b"def attention(q, k, v): return softmax(q @ k.T / sqrt(d)) @ v"


def representative_model() -> tuple[DecoderLM, tuple[torch.Tensor]]:
    torch.manual_seed(0)
    model = DecoderLM(gpt2_config(d_model=64, n_layers=2, n_heads=4, max_seq_len=128))
    return model, (torch.tensor([list(TEXT)] * 2),)  # ids (2, L)
