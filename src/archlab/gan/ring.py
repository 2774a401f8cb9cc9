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


# The conditions of the mode-collapse experiment (reference/claims.md section 6): a collapse-prone vanilla GAN
# (the saturating minimax loss, the discriminator's learning rate 5x the generator's) and PacGAN2 with the
# non-saturating loss, MLPs of 3 x 128, Adam betas (0.5, 0.999), batch 256.
VANILLA = dict(config=GANConfig(loss="minimax", latent_dim=2, hidden_dim=128, n_layers=3), d_lr=5e-3, g_lr=1e-3)
PACGAN2 = dict(config=GANConfig(loss="non-saturating", latent_dim=2, hidden_dim=128, n_layers=3, pack=2),
               d_lr=2e-3, g_lr=2e-3)


def mode_collapse_runs(seed: int, *, steps: int) -> dict[str, list[RingResult]]:
    """Both conditions at the three seeds ``3 seed``, ``3 seed + 1``, ``3 seed + 2``."""
    seeds = [3 * seed + i for i in range(3)]
    return {name: [train_ring(c["config"], d_lr=c["d_lr"], g_lr=c["g_lr"], betas=(0.5, 0.999), steps=steps,
                              batch_size=256, seed=s) for s in seeds]
            for name, c in (("vanilla", VANILLA), ("pacgan2", PACGAN2))}


def mode_collapse_holds(runs: dict[str, list[RingResult]]) -> bool:
    """The rule of ``gan.mode-collapse``: vanilla <= 4 modes in >= 2 of 3 seeds; PacGAN2 >= 7.5 modes on average
    with >= 70 % high-quality samples on average; mean modes of vanilla <= those of PacGAN2."""
    vanilla, fix = runs["vanilla"], runs["pacgan2"]
    collapsed = sum(r.modes <= 4 for r in vanilla) >= 2
    fix_modes = sum(r.modes for r in fix) / len(fix)
    fix_quality = sum(r.high_quality for r in fix) / len(fix)
    return collapsed and fix_modes >= 7.5 and fix_quality >= 0.70 and sum(r.modes for r in vanilla) / 3 <= fix_modes
