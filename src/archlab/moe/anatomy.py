"""The MoE family's representative model for its atlas page: a small top-2 mixture-of-experts language model on
one line of real text as bytes (the hook ``representative_model`` of ``archlab.atlas.anatomy``)."""

from __future__ import annotations

import torch

from archlab.moe.lm import MoELM, MoELMConfig

TEXT = b"def route(x): return topk(softmax(router(x)), k=2)"


def representative_model() -> tuple[MoELM, tuple[torch.Tensor]]:
    torch.manual_seed(0)
    model = MoELM(MoELMConfig(d_model=64, n_layers=2, n_heads=4, n_experts=4, top_k=2, max_seq_len=128))
    return model, (torch.tensor([list(TEXT)] * 2),)  # ids (2, L)
