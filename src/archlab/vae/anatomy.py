"""The VAE family's representative model for its atlas page: the MLP VAE of the digits at its default size,
reconstructing a batch of real 8x8 digits (the hook ``representative_model`` of ``archlab.atlas.anatomy``)."""

from __future__ import annotations

import torch

from archlab.data.images import digits_dataset
from archlab.vae.model import VAE, VAEConfig


def representative_model() -> tuple[VAE, tuple[torch.Tensor], str]:
    torch.manual_seed(0)
    images = digits_dataset().train_images[:16]  # (B, 1, 8, 8)
    return VAE(VAEConfig(data_shape=tuple(images.shape[1:]))), (images,), "reconstruct"
