"""CLIP, the contrastive dual encoder (Radford et al. 2021): an image encoder and a text encoder, each followed
by a linear projection without bias into a shared space of ``projection_dim`` (``W_i``, ``W_t`` of the paper's
Figure 3), trained with the symmetric InfoNCE loss (``archlab.multimodal.contrastive``).

The temperature ``tau`` enters as the logit scale ``s = 1 / tau``, stored as ``log s`` (``logit_scale``):
``temperature="learnable"`` trains it (initialised to ``tau = init_temperature``, 0.07 in the paper, section 2.5,
and clamped so that ``s <= 100``), ``temperature="fixed"`` keeps it as a buffer (the modality-gap experiments of
Liang et al. 2022 fix it). ``encode_image`` / ``encode_text`` return the projected, unnormalised embeddings,
which are what Hugging Face's ``get_image_features`` / ``get_text_features`` return.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from archlab.core.io import PretrainedMixin
from archlab.core.validation import check_at_least, check_choices, check_divisible, check_positive
from archlab.multimodal import vocab
from archlab.multimodal.contrastive import contrastive_logits, symmetric_infonce
from archlab.multimodal.encoders import ImageEncoder, TextEncoder

MAX_LOGIT_SCALE = math.log(100.0)


@dataclass
class CLIPConfig:
    """Configuration of ``CLIP``; ``*_ff=None`` means 4 x the width; images are ``image_size`` high and
    ``image_width`` wide (None: square). The defaults fit the built-in digits."""

    image_size: int = 8
    image_width: int | None = None
    patch_size: int = 4
    in_channels: int = 1
    vision_width: int = 32
    vision_layers: int = 2
    vision_heads: int = 2
    vision_ff: int | None = None
    vision_norm_eps: float = 1e-5
    vocab_size: int = len(vocab.WORDS)
    max_text_len: int = 16
    text_width: int = 32
    text_layers: int = 2
    text_heads: int = 2
    text_ff: int | None = None
    text_norm_eps: float = 1e-5
    eos_token_id: int = vocab.EOS
    pooling: Literal["eos", "argmax"] = "eos"
    projection_dim: int = 32
    activation: Literal["quick_gelu", "gelu"] = "quick_gelu"
    temperature: Literal["learnable", "fixed"] = "learnable"
    init_temperature: float = 0.07

    def __post_init__(self) -> None:
        check_at_least(self, 1, "image_size", "patch_size", "in_channels", "vision_width", "vision_layers",
                       "vision_heads", "vocab_size", "max_text_len", "text_width", "text_layers", "text_heads",
                       "projection_dim")
        check_divisible(self, "image_size", "patch_size")
        if self.image_width is not None:
            check_at_least(self, 1, "image_width")
            check_divisible(self, "image_width", "patch_size")
        check_divisible(self, "vision_width", "vision_heads")
        check_divisible(self, "text_width", "text_heads")
        for name in ("vision_ff", "text_ff"):
            if getattr(self, name) is not None:
                check_at_least(self, 1, name)
        check_positive(self, "vision_norm_eps", "text_norm_eps", "init_temperature")
        check_choices(self, {"pooling": ("eos", "argmax"), "activation": ("quick_gelu", "gelu"),
                             "temperature": ("learnable", "fixed")}, quote=True)
        check_at_least(self, 0, "eos_token_id")


@dataclass
class CLIPOutput:
    """``logits_per_image`` (B, B): image i against text j, scaled; ``loss``: the symmetric InfoNCE."""

    logits_per_image: torch.Tensor
    loss: torch.Tensor


class CLIP(PretrainedMixin, nn.Module):
    """Dual encoder: ``encode_image`` (B, C, H, W) -> (B, P), ``encode_text`` (B, L) -> (B, P); ``forward`` on B
    matched pairs -> ``CLIPOutput``."""

    config_class = CLIPConfig

    def __init__(self, config: CLIPConfig) -> None:
        super().__init__()
        self.config = c = config
        self.vision = ImageEncoder(image_size=c.image_size, patch_size=c.patch_size, in_channels=c.in_channels,
                                   d_model=c.vision_width, n_layers=c.vision_layers, n_heads=c.vision_heads,
                                   d_ff=c.vision_ff or 4 * c.vision_width, activation=c.activation,
                                   norm_eps=c.vision_norm_eps, image_width=c.image_width)
        self.text = TextEncoder(vocab_size=c.vocab_size, max_len=c.max_text_len, d_model=c.text_width,
                                n_layers=c.text_layers, n_heads=c.text_heads, d_ff=c.text_ff or 4 * c.text_width,
                                activation=c.activation, norm_eps=c.text_norm_eps, eos_token_id=c.eos_token_id,
                                pooling=c.pooling)
        self.visual_projection = nn.Linear(c.vision_width, c.projection_dim, bias=False)
        self.text_projection = nn.Linear(c.text_width, c.projection_dim, bias=False)
        scale = torch.tensor(math.log(1.0 / c.init_temperature))
        if c.temperature == "learnable":
            self.logit_scale = nn.Parameter(scale)
        else:
            self.register_buffer("logit_scale", scale)

    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.visual_projection(self.vision(pixel_values))  # (B, D_v) -> (B, P)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.text_projection(self.text(input_ids, attention_mask))  # (B, D_t) -> (B, P)

    def scale(self) -> torch.Tensor:
        """``s = 1 / tau``, at most 100 (Radford et al. 2021, section 2.5)."""
        return self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()

    def forward(self, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                attention_mask: torch.Tensor | None = None) -> CLIPOutput:
        image, text = self.encode_image(pixel_values), self.encode_text(input_ids, attention_mask)
        s = self.scale()
        return CLIPOutput(logits_per_image=contrastive_logits(image, text, s), loss=symmetric_infonce(image, text, s))
