"""The two towers of a dual encoder, built from ``archlab.core`` blocks: a ViT image encoder and a causal text
transformer, as CLIP has them (Radford et al. 2021, section 2.4).

- ``ImageEncoder`` (``image_size`` high, ``image_width`` wide, square by default): patch embedding without bias
  (``core.patches``), a class token, learned positions, a LayerNorm
  before the stack (CLIP's "additional layer normalization to the combined patch and position embeddings"), pre-norm
  blocks, and a LayerNorm on the class token's final state: ``pooled = LN(z_L^0)``. ``tokens`` returns every
  token's final state (B, 1 + N, D) before that norm, the sequence a projector or cross-attention reads.
- ``TextEncoder``: token and learned position embeddings, pre-norm blocks with causal ("masked") self-attention,
  a final LayerNorm; the text is pooled at its end token: the first position holding ``eos_token_id``
  (``pooling="eos"``), or at the largest id (``pooling="argmax"``, the original CLIP convention, where the end token
  has the largest id of the vocabulary). An ``attention_mask`` (B, L), 1 for real tokens, hides padding keys.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from archlab.core.attention import MultiHeadAttention
from archlab.core.block import Block
from archlab.core.mlp import MLP, Activation
from archlab.core.norm import LayerNorm
from archlab.core.patches import PatchEmbedding
from archlab.core.positional import LearnedPositionalEmbedding

Pooling = Literal["eos", "argmax"]


def encoder_blocks(*, d_model: int, n_layers: int, n_heads: int, d_ff: int, activation: Activation, norm_eps: float,
                   causal: bool) -> nn.ModuleList:
    """``n_layers`` pre-norm blocks of multi-head self-attention (with biases) and a two-layer MLP."""
    return nn.ModuleList(
        Block(d_model=d_model, mixer=MultiHeadAttention(d_model=d_model, n_heads=n_heads, causal=causal),
              feed_forward=MLP(d_model=d_model, d_hidden=d_ff, activation=activation), norm="layernorm",
              norm_eps=norm_eps)
        for _ in range(n_layers))


class ImageEncoder(nn.Module):
    """(B, C, H, W) -> pooled (B, D); ``tokens``: (B, 1 + N, D)."""

    def __init__(self, *, image_size: int, patch_size: int, in_channels: int, d_model: int, n_layers: int,
                 n_heads: int, d_ff: int, activation: Activation = "quick_gelu", norm_eps: float = 1e-5,
                 image_width: int | None = None) -> None:
        super().__init__()
        self.patch_embed = PatchEmbedding(in_channels=in_channels, d_model=d_model, patch_size=patch_size, bias=False)
        self.image_shape = (image_size, image_width or image_size)  # (H, W); square unless image_width is given
        gh, gw = self.patch_embed.grid(*self.image_shape)
        self.cls_token = nn.Parameter(torch.randn(d_model) * d_model ** -0.5)
        self.pos_emb = LearnedPositionalEmbedding(1 + gh * gw, d_model)
        self.pre_norm = LayerNorm(d_model, eps=norm_eps)
        self.blocks = encoder_blocks(d_model=d_model, n_layers=n_layers, n_heads=n_heads, d_ff=d_ff,
                                     activation=activation, norm_eps=norm_eps, causal=False)
        self.post_norm = LayerNorm(d_model, eps=norm_eps)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape[-2:]) != self.image_shape:
            raise ValueError(f"images must be (height, width) {self.image_shape}, got {tuple(images.shape[-2:])}")
        x = self.patch_embed(images)  # (B, N, D)
        cls = self.cls_token.expand(x.shape[0], 1, -1)  # (B, 1, D)
        x = torch.cat([cls, x], dim=1) + self.pos_emb.weight  # (B, 1 + N, D)
        x = self.pre_norm(x)
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.post_norm(self.tokens(images)[:, 0])  # (B, D)


class TextEncoder(nn.Module):
    """ids (B, L) -> pooled (B, D) at the end token; ``hidden_states``: (B, L, D) after the final norm."""

    def __init__(self, *, vocab_size: int, max_len: int, d_model: int, n_layers: int, n_heads: int, d_ff: int,
                 activation: Activation = "quick_gelu", norm_eps: float = 1e-5, eos_token_id: int = 2,
                 pooling: Pooling = "eos") -> None:
        super().__init__()
        if pooling not in ("eos", "argmax"):
            raise ValueError(f"pooling={pooling!r} is not one of 'eos', 'argmax'")
        self.eos_token_id, self.pooling = eos_token_id, pooling
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = LearnedPositionalEmbedding(max_len, d_model)
        self.blocks = encoder_blocks(d_model=d_model, n_layers=n_layers, n_heads=n_heads, d_ff=d_ff,
                                     activation=activation, norm_eps=norm_eps, causal=True)
        self.norm = LayerNorm(d_model, eps=norm_eps)

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}")
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.tok_emb(input_ids) + self.pos_emb(positions)  # (B, L, D)
        padding_mask = None if attention_mask is None else attention_mask.bool()
        for block in self.blocks:
            x = block(x, padding_mask=padding_mask)
        return self.norm(x)

    def end_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B,) the position each text is pooled at."""
        if self.pooling == "argmax":
            return input_ids.argmax(dim=-1)
        return (input_ids == self.eos_token_id).int().argmax(dim=-1)  # the first end token (0 if none)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.hidden_states(input_ids, attention_mask)  # (B, L, D)
        return h[torch.arange(h.shape[0], device=h.device), self.end_positions(input_ids)]  # (B, D)
