"""The claims' shared miniature (reference/claims.md section 10): a small denoiser trained on the ring of 8
Gaussians (radius 2, std 0.1) through the one loop, and its samples scored against fresh data.

``train_ring_denoiser`` trains ``MLPDenoiser`` (d_hidden 64, 2 residual blocks, 32 time features) for
``steps`` AdamW steps of ``batch`` points (lr 3e-3, 50 warm-up steps, cosine to 0.1x, no weight decay),
seeded, and kept for the process (one trained model per seed, prediction type and budget, shared by every
claim that asks for it: callers sample from it and never train it further); ``sw_to_data`` is the sliced Wasserstein-2 distance (256 projections, fixed directions) between
samples and a fresh draw of the data of the same size.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from archlab.data.streams import step_generator
from archlab.data.toy2d import ring_of_gaussians
from archlab.diffusion.denoiser import MLPDenoiser, MLPDenoiserConfig
from archlab.diffusion.training import DiffusionTask
from archlab.lab.distances import sliced_wasserstein
from archlab.lab.experiment import quick_fit

RING = dict(radius=2.0, std=0.1)


@lru_cache(maxsize=8)
def train_ring_denoiser(prediction_type: str, *, seed: int, steps: int, batch: int = 256,
                        n_classes: int = 0, p_uncond: float = 0.1, d_hidden: int = 64, n_layers: int = 2,
                        min_lr_ratio: float = 0.1) -> MLPDenoiser:
    """A denoiser of the ring trained through ``archlab.lab.experiment.quick_fit``; returned in eval mode and
    cached: a second call with the same arguments returns the same model. ``d_hidden``, ``n_layers`` and the
    final learning-rate ratio ``min_lr_ratio`` default to the shared miniature's."""
    torch.manual_seed(seed)
    model = MLPDenoiser(MLPDenoiserConfig(d_hidden=d_hidden, n_layers=n_layers, time_dim=32,
                                          prediction_type=prediction_type, n_classes=n_classes, p_uncond=p_uncond))
    task = DiffusionTask(model, data="ring8", batch_size=batch, seed=seed)
    quick_fit(task, steps=steps, lr=3e-3, batch_size=batch, seed=seed, warmup_steps=50, weight_decay=0.0,
              min_lr_ratio=min_lr_ratio)
    return model.eval()


def ring_reference(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` fresh ring points and labels from the ``"reference"`` stream of ``seed``."""
    return ring_of_gaussians(n, step_generator(seed, "reference", 0), **RING)


def sw_to_data(samples: torch.Tensor, reference: torch.Tensor) -> float:
    """Sliced Wasserstein-2 between ``samples`` and ``reference`` on 256 fixed directions."""
    return sliced_wasserstein(samples, reference, n_projections=256, generator=torch.Generator().manual_seed(0))
