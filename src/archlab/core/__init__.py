"""Building blocks that know no family: attention, positions, feed-forwards, norms, the block, the language-model
shell, save/load."""

from archlab.core.attention import KVCache, MultiHeadAttention
from archlab.core.block import Block
from archlab.core.io import PretrainedMixin, load_pretrained, save_pretrained
from archlab.core.lm import GenerationMixin, KVCacheState, next_token_loss
from archlab.core.mlp import MLP, SwiGLU
from archlab.core.norm import AdaLayerNorm, LayerNorm, RMSNorm, make_norm
from archlab.core.outputs import BaseModelOutput, LMOutput
from archlab.core.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    RotaryEmbedding2D,
    sincos_1d,
    sincos_2d,
)

__all__ = [
    "AdaLayerNorm", "BaseModelOutput", "Block", "GenerationMixin", "KVCache", "KVCacheState", "LayerNorm",
    "LearnedPositionalEmbedding", "LMOutput", "MLP", "MultiHeadAttention", "PretrainedMixin", "RMSNorm",
    "RotaryEmbedding", "RotaryEmbedding2D", "SwiGLU", "load_pretrained", "make_norm", "next_token_loss",
    "save_pretrained", "sincos_1d", "sincos_2d",
]
