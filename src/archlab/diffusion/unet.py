"""The U-Net denoiser of Ho et al. 2020 (after Ronneberger et al. 2015 and PixelCNN++), with class and
cross-attention conditioning.

    e = MLP(sinusoid(t)) (+ E_class[y])                                  the time (and class) embedding
    h = conv_in(x);  skips = [h]
    down level l:  (ResBlock(h, e) [-> SpatialAttention])  x layers_per_block, each output pushed to skips;
                   then, except at the lowest resolution, Downsample, pushed too
    middle:        ResBlock -> SpatialAttention -> ResBlock
    up level l:    (concat(h, skips.pop()) -> ResBlock(., e) [-> SpatialAttention]) x (layers_per_block + 1);
                   then, except at the top, Upsample
    out = conv_out(silu(GN(h)))

Attention sits at the levels ``down_attention`` / ``up_attention`` mark (Ho et al. 2020: the 16 x 16
resolution). ``d_context`` adds cross-attention to a condition sequence after each such self-attention
(Rombach et al. 2022). ``class_embeddings`` is the size of the class table; a call with ``cond=None`` uses its
last row, which condition dropout trains as the null class for classifier-free guidance (Ho and Salimans 2022).
The configuration spans diffusers' ``UNet2DModel`` (``unet_interop`` maps it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.io import PretrainedMixin
from archlab.core.time_embedding import timestep_embedding
from archlab.core.validation import check_at_least, check_choices, check_positive
from archlab.diffusion.conv_blocks import (TIME_INJECTIONS, Downsample, MiddleBlock, ResBlock, SpatialAttention,
                                           Upsample, group_norm)


@dataclass
class UNetConfig:
    """Channels ``in_channels`` / ``out_channels`` (None: the same); ``widths`` per level, top first;
    ``layers_per_block``; ``down_attention`` per level top first, ``up_attention`` per level bottom first
    (None: the mirror of ``down_attention``); ``mid_attention``; ``head_dim`` (None: one head per layer);
    ``norm_groups``, ``mid_attention_groups`` (None: ``norm_groups``), ``norm_eps``; ``dropout``;
    ``time_injection`` ``"default"`` | ``"scale_shift"``; ``mid_output_scale``; ``downsample_padding``;
    ``time_dim`` (None: 4 x ``widths[0]``) from ``widths[0]`` sinusoids laid out by ``flip_sin_to_cos`` and
    ``freq_shift``; ``class_embeddings`` (0: none); ``d_context`` (None: no cross-attention); and
    ``center_input`` (map [0, 1] inputs to [-1, 1] first)."""

    in_channels: int = 1
    out_channels: Optional[int] = None
    widths: tuple[int, ...] = (32, 64)
    layers_per_block: int = 1
    down_attention: tuple[bool, ...] = (False, True)
    up_attention: Optional[tuple[bool, ...]] = None
    mid_attention: bool = True
    head_dim: Optional[int] = 8
    norm_groups: int = 8
    mid_attention_groups: Optional[int] = None
    norm_eps: float = 1e-5
    dropout: float = 0.0
    time_injection: str = "default"
    mid_output_scale: float = 1.0
    downsample_padding: int = 1
    time_dim: Optional[int] = None
    flip_sin_to_cos: bool = True
    freq_shift: float = 0.0
    class_embeddings: int = 0
    d_context: Optional[int] = None
    center_input: bool = False

    def __post_init__(self) -> None:
        self.widths = tuple(self.widths)
        self.down_attention = tuple(self.down_attention)
        self.up_attention = tuple(reversed(self.down_attention) if self.up_attention is None else self.up_attention)
        check_at_least(self, 1, "in_channels", "layers_per_block", "norm_groups")
        check_at_least(self, 0, "class_embeddings")
        check_positive(self, "norm_eps", "mid_output_scale")
        check_choices(self, dict(time_injection=TIME_INJECTIONS))
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"widths={self.widths} must be one or more positive channel counts")
        for name in ("down_attention", "up_attention"):
            if len(getattr(self, name)) != len(self.widths):
                raise ValueError(f"{name}={getattr(self, name)} must have one entry per level of widths={self.widths}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout={self.dropout} must be in [0, 1)")
        self.out_channels = self.in_channels if self.out_channels is None else self.out_channels
        self.time_dim = 4 * self.widths[0] if self.time_dim is None else self.time_dim
        self.mid_attention_groups = self.norm_groups if self.mid_attention_groups is None else self.mid_attention_groups
        check_at_least(self, 1, "out_channels", "time_dim")


class UNet(nn.Module, PretrainedMixin):
    """``(x_t (B, C, H, W), t (B,) or scalar, cond=None, context=None) -> prediction (B, C_out, H, W)``; ``cond``
    is class labels (B,) long; ``context`` (B, Lc, d_context) the sequence cross-attention reads."""

    config_class = UNetConfig

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = c = config
        eps, groups = c.norm_eps, c.norm_groups
        self.time_mlp = nn.Sequential(nn.Linear(c.widths[0], c.time_dim), nn.SiLU(), nn.Linear(c.time_dim, c.time_dim))
        self.class_embedding = nn.Embedding(c.class_embeddings, c.time_dim) if c.class_embeddings else None
        self.conv_in = nn.Conv2d(c.in_channels, c.widths[0], 3, padding=1)

        def res(cin: int, cout: int) -> ResBlock:
            return ResBlock(cin, cout, time_dim=c.time_dim, groups=groups, eps=eps, dropout=c.dropout,
                            time_injection=c.time_injection)

        def attn(channels: int) -> SpatialAttention:
            return SpatialAttention(channels, head_dim=c.head_dim or channels, groups=groups, eps=eps,
                                    d_context=c.d_context)

        skip_channels = [c.widths[0]]
        width = c.widths[0]
        self.down = nn.ModuleList()
        for level, (out, has_attn) in enumerate(zip(c.widths, c.down_attention)):
            stage = nn.Module()
            stage.resnets = nn.ModuleList()
            stage.attentions = nn.ModuleList() if has_attn else None
            for _ in range(c.layers_per_block):
                stage.resnets.append(res(width, out))
                if has_attn:
                    stage.attentions.append(attn(out))
                width = out
                skip_channels.append(width)
            stage.downsample = Downsample(width, padding=c.downsample_padding) if level < len(c.widths) - 1 else None
            if stage.downsample is not None:
                skip_channels.append(width)
            self.down.append(stage)

        self.mid = MiddleBlock(width, time_dim=c.time_dim, groups=groups, eps=eps, attention=c.mid_attention,
                               head_dim=c.head_dim, attention_groups=c.mid_attention_groups, dropout=c.dropout,
                               time_injection=c.time_injection, output_scale=c.mid_output_scale,
                               d_context=c.d_context)

        self.up = nn.ModuleList()
        for level, (out, has_attn) in enumerate(zip(reversed(c.widths), c.up_attention)):
            stage = nn.Module()
            stage.resnets = nn.ModuleList()
            stage.attentions = nn.ModuleList() if has_attn else None
            for _ in range(c.layers_per_block + 1):
                stage.resnets.append(res(width + skip_channels.pop(), out))
                if has_attn:
                    stage.attentions.append(attn(out))
                width = out
            stage.upsample = Upsample(width) if level < len(c.widths) - 1 else None
            self.up.append(stage)

        self.norm_out = group_norm(width, groups, eps)
        self.conv_out = nn.Conv2d(width, c.out_channels, 3, padding=1)

    def embedding(self, t: torch.Tensor, cond: Optional[torch.Tensor], batch: int) -> torch.Tensor:
        """The time (and class) embedding ``e`` (B, time_dim)."""
        c = self.config
        t = torch.as_tensor(t, device=self.conv_in.weight.device).reshape(-1).expand(batch)
        e = self.time_mlp(timestep_embedding(t, c.widths[0], flip_sin_to_cos=c.flip_sin_to_cos,
                                             downscale_freq_shift=c.freq_shift))
        if self.class_embedding is not None:
            if cond is None:
                cond = torch.full((batch,), c.class_embeddings - 1, dtype=torch.long, device=e.device)
            e = e + self.class_embedding(cond)
        elif cond is not None:
            raise ValueError("this U-Net has no class embedding (class_embeddings=0): call it with cond=None")
        return e

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: Optional[torch.Tensor] = None,
                context: Optional[torch.Tensor] = None) -> torch.Tensor:
        levels = len(self.config.widths)
        if x.dim() != 4 or x.shape[-1] % 2 ** (levels - 1) or x.shape[-2] % 2 ** (levels - 1):
            raise ValueError(f"input must be (batch, channels, H, W) with H and W divisible by "
                             f"{2 ** (levels - 1)} ({levels} levels), got shape {tuple(x.shape)}")
        if self.config.center_input:
            x = 2 * x - 1.0
        e = self.embedding(t, cond, x.shape[0])
        h = self.conv_in(x)
        skips = [h]
        for stage in self.down:
            for i, resnet in enumerate(stage.resnets):
                h = resnet(h, e)
                if stage.attentions is not None:
                    h = stage.attentions[i](h, context)
                skips.append(h)
            if stage.downsample is not None:
                h = stage.downsample(h)
                skips.append(h)
        h = self.mid(h, e, context)
        for stage in self.up:
            for i, resnet in enumerate(stage.resnets):
                h = resnet(torch.cat((h, skips.pop()), dim=1), e)  # (B, C_h + C_skip, H, W)
                if stage.attentions is not None:
                    h = stage.attentions[i](h, context)
            if stage.upsample is not None:
                h = stage.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))
