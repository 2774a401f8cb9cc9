"""The claims' shared miniature (reference/claims.md section 10): a small denoiser trained on the ring of 8
Gaussians (radius 2, std 0.1) through the one loop, and its samples scored against fresh data.

``train_ring_denoiser`` trains ``MLPDenoiser`` (d_hidden 64, 2 residual blocks, 32 time features) for
``steps`` AdamW steps of ``batch`` points (lr 3e-3, 50 warm-up steps, cosine to 0.1x, no weight decay),
seeded, and kept for the process (one trained model per seed, prediction type and budget, shared by every
claim that asks for it: callers sample from it and never train it further); ``sw_to_data`` is the sliced
Wasserstein-2 distance (256 projections, fixed directions) between samples and a fresh draw of the data of the
same size.

``ExactRingDenoiser`` is the denoiser no training can beat: the exact epsilon of the ring under the forward
process of a discrete schedule (no parameters), for claims about the samplers rather than the model.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

import torch

from archlab.data.streams import step_generator
from archlab.data.toy2d import ring_means, ring_of_gaussians
from archlab.diffusion.denoiser import MLPDenoiser, MLPDenoiserConfig
from archlab.diffusion.schedules import alphas_cumprod, make_betas
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


class ExactRingDenoiser(torch.nn.Module):
    """The exact epsilon-prediction of the ring (``RING``: ``K`` equal isotropic Gaussians N(mu_k, s^2 I)) at
    timestep ``t`` of a discrete schedule (default: Ho et al. 2020's linear betas, T = 1000).

    Under ``x_t = a x_0 + sigma eps`` (``a^2 = alpha_bar_t``, ``sigma^2 = 1 - a^2``) the marginal of x_t is the
    mixture of N(a mu_k, v I), ``v = a^2 s^2 + sigma^2``. The posterior of x_0 given x_t and mode k is Gaussian
    with mean ``mu_k + (a s^2 / v)(x_t - a mu_k)``, mode k's posterior weight is softmax_k(-|x_t - a mu_k|^2 /
    (2 v)), and ``E[x_0 | x_t]`` is their weighted mix; then ``eps = (x_t - a E[x_0 | x_t]) / sigma`` (Tweedie's
    formula, Efron 2011; ``eps = -sigma grad log p_t(x_t)``, Song et al. 2021, "Score-Based Generative Modeling
    through SDEs"). Computed in float64, returned in the input's dtype; ``cond`` is
    ignored (the ring's unconditional density)."""

    def __init__(self, *, beta_schedule: str = "linear", num_train_timesteps: int = 1000,
                 beta_start: float = 1e-4, beta_end: float = 0.02, n_modes: int = 8):
        super().__init__()
        betas = make_betas(beta_schedule, num_train_timesteps, beta_start=beta_start, beta_end=beta_end)
        self.register_buffer("alphas_cumprod", alphas_cumprod(betas).double())  # (T,)
        self.register_buffer("means", ring_means(radius=RING["radius"], n_modes=n_modes).double())  # (K, 2)
        self.std = RING["std"]

    def posterior_mean(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``E[x_0 | x_t]`` (B, 2) for ``x_t`` (B, 2) at integer-valued timesteps ``t`` (B,)."""
        alpha_bar = self.alphas_cumprod[t.round().long()].unsqueeze(1)  # (B, 1)
        a, x = alpha_bar.sqrt(), x_t.double()
        v = alpha_bar * self.std**2 + (1 - alpha_bar)  # (B, 1)
        offset = x.unsqueeze(1) - a.unsqueeze(1) * self.means  # (B, K, 2): x_t - a mu_k
        weights = torch.softmax(-offset.pow(2).sum(dim=2) / (2 * v), dim=1)  # (B, K)
        per_mode = self.means + (a * self.std**2 / v).unsqueeze(1) * offset  # (B, K, 2)
        return (weights.unsqueeze(2) * per_mode).sum(dim=1)  # (B, 2)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        alpha_bar = self.alphas_cumprod[t.round().long()].unsqueeze(1)  # (B, 1)
        eps = (x_t.double() - alpha_bar.sqrt() * self.posterior_mean(x_t, t)) / (1 - alpha_bar).sqrt()
        return eps.to(x_t.dtype)
