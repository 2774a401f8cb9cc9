"""A decoder-only language model from one config, in GPT-2 and Llama presets.

- GPT-2 (Radford et al. 2019): learned positions, LayerNorm, GELU (tanh) MLP, biases, tied embeddings,
  residual projections initialised with std ``0.02 / sqrt(2 * n_layers)`` (Section 2.3 of the paper).
- Llama (Touvron et al. 2023): RoPE, RMSNorm, SwiGLU, no biases, untied head, grouped-query attention
  (Ainslie et al. 2023); optional RoPE frequency scaling (``rope_scaling``, see ``rope_scaling.py``).

``DecoderModel`` is the stack without a head (``BaseModelOutput(last_hidden_state)``, after the final norm, as
Hugging Face's ``GPT2Model`` / ``LlamaModel``); ``DecoderLM`` adds the language-model head. An optional
``attention_mask`` (B, L), 1 for real tokens, hides padding keys; positions stay ``0 .. L-1`` either way.
``inputs_embeds`` (B, L, D) instead of ids feeds vectors where the token embeddings would be (LLaVA's projected
image tokens prefixed to text, Liu et al. 2023); ids and their embeddings give the same outputs.

Decoding: ``init_state(batch)`` allocates one KV cache per layer; ``step(tokens, state)`` consumes one token
per sequence and returns the next-token logits; ``forward(ids, state=...)`` pre-fills a chunk. Over the same
tokens, step-by-step logits equal the full forward's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from archlab.core.attention import KVCache, MultiHeadAttention
from archlab.core.block import Block
from archlab.core.io import PretrainedMixin
from archlab.core.lm import GenerationMixin, KVCacheState, next_token_loss
from archlab.core.mlp import MLP, SwiGLU
from archlab.core.norm import make_norm
from archlab.core.outputs import BaseModelOutput, LMOutput
from archlab.core.positional import LearnedPositionalEmbedding, RotaryEmbedding
from archlab.core.tokens import check_token_ids
from archlab.transformer.rope_scaling import ScaledRotaryEmbedding, rope_inv_freq
from archlab.transformer.validation import check_stack_config


@dataclass
class LMConfig:
    """Configuration of ``DecoderLM``. ``n_kv_heads=None`` means ``n_heads``; ``d_ff=None`` means 4 * d_model
    for an MLP and the 8/3 * d_model rounded up to a multiple of 32 for SwiGLU (Llama's rule); ``mlp="none"``
    makes an attention-only transformer (Elhage et al. 2021)."""

    vocab_size: int = 256
    max_seq_len: int = 256
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 8
    n_kv_heads: int | None = None
    d_ff: int | None = None
    position: Literal["learned", "rope", "none"] = "learned"
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    mlp: Literal["gelu", "gelu_tanh", "relu", "swiglu", "none"] = "gelu_tanh"
    bias: bool = True
    tie_embeddings: bool = True
    dropout: float = 0.0
    norm_eps: float = 1e-5
    rope_base: float = 10000.0
    rope_scaling: Literal["none", "linear", "llama3"] = "none"
    rope_factor: float = 1.0
    rope_low_freq_factor: float = 1.0
    rope_high_freq_factor: float = 4.0
    rope_original_max_len: int = 8192
    init_std: float = 0.02

    def __post_init__(self) -> None:
        check_stack_config(self, {"position": ("learned", "rope", "none"), "norm": ("layernorm", "rmsnorm"),
                                  "mlp": ("gelu", "gelu_tanh", "relu", "swiglu", "none"),
                                  "rope_scaling": ("none", "linear", "llama3")})
        if self.n_kv_heads is not None and (self.n_kv_heads < 1 or self.n_heads % self.n_kv_heads):
            raise ValueError(f"n_kv_heads={self.n_kv_heads} must be >= 1 and divide n_heads={self.n_heads}")
        if self.rope_factor < 1:
            raise ValueError(f"rope_factor={self.rope_factor} must be >= 1")
        if self.rope_high_freq_factor <= self.rope_low_freq_factor:
            raise ValueError(f"rope_high_freq_factor={self.rope_high_freq_factor} must be > "
                             f"rope_low_freq_factor={self.rope_low_freq_factor}")
        if self.rope_original_max_len < 1:
            raise ValueError(f"rope_original_max_len={self.rope_original_max_len} must be >= 1")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def ff_width(self) -> int:
        if self.d_ff is not None:
            return self.d_ff
        if self.mlp == "swiglu":
            return -(-(8 * self.d_model // 3) // 32) * 32
        return 4 * self.d_model


def gpt2_config(**overrides) -> LMConfig:
    """GPT-2 style: learned positions, LayerNorm, GELU (tanh) MLP, biases, tied embeddings."""
    values = dict(position="learned", norm="layernorm", mlp="gelu_tanh", bias=True, tie_embeddings=True)
    return LMConfig(**{**values, **overrides})


def llama_config(**overrides) -> LMConfig:
    """Llama style: RoPE, RMSNorm, SwiGLU, no biases, untied head, grouped-query attention (heads / 4, or the
    largest divisor of n_heads below that)."""
    n_heads = overrides.get("n_heads", LMConfig.n_heads)
    n_kv_heads = next(h for h in range(max(1, n_heads // 4), 0, -1) if n_heads % h == 0)
    values = dict(position="rope", norm="rmsnorm", mlp="swiglu", bias=False, tie_embeddings=False,
                  n_kv_heads=n_kv_heads, norm_eps=1e-6)
    return LMConfig(**{**values, **overrides})


PRESETS = {"gpt2": gpt2_config, "llama": llama_config}


class DecoderModel(PretrainedMixin, nn.Module):
    """Decoder-only transformer without a head: ids (B, L) -> ``BaseModelOutput(last_hidden_state (B, L, D))``."""

    config_class = LMConfig

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = LearnedPositionalEmbedding(c.max_seq_len, c.d_model) if c.position == "learned" else None
        rope = self._rope()
        self.blocks = nn.ModuleList(self._block(rope) for _ in range(c.n_layers))
        self.norm_f = make_norm(c.norm, c.d_model, eps=c.norm_eps, bias=c.bias)
        self.drop = nn.Dropout(c.dropout)
        self._build_head()
        self._init_weights()

    def _build_head(self) -> None:
        """Subclasses add their head here, before the weights are initialised."""

    def _rope(self) -> RotaryEmbedding | None:
        c = self.config
        if c.position != "rope":
            return None
        if c.rope_scaling == "none":
            return RotaryEmbedding(c.head_dim, max_len=c.max_seq_len, base=c.rope_base)
        inv_freq = rope_inv_freq(c.head_dim, c.rope_base, kind=c.rope_scaling, factor=c.rope_factor,
                                 low_freq_factor=c.rope_low_freq_factor, high_freq_factor=c.rope_high_freq_factor,
                                 original_max_len=c.rope_original_max_len)
        return ScaledRotaryEmbedding(c.head_dim, inv_freq=inv_freq, max_len=c.max_seq_len)

    def _block(self, rope: RotaryEmbedding | None) -> Block:
        c = self.config
        mixer = MultiHeadAttention(d_model=c.d_model, n_heads=c.n_heads, n_kv_heads=c.kv_heads, bias=c.bias,
                                   causal=True, rope=rope, dropout=c.dropout)
        ff: nn.Module | None = None
        if c.mlp == "swiglu":
            ff = SwiGLU(d_model=c.d_model, d_hidden=c.ff_width, bias=c.bias)
        elif c.mlp != "none":
            ff = MLP(d_model=c.d_model, d_hidden=c.ff_width, activation=c.mlp, bias=c.bias)
        return Block(d_model=c.d_model, mixer=mixer, feed_forward=ff, norm=c.norm, norm_eps=c.norm_eps,
                     norm_bias=c.bias, dropout=c.dropout)

    def _init_weights(self) -> None:
        """N(0, 0.02) for weights, zeros for biases; output projections scaled by 1/sqrt(2 n_layers) (GPT-2)."""
        std = self.config.init_std
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=std)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
        residual_std = std / (2 * self.config.n_layers) ** 0.5
        for block in self.blocks:
            nn.init.normal_(block.mixer.o_proj.weight, std=residual_std)
            if block.feed_forward is not None:
                ff = block.feed_forward
                nn.init.normal_((ff.down if isinstance(ff, SwiGLU) else ff.fc2).weight, std=residual_std)

    def num_parameters(self, *, exclude_embeddings: bool = False) -> int:
        """Parameter count (tied weights once); optionally without token and position tables."""
        total = sum(p.numel() for p in self.parameters())
        if exclude_embeddings:
            total -= self.tok_emb.weight.numel()
            if self.pos_emb is not None:
                total -= self.pos_emb.weight.numel()
        return total

    def check_ids(self, input_ids: torch.Tensor, *, past: int = 0) -> None:
        """ValueError unless ``input_ids`` is (B, L) of valid ids that fit after ``past`` positions."""
        check_token_ids(input_ids, vocab_size=self.config.vocab_size, max_len=self.config.max_seq_len, past=past)

    def hidden_states(
        self,
        input_ids: torch.Tensor | None = None,
        *,
        state: KVCacheState | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Final hidden states after the final norm, (B, L, D). ``attention_mask`` (B, L), 1 for real tokens,
        is for whole sequences (not with ``state``). Exactly one of ``input_ids`` (B, L) and ``inputs_embeds``
        (B, L, D) is given."""
        past = state.position if state is not None else 0
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids (batch, length) and inputs_embeds (batch, length, d_model)")
        if inputs_embeds is None:
            self.check_ids(input_ids, past=past)
            h = self.tok_emb(input_ids)  # (B, L, D)
        else:
            if inputs_embeds.dim() != 3 or inputs_embeds.shape[2] != self.config.d_model:
                raise ValueError(f"inputs_embeds must be (batch, length, {self.config.d_model}), "
                                 f"got shape {tuple(inputs_embeds.shape)}")
            if past + inputs_embeds.shape[1] > self.config.max_seq_len:
                raise ValueError(f"{past} + {inputs_embeds.shape[1]} positions exceed "
                                 f"max_seq_len={self.config.max_seq_len}")
            h = inputs_embeds
        padding_mask = None
        if attention_mask is not None:
            if state is not None:
                raise ValueError("attention_mask is for whole sequences; it cannot be combined with state")
            if attention_mask.shape != h.shape[:2]:
                raise ValueError(f"attention_mask shape {tuple(attention_mask.shape)} must equal the inputs' "
                                 f"(batch, length) {tuple(h.shape[:2])}")
            padding_mask = attention_mask.bool()
        positions = torch.arange(past, past + h.shape[1], device=h.device)
        if self.pos_emb is not None:
            h = h + self.pos_emb(positions)
        h = self.drop(h)
        for i, block in enumerate(self.blocks):
            h = block(h, cache=state.caches[i] if state is not None else None, positions=positions,
                      padding_mask=padding_mask)
        return self.norm_f(h)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        *,
        state: KVCacheState | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> BaseModelOutput:
        """``BaseModelOutput(last_hidden_state (B, L, D))`` for ``input_ids`` (B, L) or ``inputs_embeds`` (B, L, D)."""
        return BaseModelOutput(self.hidden_states(input_ids, state=state, attention_mask=attention_mask,
                                                  inputs_embeds=inputs_embeds))

    def init_state(self, batch: int, *, max_len: int | None = None) -> KVCacheState:
        """Empty KV caches for ``batch`` sequences of up to ``max_len`` (default ``max_seq_len``) tokens."""
        c = self.config
        param = self.tok_emb.weight
        caches = [KVCache(batch=batch, n_kv_heads=c.kv_heads, head_dim=c.head_dim, max_len=max_len or c.max_seq_len,
                          dtype=param.dtype, device=param.device) for _ in range(c.n_layers)]
        return KVCacheState(caches=caches)


class DecoderLM(GenerationMixin, DecoderModel):
    """Decoder-only transformer LM: ids (B, L) -> ``LMOutput(logits (B, L, V), loss)``."""

    def _build_head(self) -> None:
        c = self.config
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if c.tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        *,
        state: KVCacheState | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> LMOutput:
        """Logits for ``input_ids`` (B, L) or ``inputs_embeds`` (B, L, D); ``labels`` (B, L) are the targets
        (-100 ignored); with ``state``, the tokens continue the cached sequence and the caches are extended."""
        h = self.hidden_states(input_ids, state=state, attention_mask=attention_mask, inputs_embeds=inputs_embeds)
        logits = self.lm_head(h)  # (B, L, V)
        loss = None
        if labels is not None:
            loss = next_token_loss(logits, labels)
        return LMOutput(logits=logits, loss=loss)

    def step(self, tokens: torch.Tensor, state: KVCacheState) -> tuple[torch.Tensor, KVCacheState]:
        """Consume one token per sequence, ``tokens`` (B,); return next-token logits (B, V) and the state."""
        if tokens.dim() != 1:
            raise ValueError(f"step takes one token per sequence, shape (batch,), got {tuple(tokens.shape)}")
        logits = self.forward(tokens[:, None], state=state).logits[:, -1]  # (B, 1, V) -> (B, V)
        return logits, state
