"""Scaled dot-product attention: multi-head, grouped-query and multi-query, self and cross, with a KV cache.

Vaswani et al. 2017: ``softmax(Q K^T / sqrt(d_k) + mask) V``. Grouped-query attention (Ainslie et al. 2023)
shares each key/value head among ``n_heads / n_kv_heads`` query heads; multi-query (Shazeer 2019) is the case
``n_kv_heads = 1``. ``attention`` runs PyTorch's ``scaled_dot_product_attention``; ``attention_ref`` is the
plain formula beside it, and tests hold them equal.

Masks are boolean with ``True`` meaning "may attend", broadcastable to (B, H, Lq, Lk). A causal mask is
aligned to the end of the keys: query i of Lq attends to keys ``<= i + (Lk - Lq)``, which is what incremental
decoding with a cache needs. A query row with no allowed key gives zeros (PyTorch's SDPA convention), not the
formula's NaN, so a fully padded query cannot spread NaN through later layers.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.positional import RotaryEmbedding


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(B, Hkv, L, Dh) -> (B, Hkv * n_rep, L, Dh), each key/value head repeated for its query group."""
    if n_rep == 1:
        return x
    b, h_kv, length, d = x.shape
    return x[:, :, None].expand(b, h_kv, n_rep, length, d).reshape(b, h_kv * n_rep, length, d)


def causal_mask(q_len: int, k_len: int, device: torch.device | None = None) -> torch.Tensor:
    """(Lq, Lk) boolean, ``True`` where query i may see key j: ``j <= i + (Lk - Lq)``."""
    i = torch.arange(q_len, device=device)[:, None]
    j = torch.arange(k_len, device=device)[None, :]
    return j <= i + (k_len - q_len)


def padding_mask_to_attention(padding_mask: torch.Tensor) -> torch.Tensor:
    """Key padding mask (B, Lk), ``True`` for real tokens, to an attention mask (B, 1, 1, Lk)."""
    if padding_mask.dim() != 2:
        raise ValueError(f"padding_mask must be (batch, length), got shape {tuple(padding_mask.shape)}")
    return padding_mask.bool()[:, None, None, :]


def _combined_mask(
    mask: torch.Tensor | None, causal: bool, q_len: int, k_len: int, device: torch.device
) -> torch.Tensor | None:
    if not causal:
        return mask
    tri = causal_mask(q_len, k_len, device)
    return tri if mask is None else mask & tri


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> int:
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError("q, k, v must be (batch, heads, length, head_dim)")
    if k.shape != v.shape:
        raise ValueError(f"k {tuple(k.shape)} and v {tuple(v.shape)} must have the same shape")
    if q.shape[1] % k.shape[1]:
        raise ValueError(f"query heads {q.shape[1]} must be a multiple of key/value heads {k.shape[1]}")
    return q.shape[1] // k.shape[1]


def attention_ref(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    causal: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """The plain formula. q: (B, H, Lq, Dh); k, v: (B, Hkv, Lk, Dh) -> (B, H, Lq, Dh)."""
    n_rep = _check_qkv(q, k, v)
    k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)  # (B, H, Lk, Dh)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = torch.matmul(q, k.transpose(-2, -1)) * scale  # (B, H, Lq, Lk)
    full = _combined_mask(mask, causal, q.shape[-2], k.shape[-2], q.device)
    if full is None:
        return torch.matmul(torch.softmax(scores, dim=-1), v)  # (B, H, Lq, Dh)
    probs = torch.softmax(scores.masked_fill(~full, float("-inf")), dim=-1)  # (B, H, Lq, Lk)
    probs = probs.masked_fill(~full.any(dim=-1, keepdim=True), 0.0)  # rows with no allowed key -> 0, as SDPA
    return torch.matmul(probs, v)  # (B, H, Lq, Dh)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    causal: bool = False,
    scale: float | None = None,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """``attention_ref`` through ``torch.nn.functional.scaled_dot_product_attention``; same shapes."""
    n_rep = _check_qkv(q, k, v)
    q_len, k_len = q.shape[-2], k.shape[-2]
    if causal and mask is None and q_len == k_len:
        return F.scaled_dot_product_attention(
            q, k, v, is_causal=True, scale=scale, dropout_p=dropout_p, enable_gqa=n_rep > 1
        )
    full = _combined_mask(mask, causal, q_len, k_len, q.device)
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=full, scale=scale, dropout_p=dropout_p, enable_gqa=n_rep > 1
    )


class KVCache:
    """Keys and values of past positions for one attention layer, in preallocated (B, Hkv, L_max, Dh) buffers."""

    def __init__(
        self,
        *,
        batch: int,
        n_kv_heads: int,
        head_dim: int,
        max_len: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        shape = (batch, n_kv_heads, max_len, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.length = 0

    @property
    def max_len(self) -> int:
        return self.k.shape[2]

    def update(self, k_new: torch.Tensor, v_new: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append (B, Hkv, L, Dh) keys/values; return all cached ones, (B, Hkv, length, Dh) each."""
        end = self.length + k_new.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache overflow: {end} positions exceed max_len={self.max_len}")
        self.k[:, :, self.length : end] = k_new
        self.v[:, :, self.length : end] = v_new
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]


class MultiHeadAttention(nn.Module):
    """Multi-head attention with GQA/MQA, optional RoPE, causal or cross.

    Self-attention projects queries, keys and values with one fused matrix ``qkv_proj`` (rows: H query heads,
    then Hkv key heads, then Hkv value heads), which is one matmul instead of three; cross-attention has
    ``q_proj`` for the input and a fused ``kv_proj`` for the context.

    ``forward(x, context=None, padding_mask=None, cache=None, positions=None)``: x (B, L, D) -> (B, L, D).
    Cross-attention (``d_context`` set) takes keys and values from ``context`` (B, Lc, D_context).
    """

    def __init__(
        self,
        *,
        d_model: int,
        n_heads: int,
        n_kv_heads: int | None = None,
        head_dim: int | None = None,
        bias: bool = True,
        causal: bool = False,
        rope: RotaryEmbedding | None = None,
        d_context: int | None = None,
        dropout: float = 0.0,
        implementation: Literal["sdpa", "ref"] = "sdpa",
    ) -> None:
        super().__init__()
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        if head_dim is None:
            if d_model % n_heads:
                raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
            head_dim = d_model // n_heads
        if n_heads % n_kv_heads:
            raise ValueError(f"n_heads={n_heads} must be divisible by n_kv_heads={n_kv_heads}")
        if implementation not in ("sdpa", "ref"):
            raise ValueError(f"implementation={implementation!r} is not one of 'sdpa', 'ref'")
        if d_context is not None and (causal or rope is not None):
            raise ValueError("cross-attention (d_context set) takes neither causal=True nor rope")
        self.n_heads, self.n_kv_heads, self.head_dim = n_heads, n_kv_heads, head_dim
        self.causal, self.rope, self.dropout = causal, rope, dropout
        self.is_cross = d_context is not None
        self.implementation = implementation
        if d_context is None:
            self.qkv_proj = nn.Linear(d_model, (n_heads + 2 * n_kv_heads) * head_dim, bias=bias)
        else:
            self.q_proj = nn.Linear(d_model, n_heads * head_dim, bias=bias)
            self.kv_proj = nn.Linear(d_context, 2 * n_kv_heads * head_dim, bias=bias)
        self.o_proj = nn.Linear(n_heads * head_dim, d_model, bias=bias)

    def _heads(self, x: torch.Tensor, n: int) -> torch.Tensor:
        b, length, _ = x.shape
        return x.reshape(b, length, n, self.head_dim).transpose(1, 2)  # (B, L, n*Dh) -> (B, n, L, Dh)

    def project(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries (B, H, L, Dh), keys and values (B, Hkv, Lk, Dh) before any rotation."""
        q_width = self.n_heads * self.head_dim
        kv_width = self.n_kv_heads * self.head_dim
        if context is None:
            q, k, v = self.qkv_proj(x).split((q_width, kv_width, kv_width), dim=-1)  # (B, L, .) each
        else:
            q = self.q_proj(x)  # (B, L, H*Dh)
            k, v = self.kv_proj(context).split((kv_width, kv_width), dim=-1)  # (B, Lc, Hkv*Dh) each
        return self._heads(q, self.n_heads), self._heads(k, self.n_kv_heads), self._heads(v, self.n_kv_heads)

    def forward(
        self,
        x: torch.Tensor,
        *,
        context: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"attention input must be (batch, length, d_model), got shape {tuple(x.shape)}")
        if self.is_cross and context is None:
            raise ValueError("cross-attention needs context=(batch, length, d_context)")
        if not self.is_cross and context is not None:
            raise ValueError("context is only for cross-attention; build the layer with d_context")
        q, k, v = self.project(x, context)  # (B, H, L, Dh), (B, Hkv, Lk, Dh) x 2
        if self.rope is not None:
            if positions is None:
                start = cache.length if cache is not None else 0
                positions = torch.arange(start, start + x.shape[1], device=x.device)
            q, k = self.rope(q, positions), self.rope(k, positions)
        if cache is not None:
            k, v = cache.update(k, v)  # (B, Hkv, L_past + L, Dh)
        mask = None if padding_mask is None else padding_mask_to_attention(padding_mask)
        if self.implementation == "ref":
            out = attention_ref(q, k, v, mask=mask, causal=self.causal)
        else:
            p = self.dropout if self.training else 0.0
            out = attention(q, k, v, mask=mask, causal=self.causal, dropout_p=p)
        b, _, length, _ = out.shape
        out = out.transpose(1, 2).reshape(b, length, self.n_heads * self.head_dim)  # (B, H, L, Dh) -> (B, L, H*Dh)
        return self.o_proj(out)

    def step(self, x: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, KVCache]:
        """One position of self-attention, ``x`` (B, D) -> (B, D), at position ``cache.length``; its key and value
        are appended to ``cache``, which is returned."""
        return self.forward(x[:, None], cache=cache)[:, 0], cache  # (B, 1, D) -> (B, D)
