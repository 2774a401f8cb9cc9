"""The reward family's representative model for its atlas page: the ``archlab train reward --arch lm`` model (a
fresh byte-level Llama decoder, 2 layers, 64 wide, 4 heads, context 128, with the scalar head read at the last
real token) scoring one chosen and one rejected answer, right-padded (the hook ``representative_model`` of
``archlab.atlas.anatomy``).

The recipe builds its backbone through ``transformers.LlamaModel`` and ``archlab.interop.from_transformers``;
importing transformers takes seconds, so the hook rebuilds the same backbone from its saved form instead (the
class path and config a saved ``RewardModel`` stores, ``RewardModel.config_from_saved``): same class, same config,
fresh weights, and this family still imports no other.
"""

from __future__ import annotations

import torch

from archlab.reward.model import RewardModel
from archlab.reward.text import encode_texts

# What ``build_reward_model(RewardBackboneConfig())`` gives, as a saved reward model's config.json holds it.
BACKBONE = dict(vocab_size=256, max_seq_len=128, d_model=64, n_layers=2, n_heads=4, n_kv_heads=4, d_ff=256,
                position="rope", norm="rmsnorm", mlp="swiglu", bias=False, tie_embeddings=False, norm_eps=1e-6)
TEXTS = ["Answer: the scan carries a state of fixed size", "Answer: it attends"]


def representative_model() -> tuple[RewardModel, tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    config = RewardModel.config_from_saved(dict(
        backbone_class="archlab.transformer.lm:DecoderModel", backbone=BACKBONE, d_model=64, pooling="last",
        tokenizer="bytes"))
    model = RewardModel.from_config(config)
    ids, mask = encode_texts(TEXTS, tokenizer="bytes", max_len=128)  # (2, L) each, right-padded
    return model, (ids, mask)
