"""Training recipes of the SSM family for ``archlab train lm --arch mamba|hybrid``.

The task, data and sampling are the generic byte-level ones of ``archlab.train.lm_task``; this file picks the
model: ``MambaLM`` with Mamba layers only (no MLP), or with one attention layer in four and SwiGLU
feed-forwards (``hybrid``, a small Jamba-style stack); or ``LinearAttentionLM``, Based's Taylor linear attention
behind a short convolution (``linear``, Arora et al. 2024).
"""

from __future__ import annotations

from archlab.ssm.linear_attention import LinearAttentionLM, LinearAttentionLMConfig
from archlab.ssm.lm import MambaLM, MambaLMConfig, interleaved_layers
from archlab.train.lm_task import LMRecipe

# The family's training targets (``archlab.train.recipe``): {target: {arch: recipe}}.
RECIPES = {
    "lm": {
        "mamba": LMRecipe("mamba", MambaLM, MambaLMConfig, dict(d_model=128, layers=("mamba",) * 4, d_state=16)),
        "hybrid": LMRecipe("hybrid", MambaLM, MambaLMConfig,
                           dict(d_model=128, layers=interleaved_layers(4, attention_every=4, attention_offset=2),
                                d_state=16, mlp="swiglu", n_heads=4, max_seq_len=256)),
        "linear": LMRecipe("linear", LinearAttentionLM, LinearAttentionLMConfig,
                           dict(d_model=128, n_layers=4, feature_dim=16, n_heads=4)),
    },
}
