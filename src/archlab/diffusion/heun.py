"""Heun's second-order sampler of the probability-flow ODE (Karras et al. 2022, Algorithm 1 without churn).

Each interval ``sigma_i -> sigma_{i+1}`` takes an Euler step to ``x'`` and, unless ``sigma_{i+1} = 0``,
a correction with the slope at the end:

    d = (x - D(x; sigma_i)) / sigma_i,   x' = x + (sigma_{i+1} - sigma_i) d,
    d' = (x' - D(x'; sigma_{i+1})) / sigma_{i+1},   x <- x + (sigma_{i+1} - sigma_i) (d + d') / 2.

So n intervals cost ``2 n - 1`` denoiser calls. In the protocol each call is one ``step``: the timesteps
list is ``[t_0, t_1, t_1, ..., t_{n-1}, t_{n-1}]`` and ``sigmas`` likewise, as in diffusers; the first call
of a pair is the Euler step (its ``prev_sample`` is ``x'``), the second the correction. Noise levels and the
denoiser's input scaling are those of ``archlab.diffusion.euler``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from archlab.diffusion.euler import EulerConfig, SigmaSchedule
from archlab.diffusion.scheduler import StepOutput


@dataclass
class HeunConfig(EulerConfig):
    """``EulerConfig``; the last noise level is always zero (``final_sigma="zero"``)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.final_sigma != "zero":
            raise ValueError(f"final_sigma={self.final_sigma!r}: Heun's method ends at sigma 'zero' only")


class HeunSampler(SigmaSchedule):
    """Heun's method in ``sigma`` with the scheduler protocol (see ``archlab.diffusion.scheduler``)."""

    order = 2

    def __init__(self, config: Optional[HeunConfig] = None) -> None:
        super().__init__(config or HeunConfig())
        self._first: Optional[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = None

    def set_timesteps(self, num_inference_steps: int, device: torch.device | str | None = None) -> None:
        timesteps, sigmas = self._levels(num_inference_steps)
        sigmas = torch.from_numpy(np.concatenate([sigmas, [0.0]]).astype(np.float32))
        self.sigmas = torch.cat([sigmas[:1], sigmas[1:-1].repeat_interleave(2), sigmas[-1:]])  # (2n,)
        timesteps = torch.from_numpy(timesteps)
        self.timesteps = torch.cat([timesteps[:1], timesteps[1:].repeat_interleave(2)]).to(device, torch.float32)
        self.num_inference_steps = num_inference_steps
        self._step_index = None
        self._first = None

    def step(self, model_output: torch.Tensor, timestep: torch.Tensor | float, sample: torch.Tensor,
             generator: Optional[torch.Generator] = None) -> StepOutput:
        i = self._index(timestep)
        if self._first is None:
            sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]
            x0 = self.clip_x0(self.denoised(model_output, sample, sigma))
            derivative = (sample - x0) / sigma
            dt = sigma_next - sigma
            self._first = (derivative, dt, sample)
            prev = sample + derivative * dt
        else:
            sigma_next = self.sigmas[i]
            x0 = self.clip_x0(self.denoised(model_output, sample, sigma_next))
            first_derivative, dt, start = self._first
            derivative = (first_derivative + (sample - x0) / sigma_next) / 2
            self._first = None
            prev = start + derivative * dt
        self._step_index = i + 1
        return StepOutput(prev_sample=prev, pred_original_sample=x0)
