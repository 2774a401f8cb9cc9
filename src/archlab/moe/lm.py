"""A decoder-only MoE language model: Llama-style attention blocks whose feed-forward is an MoE layer in every
``moe_every``-th block (Fedus et al. 2022 put one in every other block; Mixtral, Jiang et al. 2024, in every
block), a dense SwiGLU in the others.

Attention is ``core.attention.MultiHeadAttention`` with RoPE and grouped-query heads, norms are RMSNorm,
the blocks are ``core.block.Block``. The MoE layer returns ``MoEOutput``; ``MoEFeedForward`` hands the block
its hidden states and keeps the auxiliary loss, which the model sums over blocks and adds to the
cross-entropy: ``LMOutput.loss = CE + aux_loss``. ``moe_every=0`` gives the dense model of the same shape.

Initialisation as GPT-2 / Llama: N(0, 0.02) weights, output projections N(0, 0.02 / sqrt(2 n_layers)).

Decoding: ``init_state(batch)`` allocates one KV cache per block; ``step(tokens, state)`` consumes one token per
sequence; ``generate`` is ``core.lm``'s. A token's route depends on that token alone for the token-choice routers
without a capacity (the default, dropless), so step-by-step logits equal the full forward's; with a capacity
or expert-choice routing, tokens compete for experts within a forward and a cached decode routes differently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from archlab.core.attention import KVCache, MultiHeadAttention
from archlab.core.block import Block
from archlab.core.io import PretrainedMixin
from archlab.core.lm import GenerationMixin, KVCacheState, next_token_loss
from archlab.core.mlp import SwiGLU
from archlab.core.norm import RMSNorm
from archlab.core.outputs import LMOutput
from archlab.core.positional import RotaryEmbedding
from archlab.core.tokens import check_token_ids
from archlab.core.validation import (check_at_least, check_choices, check_divisible, check_optional_at_least,
                                     check_positive)
from archlab.moe.layer import MoELayer, MoEOutput
from archlab.moe.routers import ROUTERS


@dataclass
class MoELMConfig:
    """Configuration of ``MoELM``. ``d_ff=None``: Llama's 8/3 * d_model rounded up to 32; ``d_expert=None``:
    ``d_ff``; ``n_kv_heads=None``: ``n_heads``; ``head_dim=None``: ``d_model / n_heads``; ``capacity_factor=None``:
    dropless."""

    vocab_size: int = 256
    max_seq_len: int = 256
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int | None = None
    head_dim: int | None = None
    d_ff: int | None = None
    d_expert: int | None = None
    n_experts: int = 8
    top_k: int = 2
    moe_every: int = 1
    router: Literal["topk", "switch", "noisy_topk", "expert_choice", "bias_balanced"] = "topk"
    capacity_factor: float | None = None
    balance_loss: Literal["none", "switch", "shazeer"] = "switch"
    balance_coef: float = 1e-2
    z_loss_coef: float = 0.0
    n_shared_experts: int = 0
    norm_eps: float = 1e-5
    rope_base: float = 10000.0
    tie_embeddings: bool = False
    init_std: float = 0.02

    def __post_init__(self) -> None:
        check_at_least(self, 1, "vocab_size", "max_seq_len", "d_model", "n_layers", "n_heads", "n_experts", "top_k")
        if self.head_dim is None:
            check_divisible(self, "d_model", "n_heads")
        if self.n_kv_heads is not None and (self.n_kv_heads < 1 or self.n_heads % self.n_kv_heads):
            raise ValueError(f"n_kv_heads={self.n_kv_heads} must be >= 1 and divide n_heads={self.n_heads}")
        if self.attention_head_dim % 2:
            raise ValueError(f"head_dim={self.attention_head_dim} must be even for rotary embeddings")
        if self.top_k > self.n_experts:
            raise ValueError(f"top_k={self.top_k} must be <= n_experts={self.n_experts}")
        if self.moe_every < 0:
            raise ValueError(f"moe_every={self.moe_every} must be >= 0 (0: no MoE blocks)")
        check_choices(self, {"router": ROUTERS})
        check_optional_at_least(self, 1, "d_ff", "d_expert", "head_dim")
        if self.capacity_factor is not None and not 0 < self.capacity_factor < math.inf:
            raise ValueError(f"capacity_factor={self.capacity_factor} must be > 0 and finite (None: dropless)")
        check_positive(self, "norm_eps", "init_std")

    @property
    def attention_head_dim(self) -> int:
        return self.head_dim or self.d_model // self.n_heads

    @property
    def ff_width(self) -> int:
        return self.d_ff or -(-(8 * self.d_model // 3) // 32) * 32

    @property
    def expert_width(self) -> int:
        return self.d_expert or self.ff_width

    def is_moe_block(self, i: int) -> bool:
        """Block ``i`` (from 0) has an MoE feed-forward: every ``moe_every``-th block, the last of each group."""
        return self.moe_every > 0 and (i + 1) % self.moe_every == 0


class MoEFeedForward(nn.Module):
    """``MoELayer`` as a block's feed-forward: returns the hidden states, keeps the last ``MoEOutput``."""

    def __init__(self, layer: MoELayer) -> None:
        super().__init__()
        self.moe = layer
        self.last: MoEOutput | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.last = self.moe(x)
        return self.last.hidden


class MoELM(GenerationMixin, PretrainedMixin, nn.Module):
    """MoE decoder-only LM: ids (B, L) -> ``LMOutput(logits (B, L, V), loss, aux_loss)``."""

    config_class = MoELMConfig

    def __init__(self, config: MoELMConfig) -> None:
        super().__init__()
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        rope = RotaryEmbedding(c.attention_head_dim, max_len=c.max_seq_len, base=c.rope_base)
        self.blocks = nn.ModuleList(self._block(i, rope) for i in range(c.n_layers))
        self.norm_f = RMSNorm(c.d_model, eps=c.norm_eps)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if c.tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight
        self._init_weights()

    def _block(self, i: int, rope: RotaryEmbedding) -> Block:
        c = self.config
        mixer = MultiHeadAttention(d_model=c.d_model, n_heads=c.n_heads, n_kv_heads=c.n_kv_heads,
                                   head_dim=c.attention_head_dim, bias=False, causal=True, rope=rope)
        if c.is_moe_block(i):
            ff: nn.Module = MoEFeedForward(MoELayer(
                d_model=c.d_model, d_expert=c.expert_width, n_experts=c.n_experts, top_k=c.top_k, router=c.router,
                capacity_factor=c.capacity_factor, balance_loss=c.balance_loss, balance_coef=c.balance_coef,
                z_loss_coef=c.z_loss_coef, n_shared_experts=c.n_shared_experts))
        else:
            ff = SwiGLU(d_model=c.d_model, d_hidden=c.ff_width, bias=False)
        return Block(d_model=c.d_model, mixer=mixer, feed_forward=ff, norm="rmsnorm", norm_eps=c.norm_eps)

    def _init_weights(self) -> None:
        """N(0, std) for every matrix, output projections N(0, std / sqrt(2 n_layers)) (GPT-2); router as the
        matrices (its logits start near zero: nearly uniform routing)."""
        std = self.config.init_std
        residual_std = std / (2 * self.config.n_layers) ** 0.5
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                out = name.endswith(("o_proj.weight", "down.weight", "down_proj"))
                nn.init.normal_(p, std=residual_std if out else std)

    def moe_layers(self) -> list[MoELayer]:
        return [b.feed_forward.moe for b in self.blocks if isinstance(b.feed_forward, MoEFeedForward)]

    def router_stats(self) -> dict[str, torch.Tensor]:
        """Of the last forward: max over mean expert load (1 is even), averaged over the MoE layers."""
        loads = [b.feed_forward.last.router_stats.load.float() for b in self.blocks
                 if isinstance(b.feed_forward, MoEFeedForward)]  # (K,) each
        return {"max_over_mean_load": torch.stack([load.max() / load.mean() for load in loads]).mean()} if loads else {}

    def num_parameters(self, *, active: bool = False) -> int:
        """Parameter count (tied weights once); ``active=True``: those one token uses (top_k of K experts)."""
        total = sum(p.numel() for p in self.parameters())
        if active:
            for layer in self.moe_layers():
                per_expert = layer.experts.gate_up_proj[0].numel() + layer.experts.down_proj[0].numel()
                active_experts = layer.top_k if layer.router_kind != "expert_choice" else 1
                total -= (layer.n_experts - active_experts) * per_expert
        return total

    def check_ids(self, input_ids: torch.Tensor, *, past: int = 0) -> None:
        """ValueError unless ``input_ids`` is (B, L) of valid ids that fit after ``past`` positions."""
        check_token_ids(input_ids, vocab_size=self.config.vocab_size, max_len=self.config.max_seq_len, past=past)

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor | None = None, *,
                state: KVCacheState | None = None) -> LMOutput:
        """Logits for ``input_ids`` (B, L); with ``labels`` (B, L) (-100 ignored), ``loss = CE + aux_loss``; with
        ``state`` the tokens continue the cached sequence and the caches are extended."""
        past = state.position if state is not None else 0
        self.check_ids(input_ids, past=past)
        positions = torch.arange(past, past + input_ids.shape[1], device=input_ids.device)
        h = self.tok_emb(input_ids)  # (B, L, D)
        for i, block in enumerate(self.blocks):
            h = block(h, positions=positions, cache=state.caches[i] if state is not None else None)
        logits = self.lm_head(self.norm_f(h))  # (B, L, V)
        aux = sum((b.feed_forward.last.aux_loss for b in self.blocks if isinstance(b.feed_forward, MoEFeedForward)),
                  logits.new_zeros((), dtype=torch.float32))
        loss = None
        if labels is not None:
            loss = next_token_loss(logits, labels) + aux
        return LMOutput(logits=logits, loss=loss, aux_loss=aux, stats=self.router_stats())

    def init_state(self, batch: int, *, max_len: int | None = None) -> KVCacheState:
        """Empty KV caches for ``batch`` sequences of up to ``max_len`` (default ``max_seq_len``) tokens."""
        c = self.config
        param = self.tok_emb.weight
        return KVCacheState(caches=[
            KVCache(batch=batch, n_kv_heads=block.mixer.n_kv_heads, head_dim=c.attention_head_dim,
                    max_len=max_len or c.max_seq_len, dtype=param.dtype, device=param.device)
            for block in self.blocks])

    def step(self, tokens: torch.Tensor, state: KVCacheState) -> tuple[torch.Tensor, KVCacheState]:
        """Consume one token per sequence, ``tokens`` (B,); return next-token logits (B, V) and the state."""
        if tokens.dim() != 1:
            raise ValueError(f"step takes one token per sequence, shape (batch,), got {tuple(tokens.shape)}")
        return self.forward(tokens[:, None], state=state).logits[:, -1], state  # (B, 1, V) -> (B, V)
