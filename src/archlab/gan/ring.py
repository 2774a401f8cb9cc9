"""The ring-of-8 experiment of the mode-collapse claim: train one GAN condition on the ring and score it with
the VEEGAN mode metric (``archlab.lab.ring_modes``).

The ring is PacGAN's (Lin et al. 2018): 8 Gaussians of std ``RING_STD`` on the unit circle; the generator's
latent is 2-D N(0, I) as theirs. Both players are MLPs trained with Adam through the one loop
(``archlab.lab.experiment.quick_fit`` with per-player ``OptimConfig``); a condition is a ``GANConfig`` and the
two learning rates. Samples for the metric: ``N_EVAL`` = 2,500 draws of G (VEEGAN's count).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from archlab.data.streams import step_generator
from archlab.data.toy2d import ring_of_gaussians
from archlab.gan.model import GAN, GANConfig
from archlab.gan.task import GANTask
from archlab.lab.experiment import quick_fit
from archlab.lab.ring_modes import ring_mode_stats
from archlab.train.config import OptimConfig

RING_RADIUS, RING_STD, N_EVAL = 1.0, 0.02, 2500


def ring_sampler(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` points (n, 2) of the GAN miniature's ring (radius 1, std 0.02)."""
    return ring_of_gaussians(n, generator, radius=RING_RADIUS, std=RING_STD)[0]


@dataclass
class RingResult:
    """The VEEGAN metric of 2,500 samples of one trained condition, and the samples (N_EVAL, 2)."""

    modes: int
    high_quality: float
    samples: torch.Tensor


def adam(lr: float, betas: tuple[float, float]) -> OptimConfig:
    """Adam at a constant rate, no weight decay, no clipping: the GAN papers' setting."""
    return OptimConfig(name="adam", lr=lr, betas=betas, schedule="constant", warmup_steps=0, weight_decay=0.0,
                       grad_clip=0.0)


def train_ring(config: GANConfig, *, d_lr: float, g_lr: float, betas: tuple[float, float], steps: int,
               batch_size: int, seed: int) -> RingResult:
    """Train ``config`` on the ring for ``steps`` generator steps and score 2,500 of its samples."""
    torch.manual_seed(seed)
    model = GAN(config)
    task = GANTask(model, ring_sampler, batch_size=batch_size, seed=seed, discriminator_optim=adam(d_lr, betas),
                   generator_optim=adam(g_lr, betas), eval_size=config.pack * 8)
    quick_fit(task, steps=steps, lr=g_lr, batch_size=batch_size, seed=seed)
    samples = model.sample(N_EVAL, step_generator(seed, "samples", 0))
    stats = ring_mode_stats(samples, radius=RING_RADIUS, std=RING_STD)
    return RingResult(stats.modes_covered, stats.high_quality_fraction, samples)
