"""The diffusion family's representative model for its atlas page: the MLP denoiser of the 2-D toy data, predicting
the noise of a batch of noised points at random timesteps (the hook ``representative_model`` of
``archlab.atlas.anatomy``)."""

from __future__ import annotations

import torch

from archlab.diffusion.denoiser import MLPDenoiser, MLPDenoiserConfig


def representative_model() -> tuple[MLPDenoiser, tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = MLPDenoiser(MLPDenoiserConfig(data_dim=2, d_hidden=128, n_layers=3))
    x_t = torch.randn(64, 2, generator=generator)  # (B, D)
    t = torch.randint(0, 1000, (64,), generator=generator)  # (B,)
    return model, (x_t, t)
