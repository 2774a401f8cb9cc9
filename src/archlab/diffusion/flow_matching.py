"""Flow matching on the rectified-flow path and its Euler sampler (Lipman et al. 2023, "Flow Matching for
Generative Modeling"; Liu et al. 2023, "Flow Straight and Fast"; Esser et al. 2024, SD3, Sec. 2-3).

The path from data to noise is linear, ``x_sigma = (1 - sigma) x_0 + sigma eps`` for ``sigma`` in [0, 1], and
the denoiser predicts the velocity ``v = eps - x_0`` (``flow_target``); then ``x_0 = x_sigma - sigma v``.
Training draws ``sigma`` uniformly or from the logit-normal of SD3 (``sigma = sigmoid(N(m, s^2))``,
``sample_flow_sigmas``). The denoiser sees the timestep ``t = sigma T`` (``T = num_train_timesteps``), so one
time embedding serves both this path and the discrete schedules.

Sampling integrates ``dx / dsigma = v`` from ``sigma = 1`` to 0 with Euler steps,
``x <- x + (sigma_{i+1} - sigma_i) v`` (``mode="ode"``), or re-noises the predicted ``x_0`` to the next level,
``x <- (1 - sigma_{i+1}) x_0 + sigma_{i+1} z`` (``mode="stochastic"``). The levels are ``n`` evenly spaced
times between the extremes of the shifted training levels, shifted by ``shift``:
``sigma <- shift sigma / (1 + (shift - 1) sigma)`` (SD3 eq. 23; applied as in diffusers, to levels that
already carry the shift at their extremes), optionally stretched so the last level is ``shift_terminal``, or
placed by Karras et al. eq. 5 between the same extremes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from archlab.core.validation import check_at_least, check_choices, check_positive
from archlab.diffusion.scheduler import SigmaStepIndex, StepOutput, karras_sigmas, step_noise


def flow_interpolate(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``(1 - sigma) x_0 + sigma eps`` for ``sigma`` (B,) or a scalar."""
    sigma = torch.as_tensor(sigma, device=x0.device, dtype=x0.dtype)
    if sigma.ndim:
        sigma = sigma.reshape(-1, *([1] * (x0.ndim - 1)))  # (B, 1, ...)
    return (1 - sigma) * x0 + sigma * noise


def flow_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The velocity ``eps - x_0`` the denoiser learns on the linear path."""
    return noise - x0


def sample_flow_sigmas(n: int, generator: torch.Generator, *, weighting: str = "uniform", mean: float = 0.0,
                       std: float = 1.0) -> torch.Tensor:
    """``n`` training levels (n,) in (0, 1): ``"uniform"`` or ``"logit_normal"`` (``sigmoid(N(mean, std^2))``)."""
    check_choices(dict(weighting=weighting), dict(weighting=("uniform", "logit_normal")))
    if weighting == "uniform":
        return torch.rand(n, generator=generator)
    return torch.sigmoid(mean + std * torch.randn(n, generator=generator))


@dataclass
class FlowMatchConfig:
    """``num_train_timesteps`` (the timestep of level sigma is ``sigma T``), ``shift`` (> 0; 1 none),
    ``shift_terminal`` (None or the last level in (0, 1)), ``sigma_schedule`` (``"linear"`` | ``"karras"``)
    and ``mode`` (``"ode"`` | ``"stochastic"``)."""

    num_train_timesteps: int = 1000
    shift: float = 1.0
    shift_terminal: Optional[float] = None
    sigma_schedule: str = "linear"
    mode: str = "ode"

    def __post_init__(self) -> None:
        check_at_least(self, 1, "num_train_timesteps")
        check_positive(self, "shift")
        check_choices(self, dict(sigma_schedule=("linear", "karras"), mode=("ode", "stochastic")))
        if self.shift_terminal is not None and not 0 < self.shift_terminal < 1:
            raise ValueError(f"shift_terminal={self.shift_terminal} must be in (0, 1)")


class FlowMatchEulerSampler(SigmaStepIndex):
    """Euler steps along the rectified-flow path with the scheduler protocol (``archlab.diffusion.scheduler``);
    the denoiser's output is the velocity."""

    init_noise_sigma = 1.0

    def __init__(self, config: Optional[FlowMatchConfig] = None) -> None:
        self.config = config or FlowMatchConfig()
        T = self.config.num_train_timesteps
        levels = torch.from_numpy(np.linspace(1, T, T, dtype=np.float32)[::-1].copy()) / T  # (T,) 1 .. 1/T
        levels = self._shift(levels)
        self.sigma_min, self.sigma_max = levels[-1].item(), levels[0].item()
        self.sigmas = torch.cat([levels, torch.zeros(1)])
        self.timesteps = levels * T
        self.num_inference_steps: Optional[int] = None
        self._step_index = None

    def _shift(self, sigmas):
        shift = self.config.shift
        return shift * sigmas / (1 + (shift - 1) * sigmas)

    def set_timesteps(self, num_inference_steps: int, device: torch.device | str | None = None) -> None:
        check_at_least(dict(num_inference_steps=num_inference_steps), 1)
        c, T = self.config, self.config.num_train_timesteps
        sigmas = self._shift(np.linspace(self.sigma_max * T, self.sigma_min * T, num_inference_steps) / T)
        if c.shift_terminal is not None:
            one_minus = 1 - sigmas
            sigmas = 1 - one_minus / (one_minus[-1] / (1 - c.shift_terminal))
        if c.sigma_schedule == "karras":
            sigmas = karras_sigmas(sigmas[-1].item(), sigmas[0].item(), num_inference_steps)
        sigmas = torch.from_numpy(sigmas).to(dtype=torch.float32)
        self.timesteps = (sigmas * T).to(device)
        self.sigmas = torch.cat([sigmas, torch.zeros(1)])
        self.num_inference_steps = num_inference_steps
        self._step_index = None

    def scale_model_input(self, sample: torch.Tensor, timestep: torch.Tensor | float) -> torch.Tensor:
        """The sample itself: the path needs no input scaling."""
        return sample

    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """``(1 - sigma) x_0 + sigma eps`` at ``sigma = timesteps / T``."""
        return flow_interpolate(original_samples, noise, timesteps.float() / self.config.num_train_timesteps)

    def step(self, model_output: torch.Tensor, timestep: torch.Tensor | float, sample: torch.Tensor,
             generator: Optional[torch.Generator] = None) -> StepOutput:
        i = self._index(timestep)
        sample = sample.float()
        sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]
        x0 = sample - sigma * model_output
        if self.config.mode == "stochastic":
            prev = (1.0 - sigma_next) * x0 + sigma_next * step_noise(sample, generator)
        else:
            prev = sample + (sigma_next - sigma) * model_output
        self._step_index = i + 1
        return StepOutput(prev_sample=prev.to(model_output.dtype), pred_original_sample=x0)
