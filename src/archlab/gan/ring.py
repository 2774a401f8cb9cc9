"""The ring-of-8 experiments: the saturating-loss claim's ring, and the mode-collapse experiment (train one GAN
condition on a ring and score it with the VEEGAN mode metric, ``archlab.lab.ring_modes``).

``ring_sampler`` is PacGAN's ring (Lin et al. 2018): 8 Gaussians of std 0.02 on the unit circle. The
mode-collapse experiment uses the shared ring of ``archlab.data.toy2d`` at its defaults (radius 2, as Metz et
al. 2017; std 0.1, the diffusion miniature's): at std 0.02 a 2-D MLP GAN needs far more steps than the claim's
60 s to place its samples within 3 std of a mode (measured: 0-12 % high-quality samples after 800-1,200
steps, with the modes all reached), so the quality half of the rule measured the budget, not the method.

``train_ring`` is a plain two-player loop over the family's own ``GAN.loss`` (Goodfellow et al. 2014,
Algorithm 1: the discriminator's update, then the generator's, on the same draws) and Adam with a cosine
decay to 0.1 of each player's rate; the one loop's per-update bookkeeping (logged scalars, gradient norms)
doubled the time of these tiny nets. Every draw comes from ``step_generator(seed, "train", step)``; samples for
the metric are ``N_EVAL`` = 2,500 draws of G (VEEGAN's count) from the ``"samples"`` stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from archlab.core.validation import check_at_least, check_positive
from archlab.data.streams import step_generator
from archlab.data.toy2d import ring_of_gaussians
from archlab.gan.model import GAN, PLAYERS, GANConfig
from archlab.lab.ring_modes import ring_mode_stats
from archlab.train.config import OptimConfig
from archlab.train.optim import lr_factor, set_lr

RING_RADIUS, RING_STD, N_EVAL = 1.0, 0.02, 2500
COLLAPSE_RADIUS, COLLAPSE_STD, COLLAPSE_BATCH = 2.0, 0.1, 128


def ring_sampler(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` points (n, 2) of PacGAN's ring (radius 1, std 0.02)."""
    return ring_of_gaussians(n, generator, radius=RING_RADIUS, std=RING_STD)[0]


def adam(lr: float, betas: tuple[float, float]) -> OptimConfig:
    """Adam at a constant rate, no weight decay, no clipping: the GAN papers' setting."""
    return OptimConfig(name="adam", lr=lr, betas=betas, schedule="constant", warmup_steps=0, weight_decay=0.0,
                       grad_clip=0.0)


@dataclass
class Condition:
    """One arm of the mode-collapse experiment: the GAN, each player's peak Adam rate, Adam's betas, the steps."""

    config: GANConfig
    d_lr: float
    g_lr: float
    betas: tuple[float, float]
    steps: int

    def __post_init__(self) -> None:
        check_positive(self, "d_lr", "g_lr")
        check_at_least(self, 1, "steps")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas={self.betas} must be two numbers in [0, 1)")
        if COLLAPSE_BATCH % self.config.pack:
            raise ValueError(f"config.pack={self.config.pack} must divide the batch of {COLLAPSE_BATCH}")


@dataclass
class RingResult:
    """The VEEGAN metric of 2,500 samples of one trained condition, and the samples (N_EVAL, 2)."""

    modes: int
    high_quality: float
    samples: torch.Tensor


def train_ring(condition: Condition, *, seed: int) -> RingResult:
    """Train ``condition`` on the mode-collapse ring (batch ``COLLAPSE_BATCH``) and score 2,500 of its samples.

    Each step updates the discriminator ``n_critic`` times (update j > 0 on the ``"critic-j"`` stream), then the
    generator once on the step's draws."""
    c = condition
    torch.manual_seed(seed)
    model = GAN(c.config)
    optimizers = {name: torch.optim.Adam(getattr(model, name).parameters(), lr=lr, betas=c.betas, foreach=True)
                  for name, lr in (("discriminator", c.d_lr), ("generator", c.g_lr))}
    peak = {"discriminator": c.d_lr, "generator": c.g_lr}
    n = COLLAPSE_BATCH
    for step in range(c.steps):
        factor = lr_factor(step, total_steps=c.steps, warmup_steps=0, min_lr_ratio=0.1, schedule="cosine")
        for name in PLAYERS:
            updates = c.config.n_critic if name == "discriminator" else 1
            for j in range(updates):
                g = step_generator(seed, "train" if j == 0 else f"critic-{j}", step)
                real = ring_of_gaussians(n, g, radius=COLLAPSE_RADIUS, std=COLLAPSE_STD)[0]
                batch = {"real": real, "noise": torch.randn(n, c.config.latent_dim, generator=g),
                         "mix": torch.rand(n, generator=g)}
                optimizer = optimizers[name]
                optimizer.zero_grad(set_to_none=True)
                model.loss(batch, name).loss.backward()
                set_lr(optimizer, peak[name] * factor)
                optimizer.step()
    samples = model.sample(N_EVAL, step_generator(seed, "samples", 0))
    stats = ring_mode_stats(samples, radius=COLLAPSE_RADIUS, std=COLLAPSE_STD)
    return RingResult(stats.modes_covered, stats.high_quality_fraction, samples)


# The two arms of ``gan.mode-collapse`` (MLPs of 3 x 64, a 2-D latent as PacGAN's, the non-saturating loss).
# Collapse-prone vanilla: the generator's rate 10x the discriminator's, so G chases D's current favourite mode
# and its whole mass hops from mode to mode (Metz et al. 2017's rotation); Adam betas (0.5, 0.999) as DCGAN.
# The fix: PacGAN2 (Lin et al. 2018) at equal rates, Adam betas (0, 0.9) as WGAN-GP's (Gulrajani et al. 2017).
VANILLA = Condition(GANConfig(loss="non-saturating", latent_dim=2, hidden_dim=64, n_layers=3),
                    d_lr=5e-4, g_lr=5e-3, betas=(0.5, 0.999), steps=600)
PACGAN2 = Condition(GANConfig(loss="non-saturating", latent_dim=2, hidden_dim=64, n_layers=3, pack=2),
                    d_lr=3e-3, g_lr=3e-3, betas=(0.0, 0.9), steps=1200)


def mode_collapse_runs(seed: int) -> dict[str, list[RingResult]]:
    """Both arms at the three internal seeds ``3 seed``, ``3 seed + 1``, ``3 seed + 2``."""
    seeds = [3 * seed + i for i in range(3)]
    return {name: [train_ring(condition, seed=s) for s in seeds]
            for name, condition in (("vanilla", VANILLA), ("pacgan2", PACGAN2))}


def mode_collapse_holds(runs: dict[str, list[RingResult]]) -> bool:
    """The rule of ``gan.mode-collapse``: vanilla <= 4 modes in >= 2 of 3 seeds; PacGAN2 >= 7.5 modes on average
    with >= 70 % high-quality samples on average; mean modes of vanilla <= those of PacGAN2."""
    vanilla, fix = runs["vanilla"], runs["pacgan2"]
    collapsed = sum(r.modes <= 4 for r in vanilla) >= 2
    fix_modes = sum(r.modes for r in fix) / len(fix)
    fix_quality = sum(r.high_quality for r in fix) / len(fix)
    return collapsed and fix_modes >= 7.5 and fix_quality >= 0.70 and sum(r.modes for r in vanilla) / 3 <= fix_modes
