"""Training recipes of the SSM family for ``archlab train lm --arch mamba|hybrid``.

The task, data and sampling are the generic byte-level ones of ``archlab.train.lm_task``; this file picks the
model: ``MambaLM`` (pure Mamba, no MLP) or ``HybridLM`` (Mamba with one attention layer in four and SwiGLU
feed-forwards, a small Jamba-style stack).
"""

from __future__ import annotations

from archlab.ssm.lm import HybridLM, HybridLMConfig, MambaLM, MambaLMConfig
from archlab.train.lm_task import LMRecipe


def mamba_recipe() -> LMRecipe:
    return LMRecipe("mamba", MambaLM, MambaLMConfig, dict(d_model=128, n_layers=4, d_state=16))


def hybrid_recipe() -> LMRecipe:
    return LMRecipe("hybrid", HybridLM, HybridLMConfig,
                    dict(d_model=128, n_layers=4, d_state=16, n_heads=4, attn_every=4, attn_offset=2,
                         max_seq_len=256))
