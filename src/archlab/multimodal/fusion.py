"""Fusion of an image encoder into a language model, two ways, in one model class.

- ``fusion="projector"`` (LLaVA, Liu et al. 2023, section 4.1; the two-layer MLP of LLaVA-1.5, Liu et al. 2024):
  the image encoder's tokens ``Z_v`` are mapped into the language model's embedding space, ``H_v = W(Z_v)``,
  and prefixed to the text's token embeddings; the decoder reads ``[H_v; H_q]`` causally (early fusion).
- ``fusion="cross-attention"`` (Flamingo, Alayrac et al. 2022, section 2.2 and Figure 4): before each decoder
  block sits a gated cross-attention dense block, ``y = x + tanh(alpha_xattn) * XAttn(LN(x), Z_v)`` then
  ``y = y + tanh(alpha_dense) * FFW(LN(y))``, with ``alpha`` scalars initialised at 0 so that at initialisation
  the model is exactly the language model alone. The Perceiver resampler is left out: the decoder attends to
  the encoder's tokens directly.

Simplified: the language model is a small pre-norm decoder (learned positions, GELU MLP) built here from
``archlab.core`` blocks and trained with the rest, not a frozen pre-trained one. ``forward(input_ids, images=None,
attention_mask=None)`` returns the logits of the text positions (B, L, V) either way; without images the model
is the language model alone (no prefix, no cross-attention).
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
from archlab.core.positional import LearnedPositionalEmbedding
from archlab.core.validation import check_at_least, check_choices, check_divisible
from archlab.multimodal import vocab
from archlab.multimodal.encoders import ImageEncoder, encoder_blocks


@dataclass
class FusionConfig:
    """Configuration of ``FusionModel``; images are ``image_height`` x ``image_width`` (a two-digit canvas by
    default)."""

    fusion: Literal["projector", "cross-attention"] = "projector"
    image_height: int = 8
    image_width: int = 16
    patch_size: int = 4
    in_channels: int = 1
    vision_width: int = 32
    vision_layers: int = 2
    vision_heads: int = 2
    vocab_size: int = len(vocab.WORDS)
    max_text_len: int = 16
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    projector: Literal["linear", "mlp"] = "mlp"

    def __post_init__(self) -> None:
        check_choices(self, {"fusion": ("projector", "cross-attention"), "projector": ("linear", "mlp")}, quote=True)
        check_at_least(self, 1, "image_height", "image_width", "patch_size", "in_channels", "vision_width",
                       "vision_layers", "vision_heads", "vocab_size", "max_text_len", "d_model", "n_layers",
                       "n_heads")
        check_divisible(self, "image_height", "patch_size")
        check_divisible(self, "image_width", "patch_size")
        check_divisible(self, "vision_width", "vision_heads")
        check_divisible(self, "d_model", "n_heads")

    @property
    def image_tokens(self) -> int:
        """``1 + N``: the class token and the patches the language model sees."""
        return 1 + (self.image_height // self.patch_size) * (self.image_width // self.patch_size)


class GatedCrossAttention(nn.Module):
    """Flamingo's gated cross-attention dense block: (B, L, D), media (B, M, D_v) -> (B, L, D)."""

    def __init__(self, *, d_model: int, d_media: int, n_heads: int) -> None:
        super().__init__()
        self.norm_attn = LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model=d_model, n_heads=n_heads, d_context=d_media)
        self.norm_ff = LayerNorm(d_model)
        self.ff = MLP(d_model=d_model, d_hidden=4 * d_model)
        self.alpha_attn = nn.Parameter(torch.zeros(()))  # tanh(0) = 0: the block starts as the identity
        self.alpha_ff = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, media: torch.Tensor) -> torch.Tensor:
        x = x + torch.tanh(self.alpha_attn) * self.attn(self.norm_attn(x), context=media)
        return x + torch.tanh(self.alpha_ff) * self.ff(self.norm_ff(x))


class FusionModel(PretrainedMixin, nn.Module):
    """Image encoder + decoder LM fused by a projector prefix or gated cross-attention:
    ids (B, L), images (B, C, H, W) or None -> text logits (B, L, V)."""

    config_class = FusionConfig

    def __init__(self, config: FusionConfig) -> None:
        super().__init__()
        self.config = c = config
        self.vision = ImageEncoder(image_size=c.image_height, image_width=c.image_width, patch_size=c.patch_size,
                                   in_channels=c.in_channels, d_model=c.vision_width, n_layers=c.vision_layers,
                                   n_heads=c.vision_heads, d_ff=4 * c.vision_width, activation="gelu")
        prefix = c.image_tokens if c.fusion == "projector" else 0
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = LearnedPositionalEmbedding(prefix + c.max_text_len, c.d_model)
        self.blocks = encoder_blocks(d_model=c.d_model, n_layers=c.n_layers, n_heads=c.n_heads, d_ff=4 * c.d_model,
                                     activation="gelu", norm_eps=1e-5, causal=True)
        self.norm = LayerNorm(c.d_model)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if c.fusion == "projector":
            self.projector = (nn.Linear(c.vision_width, c.d_model) if c.projector == "linear" else
                              nn.Sequential(nn.Linear(c.vision_width, c.d_model), nn.GELU(),
                                            nn.Linear(c.d_model, c.d_model)))
        else:
            self.cross = nn.ModuleList(GatedCrossAttention(d_model=c.d_model, d_media=c.vision_width,
                                                           n_heads=c.n_heads) for _ in range(c.n_layers))

    def forward(self, input_ids: torch.Tensor, images: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if input_ids.dim() != 2 or input_ids.shape[1] > self.config.max_text_len:
            raise ValueError(f"input_ids must be (batch, length <= {self.config.max_text_len}), "
                             f"got shape {tuple(input_ids.shape)}")
        h = self.tok_emb(input_ids)  # (B, L, D)
        media = None if images is None else self.vision.tokens(images)  # (B, 1 + N, D_v)
        mask = attention_mask
        prefix = 0
        if media is not None and self.config.fusion == "projector":
            projected = self.projector(media)  # (B, 1 + N, D)
            prefix = projected.shape[1]
            h = torch.cat([projected, h], dim=1)  # (B, 1 + N + L, D)
            if mask is not None:
                mask = torch.cat([mask.new_ones(mask.shape[0], prefix), mask], dim=1)
        h = h + self.pos_emb(torch.arange(h.shape[1], device=h.device))
        padding_mask = None if mask is None else mask.bool()
        for i, block in enumerate(self.blocks):
            if media is not None and self.config.fusion == "cross-attention":
                h = self.cross[i](h, media)
            h = block(h, padding_mask=padding_mask)
        return self.lm_head(self.norm(h[:, prefix:]))  # (B, L, V)
