"""The Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words").

Eq. 1: ``z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos``: the patch embedding ``E`` is
``core.patches.PatchEmbedding`` (``patch_embed``), ``x_class`` is ``cls_token`` and ``E_pos`` is ``pos_embed``.
Eqs. 2-3: L pre-norm blocks ``z' = MSA(LN(z)) + z``, ``z = MLP(LN(z')) + z'``: ``core.Block`` with the
attention below and ``core.MLP`` (GELU). Eq. 4: ``y = LN(z_L^0)``: the final ``norm``, then the class token
(``pooling="cls"``) or the mean of the patch tokens (``"mean"``, no class token; Zhai et al. 2022 "global
average pooling"), then the linear ``head``.

Positions (``positions``):
- ``"learned"``: a trained 1D table over the tokens (the paper's default, Appendix D.4), which at another image
  size is interpolated bicubically over the patch grid (the paper's section 3.2 "2D interpolation of the
  pre-trained position embeddings"; the class token's entry is kept), as Hugging Face's
  ``interpolate_pos_encoding``.
- ``"sincos2d"``: fixed 2D sin-cos (``core.sincos_2d``, the MAE layout), the class token's entry zero.
- ``"rope2d"``: no additive table; queries and keys of the patch tokens are rotated by their grid row and
  column (``core.RotaryEmbedding2D``, Heo et al. 2024), the class token left unrotated.

Attention maps: ``attention_maps(x)`` returns every layer's softmax probabilities (B, layers, H, L, L),
computed by the written-out formula; the ordinary forward runs SDPA and keeps none. In eval mode on the CPU
without gradients the blocks run through ``vision.inference.block_inference`` (the same weights and formula,
the matrix products through oneDNN with bias and residual add fused), else through ``core.Block``.
Initialisation: truncated normal (std 0.02) for the linears, the patch projection, the class token and the
learned table, zero biases (Hugging Face's ``ViTPreTrainedModel``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.attention import MultiHeadAttention, attention
from archlab.core.block import Block
from archlab.core.io import PretrainedMixin
from archlab.core.mlp import MLP
from archlab.core.norm import LayerNorm
from archlab.core.patches import PatchEmbedding
from archlab.core.positional import RotaryEmbedding2D, sincos_2d
from archlab.core.validation import check_at_least, check_choices, check_divisible, check_positive
from archlab.vision.classifier import ImageClassifier, make_head
from archlab.vision.inference import block_inference, onednn_applies

Positions = Literal["learned", "sincos2d", "rope2d"]


@dataclass
class ViTConfig:
    """ViT-B/16 by default (``vit_config`` has the others). ``image_size`` is the size the learned table is
    made for; other sizes (multiples of ``patch_size``) are accepted and interpolated."""

    image_size: int = 224
    patch_size: int = 16
    in_channels: int = 3
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_ff: int = 3072
    num_classes: int = 1000
    pooling: Literal["cls", "mean"] = "cls"
    positions: Positions = "learned"
    norm_eps: float = 1e-6
    qkv_bias: bool = True
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check_at_least(self, 1, "image_size", "patch_size", "in_channels", "d_model", "n_layers", "n_heads", "d_ff")
        check_at_least(self, 0, "num_classes")
        check_choices(self, {"pooling": ("cls", "mean"), "positions": ("learned", "sincos2d", "rope2d")}, quote=True)
        check_divisible(self, "image_size", "patch_size")
        check_divisible(self, "d_model", "n_heads")
        if self.positions == "sincos2d" and self.d_model % 4:
            raise ValueError(f"d_model={self.d_model} must be divisible by 4 for positions='sincos2d'")
        if self.positions == "rope2d" and (self.d_model // self.n_heads) % 4:
            raise ValueError(f"head dim d_model/n_heads={self.d_model // self.n_heads} must be divisible by 4 "
                             "for positions='rope2d'")
        check_positive(self, "norm_eps")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout} must lie in [0, 1)")

    @property
    def grid(self) -> tuple[int, int]:
        side = self.image_size // self.patch_size
        return side, side


PRESETS = {
    "tiny": dict(d_model=192, n_layers=12, n_heads=3, d_ff=768),
    "small": dict(d_model=384, n_layers=12, n_heads=6, d_ff=1536),
    "base": dict(d_model=768, n_layers=12, n_heads=12, d_ff=3072),
    "large": dict(d_model=1024, n_layers=24, n_heads=16, d_ff=4096),
}


def vit_config(name: str, **overrides) -> ViTConfig:
    """The preset ``name`` (tiny, small, base, large: Table 1 and DeiT's tiny/small), with ``overrides``."""
    if name not in PRESETS:
        raise ValueError(f"vit preset {name!r} is not one of {', '.join(PRESETS)}")
    return ViTConfig(**{**PRESETS[name], **overrides})


@dataclass
class ViTOutput:
    """``last_hidden_state`` (B, L, D) after the final norm; ``attentions`` one (B, H, L, L) per layer when
    asked for, else None."""

    last_hidden_state: torch.Tensor
    attentions: tuple[torch.Tensor, ...] | None = None


def interpolate_positions(table: torch.Tensor, n_prefix: int, old_grid: tuple[int, int],
                          new_grid: tuple[int, int]) -> torch.Tensor:
    """A (1, n_prefix + gh*gw, D) table resampled bicubically to ``new_grid``, the first ``n_prefix`` entries kept."""
    if tuple(old_grid) == tuple(new_grid):
        return table
    prefix, grid = table[:, :n_prefix], table[:, n_prefix:]
    d = table.shape[-1]
    grid = grid.reshape(1, *old_grid, d).permute(0, 3, 1, 2)  # (1, gh*gw, D) -> (1, D, gh, gw)
    grid = F.interpolate(grid, size=tuple(new_grid), mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], d)  # (1, D, gh', gw') -> (1, N', D)
    return torch.cat((prefix, grid), dim=1)


class ViTAttention(MultiHeadAttention):
    """Multi-head self-attention over (B, L, D) with optional 2D RoPE on the tokens after the first
    ``n_prefix`` (the class token), and the probabilities appended to ``maps`` when a list is given.
    ``qkv_bias`` is the bias of the query/key/value projection; the output projection always has one (ViT's)."""

    def __init__(self, *, d_model: int, n_heads: int, qkv_bias: bool = True, dropout: float = 0.0,
                 rope2d: RotaryEmbedding2D | None = None) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, bias=True, dropout=dropout)
        if not qkv_bias:
            self.qkv_proj = nn.Linear(d_model, 3 * d_model, bias=False)
        self.rope2d = rope2d

    def forward(self, x: torch.Tensor, *, coords: tuple[torch.Tensor, torch.Tensor] | None = None,  # type: ignore[override]
                n_prefix: int = 0, maps: list[torch.Tensor] | None = None) -> torch.Tensor:
        q, k, v = self.project(x)  # (B, H, L, Dh) each
        if self.rope2d is not None:
            if coords is None:
                raise ValueError("2D rotary attention needs coords=(rows, cols) of the patch tokens")
            rows, cols = coords
            q = torch.cat((q[:, :, :n_prefix], self.rope2d(q[:, :, n_prefix:], rows, cols)), dim=2)
            k = torch.cat((k[:, :, :n_prefix], self.rope2d(k[:, :, n_prefix:], rows, cols)), dim=2)
        p = self.dropout if self.training else 0.0
        if maps is None:
            out = attention(q, k, v, dropout_p=p)  # (B, H, L, Dh)
        else:
            probs = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1)  # (B, H, L, L)
            maps.append(probs)
            out = F.dropout(probs, p) @ v  # (B, H, L, Dh)
        b, _, length, _ = out.shape
        return self.o_proj(out.transpose(1, 2).reshape(b, length, -1))  # (B, H, L, Dh) -> (B, L, H*Dh)


class ViT(PretrainedMixin, ImageClassifier):
    config_class = ViTConfig

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.n_prefix = 1 if c.pooling == "cls" else 0
        self.patch_embed = PatchEmbedding(in_channels=c.in_channels, d_model=c.d_model, patch_size=c.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.d_model)) if self.n_prefix else None
        n_tokens = self.n_prefix + c.grid[0] * c.grid[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, n_tokens, c.d_model)) if c.positions == "learned" else None
        self.embed_dropout = nn.Dropout(c.dropout)  # Appendix B.1: "directly after adding positional- to patch"
        self.blocks = nn.ModuleList(
            Block(d_model=c.d_model,
                  mixer=ViTAttention(d_model=c.d_model, n_heads=c.n_heads, qkv_bias=c.qkv_bias, dropout=c.dropout,
                                     rope2d=RotaryEmbedding2D(c.d_model // c.n_heads) if c.positions == "rope2d"
                                     else None),
                  feed_forward=MLP(d_model=c.d_model, d_hidden=c.d_ff, activation="gelu", dropout=c.dropout),
                  norm_eps=c.norm_eps, dropout=c.dropout)
            for _ in range(c.n_layers))
        self.norm = LayerNorm(c.d_model, eps=c.norm_eps)
        self.head = make_head(c.d_model, c.num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for p in (self.cls_token, self.pos_embed):
            if p is not None:
                nn.init.trunc_normal_(p, std=0.02)

    def position_table(self, grid: tuple[int, int]) -> torch.Tensor | None:
        """The additive positions (1, n_prefix + gh*gw, D) for a patch ``grid``, None for RoPE."""
        if self.config.positions == "learned":
            return interpolate_positions(self.pos_embed, self.n_prefix, self.config.grid, grid)
        if self.config.positions == "sincos2d":
            table = sincos_2d(*grid, self.config.d_model).to(self.patch_embed.proj.weight)  # (N, D)
            prefix = table.new_zeros(self.n_prefix, table.shape[1])
            return torch.cat((prefix, table))[None]  # (1, n_prefix + N, D)
        return None

    def encode(self, x: torch.Tensor, *, return_attention: bool = False) -> ViTOutput:
        """(B, C, H, W) -> ``ViTOutput``; H and W multiples of the patch size (positions interpolated)."""
        if x.dim() != 4:
            raise ValueError(f"images must be (batch, channels, height, width), got shape {tuple(x.shape)}")
        grid = self.patch_embed.grid(x.shape[2], x.shape[3])
        z = self.patch_embed(x)  # (B, N, D)
        if self.cls_token is not None:
            z = torch.cat((self.cls_token.expand(z.shape[0], -1, -1), z), dim=1)  # (B, 1 + N, D)
        table = self.position_table(grid)
        if table is not None:
            z = z + table
        z = self.embed_dropout(z)
        rows, cols = torch.meshgrid(torch.arange(grid[0], device=x.device), torch.arange(grid[1], device=x.device),
                                    indexing="ij")  # (gh, gw) each
        maps: list[torch.Tensor] | None = [] if return_attention else None
        coords = (rows.flatten(), cols.flatten())
        if maps is None and not self.training and onednn_applies(z, self):
            for block in self.blocks:  # the same blocks, matrix products fused through oneDNN (vision.inference)
                z = block_inference(block, z, coords=coords, n_prefix=self.n_prefix)
        else:
            for block in self.blocks:
                z = block(z, coords=coords, n_prefix=self.n_prefix, maps=maps)
        return ViTOutput(self.norm(z), tuple(maps) if maps is not None else None)

    def forward_hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The tokens after the final norm (B, L, D): Hugging Face's ``last_hidden_state``."""
        return self.encode(x).last_hidden_state

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """The class token, or the mean of the patch tokens: (B, L, D) -> (B, D)."""
        return hidden[:, 0] if self.n_prefix else hidden.mean(dim=1)

    def attention_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Every layer's attention probabilities: (B, n_layers, H, L, L)."""
        return torch.stack(self.encode(x, return_attention=True).attentions, dim=1)  # type: ignore[arg-type]

    def resize_image(self, image_size: int) -> None:
        """Make ``image_size`` the native size: the learned table is interpolated to its grid once (for
        fine-tuning at a higher resolution, the paper's section 3.2) and the config updated."""
        new = dataclasses.replace(self.config, image_size=image_size)
        if self.pos_embed is not None:
            self.pos_embed = nn.Parameter(
                interpolate_positions(self.pos_embed.detach(), self.n_prefix, self.config.grid, new.grid))
        self.config = new
