"""The SSM family's representative model for its atlas page: a small Mamba language model on one line of real
text as bytes (the hook ``representative_model`` of ``archlab.atlas.anatomy``)."""

from __future__ import annotations

import torch

from archlab.ssm.lm import MambaLM, MambaLMConfig

TEXT = b"h[t] = exp(dt * A) * h[t-1] + dt * B[t] * x[t]; y[t] = C[t] . h[t]"


def representative_model() -> tuple[MambaLM, tuple[torch.Tensor]]:
    torch.manual_seed(0)
    model = MambaLM(MambaLMConfig(d_model=64, layers=("mamba",) * 2, d_state=16))
    return model, (torch.tensor([list(TEXT)] * 2),)  # ids (2, L)
