"""The training objective and the sampling call every denoiser of the family shares, whatever its network (the
2-D MLP, the image U-Net or DiT).

The settings come from the model's config (an ``ObjectiveConfig``), which names ``prediction_type`` (``"epsilon"`` | ``"v"`` |
``"sample"`` on the discrete schedule, or ``"flow"``), ``num_train_timesteps``, ``beta_schedule``,
``beta_start``, ``beta_end``, ``n_classes`` (0: unconditional) and ``p_uncond``.

- ``make_batch``: noise, timesteps (integers in [0, T) on the discrete schedule; ``sigma T`` with
  sigma ~ U(0, 1) for flow) and, for a conditional model, the labels with each replaced by the null class
  ``n_classes`` with probability ``p_uncond`` (Ho and Salimans 2022, Algorithm 1), all drawn from one generator.
- ``denoising_loss``: the mean squared error between the prediction at ``x_t`` and its target (Ho et al. 2020,
  L_simple; the target is the noise, the velocity of Salimans and Ho 2022, the sample, or the rectified-flow
  velocity ``eps - x_0`` of Liu et al. 2023).
- ``draw``: noise denoised by a named sampler through ``sampling_loop``, with classifier-free guidance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F

from archlab.core.validation import check_at_least, check_choices, check_positive
from archlab.diffusion.flow_matching import flow_interpolate, flow_target
from archlab.diffusion.guidance import GuidedDenoiser
from archlab.diffusion.sampling import SampleOutput, build_sampler, sampling_loop
from archlab.diffusion.schedules import BETA_SCHEDULES, add_noise, alphas_cumprod, make_betas, velocity

PREDICTIONS = ("epsilon", "v", "sample", "flow")


@dataclass
class ObjectiveConfig:
    """The fields every denoiser config shares: ``n_classes`` (0: unconditional), ``p_uncond`` (condition dropout
    in training), ``prediction_type`` (``"epsilon"`` | ``"v"`` | ``"sample"`` | ``"flow"``), and the training
    schedule ``num_train_timesteps``, ``beta_schedule``, ``beta_start``, ``beta_end``."""

    n_classes: int = 0
    p_uncond: float = 0.1
    prediction_type: str = "epsilon"
    num_train_timesteps: int = 1000
    beta_schedule: str = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def __post_init__(self) -> None:
        check_at_least(self, 1, "num_train_timesteps")
        check_at_least(self, 0, "n_classes")
        check_positive(self, "beta_start", "beta_end")
        check_choices(self, dict(prediction_type=PREDICTIONS, beta_schedule=BETA_SCHEDULES))
        if not 0 <= self.p_uncond < 1:
            raise ValueError(f"p_uncond={self.p_uncond} must be in [0, 1)")


def schedule_alphas_cumprod(config: Any) -> torch.Tensor:
    """alpha_bar_t (T,) of the config's training schedule."""
    return alphas_cumprod(make_betas(config.beta_schedule, config.num_train_timesteps,
                                     beta_start=config.beta_start, beta_end=config.beta_end))


def make_batch(config: Any, x0: torch.Tensor, labels: Optional[torch.Tensor], generator: torch.Generator) -> dict:
    """A training batch for data ``x0`` (B, ...): ``x0``, ``noise``, ``t`` (B,) float and, for a conditional
    model, ``labels`` after condition dropout."""
    n = x0.shape[0]
    noise = torch.randn(x0.shape, generator=generator)
    if config.prediction_type == "flow":
        t = torch.rand(n, generator=generator) * config.num_train_timesteps
    else:
        t = torch.randint(config.num_train_timesteps, (n,), generator=generator).float()
    batch = {"x0": x0, "noise": noise, "t": t}
    if config.n_classes:
        if labels is None:
            raise ValueError(f"n_classes={config.n_classes}: a conditional denoiser needs labels")
        dropped = torch.rand(n, generator=generator) < config.p_uncond
        batch["labels"] = torch.where(dropped, torch.full_like(labels, config.n_classes), labels)
    return batch


def denoising_loss(network: Callable[..., torch.Tensor], config: Any, a_bar_table: torch.Tensor,
                   batch: dict) -> torch.Tensor:
    """Mean squared error between ``network(x_t, t, labels)`` and its target, over the batch and dimensions."""
    x0, noise, t = batch["x0"], batch["noise"], batch["t"]
    if config.prediction_type == "flow":
        x_t = flow_interpolate(x0, noise, t / config.num_train_timesteps)
        target = flow_target(x0, noise)
    else:
        a_bar = a_bar_table[t.long()]
        x_t = add_noise(x0, noise, a_bar)
        target = {"epsilon": noise, "sample": x0}.get(config.prediction_type)
        if target is None:
            target = velocity(x0, noise, a_bar)
    return F.mse_loss(network(x_t, t, batch.get("labels")), target)


def draw(network: Callable[..., torch.Tensor], config: Any, noise: torch.Tensor, *, sampler: str = "",
         steps: int = 20, labels: Optional[torch.Tensor] = None, guidance: float = 0.0,
         generator: Optional[torch.Generator] = None, keep_trajectory: bool = False) -> SampleOutput:
    """``noise`` denoised by ``sampler`` (``archlab.diffusion.sampling.SAMPLERS``; default ``"flow"`` for a flow
    model, ``"ddim"`` otherwise) in ``steps`` steps, conditioned on ``labels`` with guidance ``guidance``."""
    name = sampler or ("flow" if config.prediction_type == "flow" else "ddim")
    chosen = build_sampler(name, prediction_type=config.prediction_type,
                           num_train_timesteps=config.num_train_timesteps, beta_schedule=config.beta_schedule,
                           beta_start=config.beta_start, beta_end=config.beta_end)
    if labels is not None:
        labels = labels.to(noise.device)
    return sampling_loop(GuidedDenoiser(network, guidance), chosen, noise, steps, cond=labels, generator=generator,
                         keep_trajectory=keep_trajectory)


class DenoiserMixin:
    """``make_batch``, ``loss`` and ``sample`` for a denoiser module with a ``config`` (an ``ObjectiveConfig``), an
    ``alphas_cumprod`` buffer and ``sample_shape(n)``, the shape of ``n`` samples."""

    def make_batch(self, x0: torch.Tensor, labels: Optional[torch.Tensor], generator: torch.Generator) -> dict:
        """A training batch (``make_batch``)."""
        return make_batch(self.config, x0, labels, generator)

    def loss(self, batch: dict) -> torch.Tensor:
        """Mean squared error between the prediction and its target (``denoising_loss``)."""
        return denoising_loss(self, self.config, self.alphas_cumprod, batch)

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None, *, sampler: str = "",
               steps: int = 20, labels: Optional[torch.Tensor] = None, guidance: float = 0.0,
               keep_trajectory: bool = False) -> SampleOutput:
        """``n`` samples: noise from ``generator`` denoised by ``sampler`` in ``steps`` steps, conditioned on
        ``labels`` (n,) with classifier-free guidance ``guidance`` (``draw``)."""
        noise = torch.randn(self.sample_shape(n), generator=generator).to(self.alphas_cumprod.device)
        return draw(self, self.config, noise, sampler=sampler, steps=steps, labels=labels, guidance=guidance,
                    generator=generator, keep_trajectory=keep_trajectory)
