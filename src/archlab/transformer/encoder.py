"""A bidirectional transformer encoder in the style of BERT, and the poolings that turn it into one vector.

Devlin et al. 2019, "BERT": token + position + token-type embeddings summed and layer-normalised, then
``n_layers`` post-norm blocks (``x = LN(x + Attn(x))``, ``x = LN(x + FFN(x))``, Vaswani et al. 2017) with exact
(erf) GELU. ``norm_position="pre"`` gives the pre-norm variant (Xiong et al. 2020) with a final LayerNorm.
``position="rope"`` or ``"none"`` replace the learned table (RoFormer, Su et al. 2021; no positions at all).
BERT's pooler (a dense + tanh over [CLS]) is left out: ``pool`` gives the [CLS] vector or the mean over real
tokens (Reimers and Gurevych 2019, Sentence-BERT).

Padding: ``attention_mask`` (B, L), 1 for real tokens, hides padded keys; padded positions still get outputs
(they attend to the real tokens), as in Hugging Face's ``BertModel``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from archlab.core.attention import MultiHeadAttention
from archlab.core.block import Block
from archlab.core.io import PretrainedMixin
from archlab.core.mlp import MLP
from archlab.core.norm import LayerNorm
from archlab.core.outputs import BaseModelOutput
from archlab.core.positional import LearnedPositionalEmbedding, RotaryEmbedding
from archlab.core.tokens import check_token_ids
from archlab.transformer.validation import check_stack_config

Pooling = Literal["cls", "mean"]


@dataclass
class EncoderConfig:
    """Configuration of ``Encoder``. ``d_ff=None`` means 4 * d_model; ``type_vocab_size=0`` drops token types."""

    vocab_size: int = 30522
    max_seq_len: int = 512
    type_vocab_size: int = 2
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int | None = None
    position: Literal["learned", "rope", "none"] = "learned"
    norm_position: Literal["post", "pre"] = "post"
    activation: Literal["gelu", "gelu_tanh", "relu"] = "gelu"
    dropout: float = 0.0
    norm_eps: float = 1e-12
    rope_base: float = 10000.0
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.type_vocab_size < 0:
            raise ValueError(f"type_vocab_size={self.type_vocab_size} must be >= 0")
        check_stack_config(self, {"position": ("learned", "rope", "none"), "norm_position": ("post", "pre"),
                                  "activation": ("gelu", "gelu_tanh", "relu")})

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def ff_width(self) -> int:
        return 4 * self.d_model if self.d_ff is None else self.d_ff


def bert_config(**overrides) -> EncoderConfig:
    """BERT-base: 12 layers, 768 wide, 12 heads, learned positions up to 512, post-norm, exact GELU."""
    values = dict(vocab_size=30522, max_seq_len=512, d_model=768, n_layers=12, n_heads=12, d_ff=3072)
    return EncoderConfig(**{**values, **overrides})


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None, kind: Pooling) -> torch.Tensor:
    """One vector per sequence from ``hidden`` (B, L, D): the first ([CLS]) position, or the mean over the real
    tokens of ``attention_mask`` (B, L) (all tokens when it is None). -> (B, D)."""
    if kind == "cls":
        return hidden[:, 0]
    if kind != "mean":
        raise ValueError(f"pooling={kind!r} is not one of 'cls', 'mean'")
    if attention_mask is None:
        return hidden.mean(dim=1)
    weights = attention_mask.to(hidden.dtype)[:, :, None]  # (B, L, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1e-9)  # (B, D)


class Encoder(PretrainedMixin, nn.Module):
    """Bidirectional encoder: ids (B, L) -> ``BaseModelOutput(last_hidden_state (B, L, D))``."""

    config_class = EncoderConfig

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = LearnedPositionalEmbedding(c.max_seq_len, c.d_model) if c.position == "learned" else None
        self.type_emb = nn.Embedding(c.type_vocab_size, c.d_model) if c.type_vocab_size else None
        self.emb_norm = LayerNorm(c.d_model, eps=c.norm_eps)
        self.drop = nn.Dropout(c.dropout)
        rope = RotaryEmbedding(c.head_dim, max_len=c.max_seq_len, base=c.rope_base) if c.position == "rope" else None
        self.blocks = nn.ModuleList(self._block(rope) for _ in range(c.n_layers))
        self.norm_f = LayerNorm(c.d_model, eps=c.norm_eps) if c.norm_position == "pre" else None
        self._init_weights()

    def _block(self, rope: RotaryEmbedding | None) -> Block:
        c = self.config
        mixer = MultiHeadAttention(d_model=c.d_model, n_heads=c.n_heads, causal=False, rope=rope, dropout=c.dropout)
        ff = MLP(d_model=c.d_model, d_hidden=c.ff_width, activation=c.activation)
        return Block(d_model=c.d_model, mixer=mixer, feed_forward=ff, norm_eps=c.norm_eps, dropout=c.dropout,
                     norm_position=c.norm_position)

    def _init_weights(self) -> None:
        """N(0, init_std) for weights and tables, zeros for biases (Devlin et al. 2019, BERT's initialiser)."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=self.config.init_std)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
        if self.pos_emb is not None:
            nn.init.normal_(self.pos_emb.weight, std=self.config.init_std)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _check_inputs(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, token_type_ids: torch.Tensor | None
    ) -> None:
        c = self.config
        check_token_ids(input_ids, vocab_size=c.vocab_size, max_len=c.max_seq_len)
        for name, t in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
            if t is not None and t.shape != input_ids.shape:
                raise ValueError(f"{name} shape {tuple(t.shape)} must equal input_ids shape {tuple(input_ids.shape)}")
        if token_type_ids is not None and token_type_ids.numel():
            if int(token_type_ids.min()) < 0 or int(token_type_ids.max()) >= max(c.type_vocab_size, 1):
                raise ValueError(f"token_type_ids must be in [0, {max(c.type_vocab_size, 1)}), got range "
                                 f"[{int(token_type_ids.min())}, {int(token_type_ids.max())}]")

    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The summed, normalised input embeddings, (B, L, D)."""
        h = self.tok_emb(input_ids)  # (B, L, D)
        if self.pos_emb is not None:
            h = h + self.pos_emb(torch.arange(input_ids.shape[1], device=input_ids.device))
        if self.type_emb is not None:
            types = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
            h = h + self.type_emb(types)
        return self.drop(self.emb_norm(h))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> BaseModelOutput:
        """Hidden states for ``input_ids`` (B, L); ``attention_mask`` (B, L) 1 for real tokens, 0 for padding."""
        self._check_inputs(input_ids, attention_mask, token_type_ids)
        h = self.embed(input_ids, token_type_ids)
        padding_mask = None if attention_mask is None else attention_mask.bool()
        for block in self.blocks:
            h = block(h, padding_mask=padding_mask)
        if self.norm_f is not None:
            h = self.norm_f(h)
        return BaseModelOutput(last_hidden_state=h)

    def pooled(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *, pooling: Pooling = "mean"
    ) -> torch.Tensor:
        """One vector per sequence, (B, D), pooled as ``pooling`` says."""
        hidden = self.forward(input_ids, attention_mask).last_hidden_state
        return pool(hidden, attention_mask, pooling)
