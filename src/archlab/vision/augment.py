"""Image augmentations written in torch, batched, drawn from a given generator: random resized crop (Szegedy
et al. 2015, "Going deeper with convolutions", the Inception crop), horizontal flip and small translations.

All three are one affine map of the output's sampling grid per image, applied with one ``grid_sample``
(bilinear, zeros outside the image, ``align_corners=False``): with normalised coordinates in [-1, 1], output
pixel ``u`` reads the input at ``A u + t`` where ``A = diag(flip * w, h)`` is the crop's size as fractions of the
image side and ``t`` its centre plus the translation. The crop's area fraction is drawn uniformly from
``crop_scale`` and its aspect ratio log-uniformly from ``crop_ratio``; the translation is a whole number of
pixels drawn uniformly from ``-max_shift .. max_shift`` on each axis (as padding and cropping shift: whole pixels
land on pixel centres, so a translation alone does not blur). Each call is a pure function of the images and the generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    """``crop_scale=(1, 1)`` turns the crop off, ``flip_p=0`` the flip, ``max_shift=0`` the translation."""

    crop_scale: tuple[float, float] = (0.6, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    max_shift: int = 2

    def __post_init__(self) -> None:
        self.crop_scale, self.crop_ratio = tuple(self.crop_scale), tuple(self.crop_ratio)
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"crop_scale={self.crop_scale} must satisfy 0 < low <= high <= 1")
        lo, hi = self.crop_ratio
        if not 0 < lo <= hi:
            raise ValueError(f"crop_ratio={self.crop_ratio} must satisfy 0 < low <= high")
        if not 0 <= self.flip_p <= 1:
            raise ValueError(f"flip_p={self.flip_p} must lie in [0, 1]")
        if not isinstance(self.max_shift, int) or self.max_shift < 0:
            raise ValueError(f"max_shift={self.max_shift!r} must be a whole number of pixels >= 0")


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def augment_images(images: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W), each image cropped, flipped and shifted at random."""
    b, _, h, w = images.shape
    area = _uniform(b, *config.crop_scale, generator)
    log_ratio = _uniform(b, math.log(config.crop_ratio[0]), math.log(config.crop_ratio[1]), generator)
    ratio = log_ratio.exp()
    crop_w = (area * ratio).sqrt().clamp(max=1.0)  # fractions of the side
    crop_h = (area / ratio).sqrt().clamp(max=1.0)
    centre_x = _uniform(b, -1.0, 1.0, generator) * (1 - crop_w)  # keeps the crop inside the image
    centre_y = _uniform(b, -1.0, 1.0, generator) * (1 - crop_h)
    flip = torch.where(torch.rand(b, generator=generator) < config.flip_p, -1.0, 1.0)
    shifts = torch.randint(-config.max_shift, config.max_shift + 1, (2, b), generator=generator).float()  # pixels
    shift_x, shift_y = shifts[0] * 2 / w, shifts[1] * 2 / h  # pixels -> normalised units
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = flip * crop_w, centre_x + shift_x
    theta[:, 1, 1], theta[:, 1, 2] = crop_h, centre_y + shift_y
    theta = theta.to(images)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
