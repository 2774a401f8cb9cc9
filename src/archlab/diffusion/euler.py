"""The Euler sampler of the probability-flow ODE in noise-level form (Karras et al. 2022, "Elucidating the
Design Space of Diffusion-Based Generative Models", Algorithm 1 without churn), and the noise-level list it
shares with Heun's method.

Samples live in the variance-exploding parametrisation ``x = x_0 + sigma eps`` with
``sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t)``; the denoiser, trained on variance-preserving inputs,
sees ``x / sqrt(sigma^2 + 1)`` (``scale_model_input``) and the sample starts at ``init_noise_sigma``. With
``D(x)`` the predicted ``x_0``, one step from ``sigma_i`` to ``sigma_{i+1}`` is

    d = (x - D(x)) / sigma_i,      x <- x + (sigma_{i+1} - sigma_i) d.

Noise levels (``sigma_schedule``): ``"interpolated"`` reads ``sigma`` at the spaced timesteps by linear
interpolation of the training levels; ``"karras"`` places ``n`` levels by Karras et al. eq. 5 (rho = 7)
between the interpolated extremes (or ``sigma_min`` / ``sigma_max``) and maps each back to a fractional
timestep by interpolating ``log sigma``. The list ends with ``final_sigma``: ``"zero"`` or ``"sigma_min"``
(the smallest training level). For a v-prediction, ``D(x) = -sigma / sqrt(sigma^2 + 1) v + x / (sigma^2 + 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from archlab.core.validation import check_choices, check_positive
from archlab.diffusion.scheduler import (
    DiscreteSchedule,
    ScheduleConfig,
    SigmaStepIndex,
    StepOutput,
    karras_sigmas,
    sigma_to_timestep,
    spaced_timesteps,
    with_final_sigma,
)

SIGMA_SCHEDULES = ("interpolated", "karras")


@dataclass
class EulerConfig(ScheduleConfig):
    """``ScheduleConfig`` (spacing ``"linspace"`` by default) with the noise levels: ``sigma_schedule``
    (``"interpolated"`` | ``"karras"``), optional ``sigma_min`` / ``sigma_max`` for the Karras levels, and
    ``final_sigma`` (``"zero"`` | ``"sigma_min"``)."""

    timestep_spacing: str = "linspace"
    sigma_schedule: str = "interpolated"
    sigma_min: Optional[float] = None
    sigma_max: Optional[float] = None
    final_sigma: str = "zero"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choices(self, dict(sigma_schedule=SIGMA_SCHEDULES, final_sigma=("zero", "sigma_min")))
        for name in ("sigma_min", "sigma_max"):
            if getattr(self, name) is not None:
                check_positive(self, name)


class SigmaSchedule(DiscreteSchedule, SigmaStepIndex):
    """The noise-level list ``sigmas`` (n + 1,) beside fractional ``timesteps`` (n,) for the samplers that
    integrate in ``sigma`` (Euler, Heun)."""

    def __init__(self, config: EulerConfig) -> None:
        super().__init__(config)
        self.training_sigmas = ((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5  # (T,) increasing
        self.sigmas = torch.cat([self.training_sigmas.flip(0), torch.zeros(1)])
        self.timesteps = self.timesteps.float()

    @property
    def init_noise_sigma(self) -> torch.Tensor:
        top = self.sigmas.max()
        return top if self.config.timestep_spacing in ("linspace", "trailing") else (top**2 + 1) ** 0.5

    def _levels(self, num_inference_steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Timesteps (n,) and noise levels (n,) before the final level, both float64."""
        c = self.config
        timesteps = spaced_timesteps(c.timestep_spacing, c.num_train_timesteps, num_inference_steps,
                                     c.steps_offset, integer=False)
        training = self.training_sigmas.numpy()
        sigmas = np.interp(timesteps, np.arange(len(training)), training)
        if c.sigma_schedule == "karras":
            low = c.sigma_min if getattr(c, "sigma_min", None) is not None else sigmas[-1].item()
            high = c.sigma_max if getattr(c, "sigma_max", None) is not None else sigmas[0].item()
            sigmas = karras_sigmas(low, high, num_inference_steps)
            timesteps = sigma_to_timestep(sigmas, np.log(training))
        return timesteps, sigmas

    def scale_model_input(self, sample: torch.Tensor, timestep: torch.Tensor | float) -> torch.Tensor:
        """``x / sqrt(sigma^2 + 1)``: the variance-preserving input the denoiser was trained on."""
        sigma = self.sigmas[self._index(timestep)]
        return sample / ((sigma**2 + 1) ** 0.5)

    def denoised(self, model_output: torch.Tensor, sample: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """``D(x)``, the ``x_0`` implied by the output at noise level ``sigma`` (before clipping)."""
        kind = self.config.prediction_type
        if kind == "epsilon":
            return sample - sigma * model_output
        if kind == "v":
            return model_output * (-sigma / (sigma**2 + 1) ** 0.5) + sample / (sigma**2 + 1)
        return model_output

    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """``x_0 + sigma_t eps`` at ``timesteps`` (B,) taken from the sampler's current list."""
        index = [int((self.timesteps == t).nonzero()[0]) for t in timesteps.to(self.timesteps.device)]
        sigma = self.sigmas.to(original_samples.device, original_samples.dtype)[index]
        return original_samples + noise * sigma.reshape(-1, *([1] * (original_samples.ndim - 1)))


class EulerSampler(SigmaSchedule):
    """Euler steps in ``sigma`` with the scheduler protocol (see ``archlab.diffusion.scheduler``)."""

    def __init__(self, config: Optional[EulerConfig] = None) -> None:
        super().__init__(config or EulerConfig())

    def set_timesteps(self, num_inference_steps: int, device: torch.device | str | None = None) -> None:
        timesteps, sigmas = self._levels(num_inference_steps)
        self.sigmas = with_final_sigma(sigmas, self.alphas_cumprod, self.config.final_sigma)
        self.timesteps = torch.from_numpy(timesteps.astype(np.float32)).to(device)
        self.num_inference_steps = num_inference_steps
        self._step_index = None

    def step(self, model_output: torch.Tensor, timestep: torch.Tensor | float, sample: torch.Tensor,
             generator: Optional[torch.Generator] = None) -> StepOutput:
        i = self._index(timestep)
        sample = sample.float()
        sigma = self.sigmas[i]
        x0 = self.clip_x0(self.denoised(model_output, sample, sigma))
        derivative = (sample - x0) / sigma
        prev = (sample + derivative * (self.sigmas[i + 1] - sigma)).to(model_output.dtype)
        self._step_index = i + 1
        return StepOutput(prev_sample=prev, pred_original_sample=x0)
