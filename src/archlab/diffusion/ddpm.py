"""DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), on any subsequence of the training timesteps.

From timestep ``t`` to the previous one ``t'`` of the inference list (``-1`` after the last, where
``alpha_bar = 1``), with ``alpha_t = alpha_bar_t / alpha_bar_t'`` and ``beta_t = 1 - alpha_t`` (the
single-step quantities of the strided chain), the step samples the posterior ``q(x_t' | x_t, x_0)`` at the
predicted ``x_0`` (Ho et al. eq. 6-7):

    mean = sqrt(alpha_bar_t') beta_t / (1 - alpha_bar_t) x_0 + sqrt(alpha_t) (1 - alpha_bar_t') / (1 - alpha_bar_t) x_t
    var  = (1 - alpha_bar_t') / (1 - alpha_bar_t) beta_t      ("fixed_small", beta tilde)   or   beta_t ("fixed_large")

and adds ``sqrt(var) z`` unless ``t = 0``. Code names: ``alpha_bar_t`` ``a_t``, ``alpha_bar_t'`` ``a_prev``.
The coefficients of every timestep of the list are computed once by ``set_timesteps`` (float32, elementwise,
so each equals the one-timestep computation bit for bit) and kept as Python numbers: a step is then a few
tensor operations on the sample, with no per-step scalar tensors or searches of the timestep list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

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


class StepCoefficients(NamedTuple):
    """The numbers of one step from ``t``: ``a_t`` (alpha_bar_t), ``sqrt_a`` and ``sqrt_one_minus_a`` (for
    the epsilon prediction's ``x_0``), the posterior mean's ``x0_coef`` and ``sample_coef``, and the noise
    ``std`` (0 at ``t = 0``)."""

    a_t: float
    sqrt_a: float
    sqrt_one_minus_a: float
    x0_coef: float
    sample_coef: float
    std: float


class DDPMSampler(DiscreteSchedule):
    """Ancestral sampling of Ho et al. 2020 with the scheduler protocol (see ``archlab.diffusion.scheduler``)."""

    def __init__(self, config: Optional[DDPMConfig] = None) -> None:
        super().__init__(config or DDPMConfig())
        self._coefficients = self._step_coefficients(self.timesteps)

    def set_timesteps(self, num_inference_steps: int, device: torch.device | str | None = None) -> None:
        c = self.config
        steps = spaced_timesteps(c.timestep_spacing, c.num_train_timesteps, num_inference_steps, c.steps_offset)
        self.timesteps = torch.from_numpy(steps).to(device)
        self.num_inference_steps = num_inference_steps
        self._coefficients = self._step_coefficients(torch.from_numpy(steps))

    def _step_coefficients(self, timesteps: torch.Tensor) -> dict[int, StepCoefficients]:
        """``StepCoefficients`` of each timestep of the decreasing list ``timesteps`` (n,), keyed by timestep."""
        t = timesteps.cpu().long()
        prev_t = torch.cat([t[1:], t.new_tensor([-1])])  # (n,) the next timestep of the list, -1 after the last
        a_t = self.alphas_cumprod[t]
        a_prev = torch.where(prev_t >= 0, self.alphas_cumprod[prev_t.clamp(min=0)], torch.ones_like(a_t))
        alpha_t = a_t / a_prev
        beta_t = 1 - alpha_t
        x0_coef = (a_prev**0.5 * beta_t) / (1 - a_t)
        sample_coef = alpha_t**0.5 * (1 - a_prev) / (1 - a_t)
        if self.config.variance_type == "fixed_small":
            variance = torch.clamp((1 - a_prev) / (1 - a_t) * beta_t, min=1e-20)
        else:
            variance = beta_t
        std = torch.where(t > 0, variance**0.5, torch.zeros_like(variance))
        rows = zip(a_t.tolist(), (a_t**0.5).tolist(), ((1 - a_t) ** 0.5).tolist(), x0_coef.tolist(),
                   sample_coef.tolist(), std.tolist())
        return {step: StepCoefficients(*row) for step, row in zip(t.tolist(), rows)}

    def step(self, model_output: torch.Tensor, timestep: torch.Tensor | int, sample: torch.Tensor,
             generator: Optional[torch.Generator] = None) -> StepOutput:
        t = int(timestep)
        k = self._coefficients.get(t)
        if k is None:
            raise ValueError(f"timestep {t} is not one of the sampler's timesteps")
        if self.config.prediction_type == "epsilon":
            x0 = (sample - k.sqrt_one_minus_a * model_output) / k.sqrt_a
        else:
            x0 = predict_x0(model_output, sample, torch.tensor(k.a_t), self.config.prediction_type)
        x0 = self.clip_x0(x0)
        mean = k.x0_coef * x0 + k.sample_coef * sample
        if t > 0:
            mean = mean + k.std * step_noise(model_output, generator)
        return StepOutput(prev_sample=mean, pred_original_sample=x0)
