"""DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), on any subsequence of the training timesteps.

From timestep ``t`` to the previous one ``t'`` of the inference list (``-1`` after the last, where
``alpha_bar = 1``), with ``alpha_t = alpha_bar_t / alpha_bar_t'`` and ``beta_t = 1 - alpha_t`` (the
single-step quantities of the strided chain), the step samples the posterior ``q(x_t' | x_t, x_0)`` at the
predicted ``x_0`` (Ho et al. eq. 6-7):

    mean = sqrt(alpha_bar_t') beta_t / (1 - alpha_bar_t) x_0 + sqrt(alpha_t) (1 - alpha_bar_t') / (1 - alpha_bar_t) x_t
    var  = (1 - alpha_bar_t') / (1 - alpha_bar_t) beta_t      ("fixed_small", beta tilde)   or   beta_t ("fixed_large")

and adds ``sqrt(var) z`` unless ``t = 0``. Code names: ``alpha_bar_t`` ``a_t``, ``alpha_bar_t'`` ``a_prev``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from archlab.core.validation import check_choices
from archlab.diffusion.schedules import predict_x0
from archlab.diffusion.scheduler import DiscreteSchedule, ScheduleConfig, StepOutput, spaced_timesteps, step_noise

VARIANCE_TYPES = ("fixed_small", "fixed_large")


@dataclass
class DDPMConfig(ScheduleConfig):
    """``ScheduleConfig`` and ``variance_type``: ``"fixed_small"`` (the posterior variance) or
    ``"fixed_large"`` (beta_t); Ho et al. report both give similar samples."""

    variance_type: str = "fixed_small"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choices(self, dict(variance_type=VARIANCE_TYPES))


class DDPMSampler(DiscreteSchedule):
    """Ancestral sampling of Ho et al. 2020 with the scheduler protocol (see ``archlab.diffusion.scheduler``)."""

    def __init__(self, config: Optional[DDPMConfig] = None) -> None:
        super().__init__(config or DDPMConfig())

    def set_timesteps(self, num_inference_steps: int, device: torch.device | str | None = None) -> None:
        c = self.config
        steps = spaced_timesteps(c.timestep_spacing, c.num_train_timesteps, num_inference_steps, c.steps_offset)
        self.timesteps = torch.from_numpy(steps).to(device)
        self.num_inference_steps = num_inference_steps

    def previous_timestep(self, timestep: int) -> int:
        """The timestep after ``timestep`` in the inference list, ``-1`` after the last."""
        index = int((self.timesteps == timestep).nonzero()[0])
        return int(self.timesteps[index + 1]) if index + 1 < len(self.timesteps) else -1

    def step(self, model_output: torch.Tensor, timestep: torch.Tensor | int, sample: torch.Tensor,
             generator: Optional[torch.Generator] = None) -> StepOutput:
        t = int(timestep)
        prev_t = self.previous_timestep(t)
        a_t = self.alphas_cumprod[t]
        a_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else torch.tensor(1.0)
        alpha_t = a_t / a_prev
        beta_t = 1 - alpha_t
        x0 = self.clip_x0(predict_x0(model_output, sample, a_t, self.config.prediction_type))
        mean = (a_prev**0.5 * beta_t) / (1 - a_t) * x0 + alpha_t**0.5 * (1 - a_prev) / (1 - a_t) * sample
        if t > 0:
            if self.config.variance_type == "fixed_small":
                variance = torch.clamp((1 - a_prev) / (1 - a_t) * beta_t, min=1e-20)
            else:
                variance = beta_t
            mean = mean + variance**0.5 * step_noise(model_output, generator)
        return StepOutput(prev_sample=mean, pred_original_sample=x0)
