"""The GAN family's representative model for its atlas page: a DCGAN-style generator and discriminator on 8x8
digits, taking the discriminator's step on a batch of real digits and a batch of noise (the hook
``representative_model`` of ``archlab.atlas.anatomy``)."""

from __future__ import annotations

import torch

from archlab.data.images import digits_dataset
from archlab.gan.model import GAN, GANConfig


def representative_model() -> tuple[GAN, tuple[dict[str, torch.Tensor], str], str]:
    torch.manual_seed(0)
    real = digits_dataset().train_images[:16]  # (B, 1, 8, 8)
    model = GAN(GANConfig(data_shape=tuple(real.shape[1:]), architecture="dcgan", latent_dim=16))
    batch = {"real": real, "noise": torch.randn(16, 16)}  # noise (B, latent)
    return model, (batch, "discriminator"), "loss"
