"""Linear attention as a recurrent model with a fixed-size state, and a small language model built from it.

Katharopoulos et al. 2020 ("Transformers are RNNs", Sec. 3.2-3.4) replace the softmax similarity
``exp(q . k)`` by a feature-map product ``phi(q) . phi(k)``; causal attention then becomes a recurrence over a
state that does not grow with the sequence::

    S_t = S_{t-1} + phi(k_t) v_t^T        (F x d_v per head)
    z_t = z_{t-1} + phi(k_t)              (F per head)
    y_t = phi(q_t)^T S_t / (phi(q_t)^T z_t + eps)

The feature map is Based's second-order Taylor expansion of the exponential (Arora et al. 2024, Sec. 3.1):
for queries and keys of ``f`` features, ``phi(x) = [1, x / f^(1/4), vec(x x^T) / sqrt(2 f)]`` of size
``F = 1 + f + f^2``, so that ``phi(q) . phi(k) = 1 + q.k / sqrt(f) + (q.k)^2 / (2 f)``, the first three terms of
``exp(q.k / sqrt(f))``. The state per layer is ``n_heads * F * (d_v + 1)`` numbers: the feature dimension ``f``
sets the recurrent state size, which is what the recall-gap claim varies (Based, Fig. 2).

Training uses the equivalent causal quadratic form (exact, and fast at the lengths of the synthetic tasks);
inputs longer than ``CHUNK`` positions (a long prompt) and decoding (``state=``, ``step``, ``generate`` from
``core.lm``) run it chunk by chunk through the recurrent state, so cost grows linearly with the length. As in Based, a
short causal depthwise convolution (``ConvAttention``, kernel ``conv_kernel``) sits in front of each
linear-attention layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from archlab.core.block import Block
from archlab.core.io import PretrainedMixin
from archlab.core.lm import GenerationMixin, next_token_loss
from archlab.core.norm import RMSNorm
from archlab.core.outputs import LMOutput
from archlab.core.tokens import check_token_ids
from archlab.core.validation import check_at_least, check_divisible, check_positive
from archlab.ssm.lm import ConvAttention, ConvAttentionState


CHUNK = 256  # positions per quadratic block; every training length here is shorter, so training is one block


def taylor_size(feature_dim: int) -> int:
    """Size ``1 + f + f^2`` of ``taylor_features`` for ``f`` input features."""
    return 1 + feature_dim + feature_dim**2


def taylor_features(x: torch.Tensor) -> torch.Tensor:
    """Based's feature map: (..., f) -> (..., 1 + f + f^2) with ``phi(q) . phi(k)`` the 2nd-order Taylor
    expansion of ``exp(q . k / sqrt(f))``."""
    f = x.shape[-1]
    square = (x[..., :, None] * x[..., None, :]).flatten(-2) / math.sqrt(2 * f)  # (..., f, f) -> (..., f^2)
    return torch.cat((torch.ones_like(x[..., :1]), x / f**0.25, square), dim=-1)


@dataclass
class LinearAttentionState:
    """Recurrent state of one layer: ``kv`` (B, H, F, d_v) = sum phi(k) v^T and ``k_sum`` (B, H, F) = sum phi(k)."""

    kv: torch.Tensor
    k_sum: torch.Tensor


class LinearAttention(nn.Module):
    """Causal linear attention with the Taylor feature map: (B, L, D) -> (B, L, D)."""

    def __init__(self, *, d_model: int, feature_dim: int, n_heads: int = 1, eps: float = 1e-6) -> None:
        super().__init__()
        sizes = {"d_model": d_model, "feature_dim": feature_dim, "n_heads": n_heads}
        check_at_least(sizes, 1)
        check_divisible(sizes, "d_model", "n_heads")
        self.d_model, self.feature_dim, self.n_heads, self.eps = d_model, feature_dim, n_heads, eps
        self.head_dim = d_model // n_heads
        self.n_features = taylor_size(feature_dim)
        self.q_proj = nn.Linear(d_model, n_heads * feature_dim, bias=False)
        self.k_proj = nn.Linear(d_model, n_heads * feature_dim, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def init_state(self, batch: int, *, dtype: torch.dtype | None = None,
                   device: torch.device | str | None = None) -> LinearAttentionState:
        """The empty state (nothing consumed): zeros of a size independent of the sequence length."""
        dtype = dtype or self.o_proj.weight.dtype
        device = device or self.o_proj.weight.device
        h, f = self.n_heads, self.n_features
        return LinearAttentionState(kv=torch.zeros(batch, h, f, self.head_dim, dtype=dtype, device=device),
                                    k_sum=torch.zeros(batch, h, f, dtype=dtype, device=device))

    def forward(self, x: torch.Tensor, *, cache: LinearAttentionState | None = None,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        """Mix ``x`` (B, L, D); with ``cache`` (a ``LinearAttentionState``) the chunk continues it, which is
        updated. ``positions`` is accepted for the attention interface and unused (order comes from causality).

        Up to ``CHUNK`` positions take the quadratic form at once; a longer input runs ``CHUNK`` positions at a
        time through a state (the chunkwise form of Hua et al. 2022, Sec. 3, and Yang et al. 2024, Sec. 2), so
        that its cost grows linearly with the length rather than quadratically."""
        length = x.shape[1]
        if length <= CHUNK:
            return self._chunk(x, cache)
        state = cache if cache is not None else self.init_state(x.shape[0], dtype=x.dtype, device=x.device)
        return torch.cat([self._chunk(x[:, start:start + CHUNK], state) for start in range(0, length, CHUNK)],
                         dim=1)  # (B, L, D)

    def _chunk(self, x: torch.Tensor, cache: LinearAttentionState | None) -> torch.Tensor:
        """The quadratic form over ``x`` (B, L, D), continuing and updating ``cache`` when one is given."""
        b, length, _ = x.shape
        h, f = self.n_heads, self.feature_dim
        q = taylor_features(self.q_proj(x).view(b, length, h, f).transpose(1, 2))  # (B, H, L, F)
        k = taylor_features(self.k_proj(x).view(b, length, h, f).transpose(1, 2))  # (B, H, L, F)
        v = self.v_proj(x).view(b, length, h, self.head_dim).transpose(1, 2)  # (B, H, L, d_v)
        scores = (q @ k.transpose(-1, -2)).tril()  # (B, H, L, L): phi(q_t) . phi(k_s) for s <= t
        numerator = scores @ v  # (B, H, L, d_v)
        denominator = scores.sum(-1)  # (B, H, L)
        if cache is not None:
            numerator = numerator + q @ cache.kv  # (B, H, L, F) @ (B, H, F, d_v)
            denominator = denominator + (q * cache.k_sum[:, :, None]).sum(-1)  # (B, H, L)
            cache.kv = cache.kv + k.transpose(-1, -2) @ v  # (B, H, F, L) @ (B, H, L, d_v)
            cache.k_sum = cache.k_sum + k.sum(2)
        y = numerator / (denominator[..., None] + self.eps)  # (B, H, L, d_v)
        return self.o_proj(y.transpose(1, 2).reshape(b, length, self.d_model))  # (B, H, L, d_v) -> (B, L, D)


@dataclass
class LinearAttentionLMConfig:
    """Configuration of ``LinearAttentionLM``: ``n_layers`` pre-norm blocks of short convolution + linear
    attention (no MLP: Zoology's mixer-only stacks), untied head by default."""

    vocab_size: int = 256
    d_model: int = 64
    n_layers: int = 2
    feature_dim: int = 16
    n_heads: int = 1
    conv_kernel: int = 3
    tie_embeddings: bool = False
    norm_eps: float = 1e-5
    init_std: float = 0.02

    def __post_init__(self) -> None:
        check_at_least(self, 1, "vocab_size", "d_model", "n_layers", "feature_dim", "n_heads", "conv_kernel")
        check_divisible(self, "d_model", "n_heads")
        check_positive(self, "norm_eps", "init_std")

    @property
    def state_size(self) -> int:
        """Numbers in one layer's recurrent state: the linear-attention sums and the convolution's window."""
        return taylor_size(self.feature_dim) * (self.d_model + self.n_heads) + self.d_model * (self.conv_kernel - 1)


@dataclass
class LinearAttentionLMState:
    """Decoding state: one ``ConvAttentionState`` (holding a ``LinearAttentionState``) per layer."""

    layers: list[ConvAttentionState]


class LinearAttentionLM(GenerationMixin, PretrainedMixin, nn.Module):
    """Embedding, blocks of short convolution + linear attention, RMSNorm, head: ids (B, L) -> ``LMOutput``."""

    config_class = LinearAttentionLMConfig

    def __init__(self, config: LinearAttentionLMConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embedding = nn.Embedding(c.vocab_size, c.d_model)
        self.blocks = nn.ModuleList(
            Block(d_model=c.d_model, norm="rmsnorm", norm_eps=c.norm_eps, feed_forward=None,
                  mixer=ConvAttention(d_model=c.d_model, kernel=c.conv_kernel, attention=LinearAttention(
                      d_model=c.d_model, feature_dim=c.feature_dim, n_heads=c.n_heads)))
            for _ in range(c.n_layers))
        self.norm_f = RMSNorm(c.d_model, eps=c.norm_eps)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        nn.init.normal_(self.embedding.weight, std=c.init_std)
        if c.tie_embeddings:
            self.lm_head.weight = self.embedding.weight
        else:
            nn.init.normal_(self.lm_head.weight, std=c.init_std)

    def check_ids(self, input_ids: torch.Tensor, *, past: int = 0) -> None:
        """ValueError unless ``input_ids`` is (B, L) of valid ids (of any length: the state does not grow)."""
        check_token_ids(input_ids, vocab_size=self.config.vocab_size)

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor | None = None, *,
                state: LinearAttentionLMState | None = None) -> LMOutput:
        """Logits (B, L, V) for ``input_ids`` (B, L); ``labels`` (-100 ignored) give the loss; with ``state``
        the tokens continue the decoded sequence and the state is updated."""
        self.check_ids(input_ids)
        h = self.embedding(input_ids)  # (B, L, D)
        for i, block in enumerate(self.blocks):
            h = block(h, cache=None if state is None else state.layers[i])
        logits = self.lm_head(self.norm_f(h))  # (B, L, V)
        loss = None if labels is None else next_token_loss(logits, labels)
        return LMOutput(logits=logits, loss=loss)

    def init_state(self, batch: int, *, max_len: int | None = None) -> LinearAttentionLMState:
        """The empty decoding state: ``config.state_size`` numbers per layer and sequence, whatever the length
        (``max_len`` is accepted and unused)."""
        weight = self.embedding.weight
        layers = []
        for block in self.blocks:
            conv = torch.zeros(batch, self.config.d_model, self.config.conv_kernel - 1, dtype=weight.dtype,
                               device=weight.device)
            inner = block.mixer.attention.init_state(batch, dtype=weight.dtype, device=weight.device)
            layers.append(ConvAttentionState(cache=inner, conv=conv))
        return LinearAttentionLMState(layers=layers)

    def step(self, tokens: torch.Tensor, state: LinearAttentionLMState) -> tuple[torch.Tensor, LinearAttentionLMState]:
        """Consume one token per sequence, ``tokens`` (B,); return next-token logits (B, V) and the state."""
        if tokens.dim() != 1:
            raise ValueError(f"step takes one token per sequence, shape (batch,), got {tuple(tokens.shape)}")
        self.check_ids(tokens[:, None])
        h = self.embedding(tokens)  # (B, D)
        for block, layer_state in zip(self.blocks, state.layers):
            h, _ = block.step(h, layer_state)
        return self.lm_head(self.norm_f(h)), state
