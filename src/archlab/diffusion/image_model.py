"""Diffusion on images: a U-Net or DiT denoiser trained and sampled with the family's one objective
(``archlab.diffusion.objective``), and the digits as its data.

The digits (8 x 8, scikit-learn's) are resized to ``image_size`` (16 by default, so the U-Net has two levels
and the DiT 64 patches of 2 x 2) by bilinear interpolation and mapped from [0, 1] to [-1, 1], the range the
noise schedule assumes (Ho et al. 2020, section 3.3). ``ImageDiffusionTask`` draws each step's images, labels,
noise and timesteps from the step's generator, so a run is a pure function of its seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.io import PretrainedMixin
from archlab.core.validation import check_at_least, check_choices
from archlab.data.images import digits_dataset
from archlab.diffusion.dit import DiT, DiTConfig
from archlab.diffusion.objective import DenoiserMixin, ObjectiveConfig, schedule_alphas_cumprod
from archlab.diffusion.unet import UNet, UNetConfig
from archlab.lab.experiment import SampledTask

DENOISERS = ("unet", "dit")


@dataclass
class ImageDenoiserConfig(ObjectiveConfig):
    """``denoiser`` ``"unet"`` | ``"dit"``; images ``channels`` x ``image_size`` x ``image_size``; ``width``
    (the U-Net's top level, doubled below it; the DiT's width is ``2 width`` with 4 heads, ``dit_layers``
    blocks and patches of ``patch_size``); and the objective's fields (``ObjectiveConfig``; the cosine schedule
    by default, which suits small images, Nichol and Dhariwal 2021)."""

    denoiser: str = "unet"
    image_size: int = 16
    channels: int = 1
    width: int = 32
    dit_layers: int = 4
    patch_size: int = 2
    beta_schedule: str = "cosine"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choices(self, dict(denoiser=DENOISERS))
        check_at_least(self, 1, "channels", "dit_layers", "patch_size")
        check_at_least(self, 8, "width")
        if self.image_size < 4 or self.image_size % 4:
            raise ValueError(f"image_size={self.image_size} must be a multiple of 4, at least 4")
        if self.width % 8:
            raise ValueError(f"width={self.width} must be divisible by 8 (the U-Net's norm groups)")

    def network(self) -> nn.Module:
        """The denoiser network this config names."""
        if self.denoiser == "unet":
            return UNet(UNetConfig(in_channels=self.channels, widths=(self.width, 2 * self.width), layers_per_block=1,
                                   down_attention=(False, True), norm_groups=8, head_dim=self.width // 2,
                                   class_embeddings=self.n_classes + 1 if self.n_classes else 0))
        return DiT(DiTConfig(in_channels=self.channels, sample_size=self.image_size, patch_size=self.patch_size,
                             d_model=2 * self.width, n_heads=4, n_layers=self.dit_layers, n_classes=self.n_classes))


class ImageDenoiser(DenoiserMixin, nn.Module, PretrainedMixin):
    """``(x_t (B, C, S, S), t (B,), cond (B,) long or None) -> prediction (B, C, S, S)``, with ``make_batch``,
    ``loss`` and ``sample`` of a generative model. Images live in [-1, 1]."""

    config_class = ImageDenoiserConfig

    def __init__(self, config: ImageDenoiserConfig) -> None:
        super().__init__()
        self.config = config
        self.network = config.network()
        self.register_buffer("alphas_cumprod", schedule_alphas_cumprod(config), persistent=False)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.network(x, t, cond)

    def sample_shape(self, n: int) -> tuple[int, ...]:
        """The shape of ``n`` samples."""
        return (n, self.config.channels, self.config.image_size, self.config.image_size)


def digit_images(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The training digits (N, 1, size, size) in [-1, 1] and their labels (N,)."""
    data = digits_dataset()
    images = data.train_images
    if size != images.shape[-1]:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return images * 2 - 1, data.train_labels


class ImageDiffusionTask(SampledTask):
    """The image denoiser's loss on batches of digits (one player, ``"model"``)."""

    def __init__(self, model: ImageDenoiser, *, batch_size: int, seed: int, eval_size: int = 256) -> None:
        super().__init__(batch_size=batch_size, seed=seed, eval_size=eval_size)
        if model.config.n_classes not in (0, 10):
            raise ValueError(f"model.n_classes={model.config.n_classes} must be 0 or the digits' 10 labels")
        if model.config.channels != 1:
            raise ValueError(f"model.channels={model.config.channels} must be 1 for the greyscale digits")
        self.model = model
        self.images, self.labels = digit_images(model.config.image_size)

    def sample(self, size: int, generator: torch.Generator) -> dict:
        index = torch.randint(len(self.labels), (size,), generator=generator)
        labels = self.labels[index] if self.model.config.n_classes else None
        return self.model.make_batch(self.images[index], labels, generator)

    def loss(self, batch: dict, player: str = "model") -> torch.Tensor:
        return self.model.loss(batch)
