"""The scheduler protocol shared by the samplers, and the pieces they have in common.

A sampler (``DDPMSampler``, ``DDIMSampler``, ``EulerSampler``, ``HeunSampler``, ``DPMSolverSampler``,
``FlowMatchEulerSampler``) is used the way diffusers' schedulers are::

    sampler.set_timesteps(n)
    x = noise * sampler.init_noise_sigma
    for t in sampler.timesteps:
        out = denoiser(sampler.scale_model_input(x, t), t)
        x = sampler.step(out, t, x, generator=g).prev_sample

``step`` returns ``StepOutput(prev_sample, pred_original_sample)``; ``add_noise(x_0, noise, timesteps)`` is the
forward process in the sampler's own parametrisation. Samplers that walk a list of noise levels (Euler, Heun,
DPM-Solver, flow matching) keep a step index, set from the first timestep they see after ``set_timesteps``
and advanced by each ``step``, as diffusers does.

Shared here: ``ScheduleConfig`` (the fields of every discrete-time sampler, after diffusers' names where
they exist; archlab writes ``prediction_type="v"`` for diffusers' ``"v_prediction"`` and leaves clipping off
by default), the timestep spacings (``"linspace"``, ``"leading"``, ``"trailing"``: Lin et al. 2024, "Common
Diffusion Noise Schedules and Sample Steps are Flawed", Table 2), dynamic thresholding (Saharia et al. 2022,
Imagen, Sec. 2.3), the Karras et al. 2022 noise levels (eq. 5, rho = 7) and the noise draw of a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from archlab.core.validation import check_at_least, check_choices, check_positive
from archlab.diffusion.schedules import BETA_SCHEDULES, PREDICTION_TYPES, alphas_cumprod, make_betas

TIMESTEP_SPACINGS = ("linspace", "leading", "trailing")


@dataclass
class StepOutput:
    """One sampler step: ``prev_sample`` (the next, less noisy sample) and ``pred_original_sample`` (the
    ``x_0`` the step used; for flow matching the ``x_0`` implied by the velocity)."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


@dataclass
class ScheduleConfig:
    """The discrete-time training schedule and how inference timesteps are placed on it.

    ``x0_clip``: clamp the predicted ``x_0`` to ``[-x0_clip, x0_clip]`` (None: no clamp);
    ``threshold_ratio``: dynamic thresholding at this quantile of ``|x_0|`` per example, the bound clamped
    to ``[1, threshold_max]`` (None: off; it takes precedence over ``x0_clip`` as in diffusers)."""

    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    beta_schedule: str = "linear"
    prediction_type: str = "epsilon"
    timestep_spacing: str = "leading"
    steps_offset: int = 0
    x0_clip: Optional[float] = None
    threshold_ratio: Optional[float] = None
    threshold_max: float = 1.0

    def __post_init__(self) -> None:
        check_at_least(self, 1, "num_train_timesteps")
        check_at_least(self, 0, "steps_offset")
        check_positive(self, "beta_start", "beta_end", "threshold_max")
        check_choices(self, dict(beta_schedule=BETA_SCHEDULES, prediction_type=PREDICTION_TYPES,
                                 timestep_spacing=TIMESTEP_SPACINGS))
        if self.x0_clip is not None:
            check_positive(self, "x0_clip")
        if self.threshold_ratio is not None and not 0 < self.threshold_ratio <= 1:
            raise ValueError(f"threshold_ratio={self.threshold_ratio} must be in (0, 1]")


def spaced_timesteps(spacing: str, num_train_timesteps: int, n: int, steps_offset: int = 0, *,
                     integer: bool = True) -> np.ndarray:
    """``n`` decreasing timesteps on ``0 .. T-1``: ``"linspace"`` evenly from T-1 to 0 (rounded when
    ``integer``), ``"leading"`` ``k * (T // n) + steps_offset``, ``"trailing"`` ``round(T - k T / n) - 1``."""
    check_at_least(dict(num_inference_steps=n), 1)
    if n > num_train_timesteps:
        raise ValueError(f"num_inference_steps={n} must be <= num_train_timesteps={num_train_timesteps}")
    T = num_train_timesteps
    if spacing == "linspace":
        if integer:
            return np.linspace(0, T - 1, n).round()[::-1].copy().astype(np.int64)
        return np.linspace(0, T - 1, n, dtype=np.float32)[::-1].copy()
    if spacing == "leading":
        timesteps = (np.arange(0, n) * (T // n)).round()[::-1].copy().astype(np.int64) + steps_offset
    elif spacing == "trailing":
        timesteps = np.round(np.arange(T, 0, -T / n)).astype(np.int64) - 1
    else:
        raise ValueError(f"timestep_spacing={spacing!r} is not one of {', '.join(TIMESTEP_SPACINGS)}")
    return timesteps if integer else timesteps.astype(np.float32)


def karras_sigmas(sigma_min: float, sigma_max: float, n: int, rho: float = 7.0) -> np.ndarray:
    """Karras et al. 2022 eq. 5: ``(sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho``."""
    ramp = np.linspace(0, 1, n)
    min_inv, max_inv = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (max_inv + ramp * (min_inv - max_inv)) ** rho


def sigma_to_timestep(sigma: np.ndarray, log_sigmas: np.ndarray) -> np.ndarray:
    """The fractional training timestep of noise level ``sigma``: linear interpolation of ``log sigma``
    between the two neighbouring training levels ``log_sigmas`` (T,) (increasing in t)."""
    log_sigma = np.log(np.maximum(sigma, 1e-10))
    dists = log_sigma - log_sigmas[:, np.newaxis]  # (T, ...)
    low = np.cumsum(dists >= 0, axis=0).argmax(axis=0).clip(max=log_sigmas.shape[0] - 2)
    w = np.clip((log_sigmas[low] - log_sigma) / (log_sigmas[low] - log_sigmas[low + 1]), 0, 1)
    return ((1 - w) * low + w * (low + 1)).reshape(np.shape(sigma))


def with_final_sigma(sigmas: np.ndarray, a_bar: torch.Tensor, final_sigma: str) -> torch.Tensor:
    """``sigmas`` (n,) with the last noise level appended, (n + 1,) float32: zero, or for ``"sigma_min"`` the
    smallest training level ``sqrt((1 - alpha_bar_0) / alpha_bar_0)`` of the training ``a_bar`` (T,)."""
    a0 = a_bar[0]
    last = ((1 - a0) / a0) ** 0.5 if final_sigma == "sigma_min" else 0
    return torch.from_numpy(np.concatenate([sigmas, [last]]).astype(np.float32))


def threshold(x0: torch.Tensor, ratio: float, max_value: float) -> torch.Tensor:
    """Dynamic thresholding: per example, ``s`` = the ``ratio`` quantile of ``|x_0|`` clamped to
    ``[1, max_value]``; ``x_0`` clamped to ``[-s, s]`` and divided by ``s``."""
    flat = x0.float().reshape(x0.shape[0], -1)  # (B, rest)
    s = torch.quantile(flat.abs(), ratio, dim=1).clamp(min=1, max=max_value)[:, None]  # (B, 1)
    return (torch.clamp(flat, -s, s) / s).reshape(x0.shape).to(x0.dtype)


def step_noise(like: torch.Tensor, generator: Optional[torch.Generator], dtype: torch.dtype | None = None) -> torch.Tensor:
    """Standard normal noise shaped as ``like``, drawn on the generator's device and moved to ``like``'s
    (the draw diffusers' ``randn_tensor`` makes, so one seed gives one noise in both)."""
    device = generator.device if generator is not None else like.device
    noise = torch.randn(like.shape, generator=generator, device=device, dtype=dtype or like.dtype)
    return noise.to(like.device)


class DiscreteSchedule:
    """The state every discrete-time sampler holds: ``betas``, ``alphas_cumprod`` (T,), the current
    ``timesteps`` (all T in decreasing order until ``set_timesteps``) and ``num_inference_steps``."""

    init_noise_sigma: float = 1.0

    def __init__(self, config: ScheduleConfig) -> None:
        self.config = config
        self.betas = make_betas(config.beta_schedule, config.num_train_timesteps, beta_start=config.beta_start,
                                beta_end=config.beta_end)
        self.alphas_cumprod = alphas_cumprod(self.betas)
        self.timesteps = torch.arange(config.num_train_timesteps - 1, -1, -1)
        self.num_inference_steps: Optional[int] = None

    def scale_model_input(self, sample: torch.Tensor, timestep: torch.Tensor | float) -> torch.Tensor:
        """The denoiser's input at ``timestep``: the sample itself (variance-preserving samplers)."""
        return sample

    def clip_x0(self, x0: torch.Tensor) -> torch.Tensor:
        """``x_0`` after dynamic thresholding or clamping, as configured."""
        if self.config.threshold_ratio is not None:
            return threshold(x0, self.config.threshold_ratio, self.config.threshold_max)
        if self.config.x0_clip is not None:
            return x0.clamp(-self.config.x0_clip, self.config.x0_clip)
        return x0

    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """``sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps`` at integer ``timesteps`` (B,)."""
        a_bar = self.alphas_cumprod.to(original_samples.device, original_samples.dtype)[timesteps.long()]
        a_bar = a_bar.reshape(-1, *([1] * (original_samples.ndim - 1)))  # (B, 1, ...)
        return a_bar**0.5 * original_samples + (1 - a_bar) ** 0.5 * noise


class SigmaStepIndex:
    """The step index of the samplers that walk a list ``sigmas`` beside ``timesteps``: unset after
    ``set_timesteps``, found from the first timestep seen (its second occurrence when it repeats, as in
    diffusers), then advanced by one per ``step``."""

    timesteps: torch.Tensor
    _step_index: Optional[int] = None

    def _index(self, timestep: torch.Tensor | float) -> int:
        if self._step_index is None:
            t = timestep.to(self.timesteps.device) if isinstance(timestep, torch.Tensor) else timestep
            found = (self.timesteps == t).nonzero()
            if len(found) == 0:
                raise ValueError(f"timestep {float(timestep)} is not one of the sampler's timesteps")
            self._step_index = int(found[1 if len(found) > 1 else 0])
        return self._step_index
