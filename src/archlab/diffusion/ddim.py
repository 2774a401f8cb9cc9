"""DDIM sampling (Song, Meng and Ermon 2021, "Denoising Diffusion Implicit Models", eq. 12 and 16).

From ``t`` to ``t' = t - T // n`` (``alpha_bar_t' = final_alpha_cumprod`` once ``t' < 0``), with the
predicted ``x_0`` and ``eps``:

    sigma_t = eta sqrt((1 - alpha_bar_t') / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_t')
    x_t' = sqrt(alpha_bar_t') x_0 + sqrt(1 - alpha_bar_t' - sigma_t^2) eps + sigma_t z

``eta = 0`` is the deterministic DDIM, ``eta = 1`` the DDPM posterior variance. ``eps`` is computed from the
denoiser's output before any clipping of ``x_0``. The previous timestep is ``t - T // n`` for every spacing,
as in diffusers (with ``"linspace"`` it is not the next timestep of the list). ``final_alpha_cumprod``:
``"one"`` (diffusers' ``set_alpha_to_one=True``) or ``"first"`` (``alpha_bar_0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from archlab.core.validation import check_choices
from archlab.diffusion.schedules import predict_epsilon, predict_x0
from archlab.diffusion.scheduler import DiscreteSchedule, ScheduleConfig, StepOutput, spaced_timesteps, step_noise


@dataclass
class DDIMConfig(ScheduleConfig):
    """``ScheduleConfig`` with ``eta`` (>= 0; 0 deterministic) and ``final_alpha_cumprod`` ("one" | "first")."""

    eta: float = 0.0
    final_alpha_cumprod: str = "one"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.eta >= 0:
            raise ValueError(f"eta={self.eta} must be >= 0")
        check_choices(self, dict(final_alpha_cumprod=("one", "first")))


class DDIMSampler(DiscreteSchedule):
    """DDIM with the scheduler protocol (see ``archlab.diffusion.scheduler``)."""

    def __init__(self, config: Optional[DDIMConfig] = None) -> None:
        super().__init__(config or DDIMConfig())
        self.final_alpha = torch.tensor(1.0) if self.config.final_alpha_cumprod == "one" else self.alphas_cumprod[0]

    def set_timesteps(self, num_inference_steps: int, device: torch.device | str | None = None) -> None:
        c = self.config
        steps = spaced_timesteps(c.timestep_spacing, c.num_train_timesteps, num_inference_steps, c.steps_offset)
        self.timesteps = torch.from_numpy(steps).to(device)
        self.num_inference_steps = num_inference_steps

    def step(self, model_output: torch.Tensor, timestep: torch.Tensor | int, sample: torch.Tensor,
             generator: Optional[torch.Generator] = None) -> StepOutput:
        if self.num_inference_steps is None:
            raise ValueError("num_inference_steps is not set: call set_timesteps(n) before step")
        t = int(timestep)
        prev_t = t - self.config.num_train_timesteps // self.num_inference_steps
        a_t = self.alphas_cumprod[t]
        a_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else self.final_alpha
        kind = self.config.prediction_type
        x0 = predict_x0(model_output, sample, a_t, kind)
        eps = predict_epsilon(model_output, sample, a_t, kind)
        x0 = self.clip_x0(x0)
        variance = ((1 - a_prev) / (1 - a_t)) * (1 - a_t / a_prev)
        std = self.config.eta * variance**0.5
        prev = a_prev**0.5 * x0 + (1 - a_prev - std**2) ** 0.5 * eps
        if self.config.eta > 0:
            prev = prev + std * step_noise(model_output, generator)
        return StepOutput(prev_sample=prev, pred_original_sample=x0)
