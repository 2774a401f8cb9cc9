"""DPM-Solver++ (2M): the multistep second-order solver of the diffusion ODE in data prediction
(Lu, Zhou, Bao, Chen, Li and Zhu 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
Models", Algorithm 2).

With ``alpha_t = 1 / sqrt(sigma^2 + 1)``, ``s_t = sigma alpha_t`` (the variance-preserving coefficients of the
noise level ``sigma``), the half log-SNR ``lambda_t = log alpha_t - log s_t`` and ``h = lambda_t - lambda_s``
from the current level ``s`` to the next ``t``, the first-order (DDIM) update is

    x_t = (s_t / s_s) x_s - alpha_t (e^{-h} - 1) D_0,

and the 2M update reuses the previous data prediction: with ``r = h_prev / h``, ``D_1 = (D_0 - D_prev) / r``,

    midpoint:  x_t = (s_t / s_s) x_s - alpha_t (e^{-h} - 1) (D_0 + D_1 / 2)
    heun:      x_t = (s_t / s_s) x_s - alpha_t (e^{-h} - 1) D_0 + alpha_t ((e^{-h} - 1) / h + 1) D_1.

``D_0`` is the data prediction ``x_0`` at the current level (thresholded if configured). The first step, and
with ``lower_order_final`` the last steps of a run under 15 steps (or the last whenever the final level is
zero), fall back to first order. Timesteps: ``n`` of ``n + 1`` evenly placed (``"linspace"``, ``"leading"``)
or ``"trailing"``; the noise levels interpolate the training levels or follow Karras et al. (the timesteps
then rounded, except on the cosine schedule, as in diffusers). ``set_timesteps`` computes ``alpha``, ``s`` and
``lambda`` of every level once (float32, one level at a time, so each equals the per-step computation bit
for bit); a step only combines them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from archlab.core.validation import check_choices
from archlab.diffusion.euler import SIGMA_SCHEDULES
from archlab.diffusion.scheduler import (
    DiscreteSchedule,
    ScheduleConfig,
    SigmaStepIndex,
    StepOutput,
    karras_sigmas,
    sigma_to_timestep,
    with_final_sigma,
)


@dataclass
class DPMSolverConfig(ScheduleConfig):
    """``ScheduleConfig`` (spacing ``"linspace"``) with ``solver_order`` (1 | 2), ``solver_type``
    (``"midpoint"`` | ``"heun"``), ``lower_order_final``, ``euler_at_final``, ``sigma_schedule``
    (``"interpolated"`` | ``"karras"``) and ``final_sigma`` (``"zero"`` | ``"sigma_min"``)."""

    timestep_spacing: str = "linspace"
    solver_order: int = 2
    solver_type: str = "midpoint"
    lower_order_final: bool = True
    euler_at_final: bool = False
    sigma_schedule: str = "interpolated"
    final_sigma: str = "zero"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.solver_order not in (1, 2):
            raise ValueError(f"solver_order={self.solver_order} must be 1 or 2")
        check_choices(self, dict(solver_type=("midpoint", "heun"), sigma_schedule=SIGMA_SCHEDULES,
                                 final_sigma=("zero", "sigma_min")))


def dpm_timesteps(spacing: str, num_train_timesteps: int, n: int, steps_offset: int = 0) -> np.ndarray:
    """DPM-Solver's ``n`` integer timesteps: the first ``n`` of ``n + 1`` evenly spaced points (``"linspace"``,
    ``"leading"``) counted down from T-1, or ``"trailing"``."""
    T = num_train_timesteps
    if not 1 <= n <= T:
        raise ValueError(f"num_inference_steps={n} must be in 1 .. num_train_timesteps={T}")
    if spacing == "linspace":
        return np.linspace(0, T - 1, n + 1).round()[::-1][:-1].copy().astype(np.int64)
    if spacing == "leading":
        return (np.arange(0, n + 1) * (T // (n + 1))).round()[::-1][:-1].copy().astype(np.int64) + steps_offset
    return np.arange(T, 0, -T / n).round().copy().astype(np.int64) - 1


class DPMSolverSampler(DiscreteSchedule, SigmaStepIndex):
    """DPM-Solver++ (1S / 2M) with the scheduler protocol (see ``archlab.diffusion.scheduler``)."""

    def __init__(self, config: Optional[DPMSolverConfig] = None) -> None:
        super().__init__(config or DPMSolverConfig())
        self.training_sigmas = ((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5  # (T,)
        self.sigmas = self.training_sigmas
        self._previous: Optional[torch.Tensor] = None
        self._lower_order_nums = 0
        self._levels: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def set_timesteps(self, num_inference_steps: int, device: torch.device | str | None = None) -> None:
        c = self.config
        timesteps = dpm_timesteps(c.timestep_spacing, c.num_train_timesteps, num_inference_steps, c.steps_offset)
        training = self.training_sigmas.numpy()
        if c.sigma_schedule == "karras":
            descending = np.flip(training).copy()
            sigmas = karras_sigmas(descending[-1].item(), descending[0].item(), num_inference_steps)
            timesteps = sigma_to_timestep(sigmas, np.log(training))
            if c.beta_schedule != "cosine":
                timesteps = timesteps.round()
        else:
            sigmas = np.interp(timesteps, np.arange(len(training)), training)
        self.sigmas = with_final_sigma(sigmas, self.alphas_cumprod, c.final_sigma)
        self._levels = [self._level(sigma) for sigma in self.sigmas]
        self.timesteps = torch.from_numpy(timesteps).to(device=device, dtype=torch.int64)
        self.num_inference_steps = len(timesteps)
        self._previous, self._lower_order_nums, self._step_index = None, 0, None

    @staticmethod
    def _alpha_sigma(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        alpha = 1 / ((sigma**2 + 1) ** 0.5)
        return alpha, sigma * alpha

    @classmethod
    def _level(cls, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(alpha, s, lambda = log alpha - log s)`` of the noise level ``sigma`` (0-dim tensors)."""
        alpha, s = cls._alpha_sigma(sigma)
        return alpha, s, torch.log(alpha) - torch.log(s)

    def _data_prediction(self, model_output: torch.Tensor, sample: torch.Tensor, alpha: torch.Tensor,
                         s: torch.Tensor) -> torch.Tensor:
        kind = self.config.prediction_type
        if kind == "epsilon":
            x0 = (sample - s * model_output) / alpha
        elif kind == "v":
            x0 = alpha * sample - s * model_output
        else:
            x0 = model_output
        return self.clip_x0(x0)

    def step(self, model_output: torch.Tensor, timestep: torch.Tensor | int, sample: torch.Tensor,
             generator: Optional[torch.Generator] = None) -> StepOutput:
        if self.num_inference_steps is None:
            raise ValueError("num_inference_steps is not set: call set_timesteps(n) before step")
        c = self.config
        i = self._index(timestep)
        n = len(self.timesteps)
        short = c.lower_order_final and n < 15
        first_order_final = i == n - 1 and (c.euler_at_final or short or c.final_sigma == "zero")
        alpha_s, sigma_s, lambda_s = self._levels[i]
        alpha_t, sigma_t, lambda_t = self._levels[i + 1]
        x0 = self._data_prediction(model_output, sample, alpha_s, sigma_s)
        sample = sample.float()
        h = lambda_t - lambda_s
        decay = torch.exp(-h) - 1.0
        first = (sigma_t / sigma_s) * sample - (alpha_t * decay) * x0
        if c.solver_order == 1 or self._lower_order_nums < 1 or first_order_final:
            prev = first
        else:
            h_prev = lambda_s - self._levels[i - 1][2]
            d1 = (1.0 / (h_prev / h)) * (x0 - self._previous)
            if c.solver_type == "midpoint":
                prev = first - 0.5 * (alpha_t * decay) * d1
            else:
                prev = first + (alpha_t * (decay / h + 1.0)) * d1
        self._previous = x0
        self._lower_order_nums = min(self._lower_order_nums + 1, c.solver_order)
        self._step_index = i + 1
        return StepOutput(prev_sample=prev.to(model_output.dtype), pred_original_sample=x0)
