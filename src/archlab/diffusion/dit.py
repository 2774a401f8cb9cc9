"""The Diffusion Transformer (DiT; Peebles and Xie 2023): a ViT over latent or pixel patches, conditioned on the
time step and a class label (or a pooled text embedding) through adaptive LayerNorm with zero-initialised gates.

The network, for an image ``x_t`` (B, C, H, W) cut into ``N = (H / p)(W / p)`` patches of side ``p``:

    z_0 = PatchEmbed(x_t) + E_pos                      (strided conv, core.patches; E_pos = core.sincos_2d)
    c   = MLP(sinusoid(t)) + E_class[y] (+ W_text s)   (the conditioning vector, one per image)
    per block (adaLN-Zero, Peebles and Xie 2023, section 3.2 and Fig. 3):
        gamma1, beta1, alpha1, gamma2, beta2, alpha2 = W_ada silu(c) + b_ada          (W_ada, b_ada start at 0)
        z <- z + alpha1 * Attn(LN(z) (1 + gamma1) + beta1)
        z <- z + alpha2 * MLP(LN(z) (1 + gamma2) + beta2)
    out = Unpatchify(W_out (LN(z) (1 + gamma) + beta))                    (gamma, beta from c; W_out starts at 0)

Because every ``alpha`` starts at zero, each block starts as the identity (the paper's "Zero" initialisation),
and with ``W_out = 0`` the untrained model predicts zeros. The class table has a last row for the null class
(``y = n_classes``), which condition dropout uses for classifier-free guidance (Ho and Salimans 2022). Names
against the paper: ``modulation`` is the regression of (gamma, beta, alpha); ``final`` the last adaLN layer.
The layout follows diffusers' ``DiTTransformer2DModel`` (the time features: 256 sinusoids, cos first, frequency
shift 1), so its weights load unchanged (``archlab.diffusion.dit_interop``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.attention import MultiHeadAttention
from archlab.core.io import PretrainedMixin
from archlab.core.mlp import MLP
from archlab.core.norm import AdaLayerNorm
from archlab.core.patches import PatchEmbedding
from archlab.core.positional import sincos_2d
from archlab.core.time_embedding import timestep_embedding
from archlab.core.validation import check_at_least, check_choices, check_divisible, check_positive

ACTIVATIONS = ("gelu_tanh", "gelu")


@dataclass
class DiTConfig:
    """``in_channels`` / ``out_channels`` (None: the same), ``sample_size`` (the square input side),
    ``patch_size``, width ``d_model`` = ``n_heads`` x head width, ``n_layers``, the feed-forward width
    ``d_hidden`` (None: 4 ``d_model``), ``activation`` of the feed-forward, ``n_classes`` (0: no class input),
    ``text_dim`` (0: no pooled-text input), ``norm_eps`` of the feed-forward's LayerNorm (the adaLN norms use
    1e-6, as DiT), and ``time_dim`` sinusoidal features of the time step."""

    in_channels: int = 1
    out_channels: Optional[int] = None
    sample_size: int = 16
    patch_size: int = 2
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    d_hidden: Optional[int] = None
    activation: str = "gelu_tanh"
    n_classes: int = 0
    text_dim: int = 0
    norm_eps: float = 1e-5
    time_dim: int = 256

    def __post_init__(self) -> None:
        check_at_least(self, 1, "in_channels", "sample_size", "patch_size", "d_model", "n_heads", "n_layers")
        check_at_least(self, 0, "n_classes", "text_dim")
        check_at_least(self, 4, "time_dim")
        check_positive(self, "norm_eps")
        check_choices(self, dict(activation=ACTIVATIONS))
        check_divisible(self, "d_model", "n_heads")
        check_divisible(self, "sample_size", "patch_size")
        if self.d_model % 4:
            raise ValueError(f"d_model={self.d_model} must be divisible by 4 (the 2-D sin-cos positions)")
        if self.out_channels is None:
            self.out_channels = self.in_channels
        if self.d_hidden is None:
            self.d_hidden = 4 * self.d_model
        check_at_least(self, 1, "out_channels", "d_hidden")


class DiTBlock(nn.Module):
    """One adaLN-Zero transformer block: (B, N, D), conditioning (B, D) -> (B, N, D)."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        d = config.d_model
        self.norm_eps = config.norm_eps
        self.modulation = nn.Linear(d, 6 * d)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)
        self.attn = MultiHeadAttention(d_model=d, n_heads=config.n_heads)
        self.mlp = MLP(d_model=d, d_hidden=config.d_hidden, activation=config.activation)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        d = z.shape[-1]
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(F.silu(c))[:, None].chunk(6, dim=-1)  # (B, 1, D)
        h = F.layer_norm(z, (d,), eps=1e-6) * (1 + scale1) + shift1
        z = z + gate1 * self.attn(h)
        h = F.layer_norm(z, (d,), eps=self.norm_eps) * (1 + scale2) + shift2
        return z + gate2 * self.mlp(h)


class DiT(nn.Module, PretrainedMixin):
    """``(x_t (B, C, H, W), t (B,) or scalar, cond=None) -> prediction (B, C_out, H, W)``; ``cond`` is class labels
    (B,) long (``n_classes`` is the null class; None: all null) or, with ``text_dim``, pooled text (B, text_dim)."""

    config_class = DiTConfig

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.config = c = config
        self.patch_embed = PatchEmbedding(in_channels=c.in_channels, d_model=c.d_model, patch_size=c.patch_size)
        grid = c.sample_size // c.patch_size
        self.register_buffer("pos_embed", sincos_2d(grid, grid, c.d_model)[None], persistent=False)  # (1, N, D)
        self.time_mlp = nn.Sequential(nn.Linear(c.time_dim, c.d_model), nn.SiLU(), nn.Linear(c.d_model, c.d_model))
        self.class_embedding = nn.Embedding(c.n_classes + 1, c.d_model) if c.n_classes else None
        self.text_proj = nn.Linear(c.text_dim, c.d_model) if c.text_dim else None
        self.blocks = nn.ModuleList(DiTBlock(c) for _ in range(c.n_layers))
        self.final = AdaLayerNorm(c.d_model, c.d_model, eps=1e-6)
        self.proj_out = nn.Linear(c.d_model, c.patch_size ** 2 * c.out_channels)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def conditioning(self, t: torch.Tensor, cond: Optional[torch.Tensor], batch: int) -> torch.Tensor:
        """The vector ``c`` (B, D) from the time steps and the class labels or pooled text."""
        cfg = self.config
        t = torch.as_tensor(t, device=self.pos_embed.device).reshape(-1).expand(batch)
        c = self.time_mlp(timestep_embedding(t, cfg.time_dim, flip_sin_to_cos=True, downscale_freq_shift=1))
        if self.class_embedding is not None:
            if cond is None:
                cond = torch.full((batch,), cfg.n_classes, dtype=torch.long, device=c.device)
            elif cond.dtype.is_floating_point:
                raise ValueError(f"this DiT takes class labels (long, values 0..{cfg.n_classes}) as cond")
            c = c + self.class_embedding(cond)
        elif self.text_proj is not None and cond is not None:
            if cond.shape != (batch, cfg.text_dim):
                raise ValueError(f"pooled text cond must be (batch, text_dim={cfg.text_dim}), "
                                 f"got shape {tuple(cond.shape)}")
            c = c + self.text_proj(cond)
        elif cond is not None:
            raise ValueError("this DiT is unconditional (n_classes=0, text_dim=0): call it with cond=None")
        return c

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        cfg = self.config
        if x.shape[-2:] != (cfg.sample_size, cfg.sample_size):
            raise ValueError(f"input must be (batch, {cfg.in_channels}, {cfg.sample_size}, {cfg.sample_size}) "
                             f"(sample_size={cfg.sample_size}), got shape {tuple(x.shape)}")
        c = self.conditioning(t, cond, x.shape[0])  # (B, D)
        z = self.patch_embed(x) + self.pos_embed  # (B, N, D)
        for block in self.blocks:
            z = block(z, c)
        z = self.proj_out(self.final(z, F.silu(c)))  # (B, N, p * p * C_out)
        return unpatchify(z, cfg.patch_size, cfg.out_channels)


def unpatchify(tokens: torch.Tensor, patch_size: int, channels: int) -> torch.Tensor:
    """(B, N, p * p * C) with each token laid out (p, p, C) -> (B, C, H, W) on a square grid of N patches."""
    b, n, _ = tokens.shape
    g = int(round(n ** 0.5))
    x = tokens.reshape(b, g, g, patch_size, patch_size, channels)  # (B, gh, gw, p, q, C)
    x = x.permute(0, 5, 1, 3, 2, 4)  # -> (B, C, gh, p, gw, q)
    return x.reshape(b, channels, g * patch_size, g * patch_size)
