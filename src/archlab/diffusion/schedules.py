"""Noise schedules of diffusion models, the forward process, and the three prediction types.

Discrete-time Gaussian diffusion (Ho et al. 2020, "Denoising Diffusion Probabilistic Models"): with betas
``beta_t`` for ``t = 0 .. T-1`` and ``alpha_bar_t = prod_{s<=t} (1 - beta_s)`` (``alphas_cumprod``), the
forward process is ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps``, ``eps ~ N(0, I)``.

- ``"linear"``: betas evenly spaced from ``beta_start`` to ``beta_end`` (Ho et al. 2020: 1e-4 to 0.02, T=1000).
- ``"scaled_linear"``: ``sqrt(beta)`` evenly spaced, then squared (Rombach et al. 2022, latent diffusion).
- ``"cosine"``: ``alpha_bar(s) = cos^2(((s + 0.008) / 1.008) pi / 2)`` at ``s = t/T``, with
  ``beta_t = min(1 - alpha_bar((t+1)/T) / alpha_bar(t/T), 0.999)`` (Nichol and Dhariwal 2021, eq. 17);
  diffusers calls it ``squaredcos_cap_v2``.

Betas are made in float32 the way diffusers makes them, so the samplers converted from diffusers see the
same numbers. The prediction types (what a denoiser outputs), with ``a = sqrt(alpha_bar_t)``,
``s = sqrt(1 - alpha_bar_t)``:

- ``"epsilon"``: the noise ``eps`` (Ho et al. 2020);
- ``"sample"``: the clean sample ``x_0``;
- ``"v"``: the velocity ``v = a eps - s x_0`` (Salimans and Ho 2022, "Progressive Distillation", Sec. 4),
  so that ``x_0 = a x_t - s v`` and ``eps = s x_t + a v``.

``convert_prediction`` turns any of them into any other given ``x_t`` and ``alpha_bar_t``. The rectified-flow
(flow-matching) path is in ``archlab.diffusion.flow_matching``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from archlab.core.validation import check_at_least, check_choices, check_positive

BetaSchedule = Literal["linear", "scaled_linear", "cosine"]
PredictionType = Literal["epsilon", "sample", "v"]
BETA_SCHEDULES = ("linear", "scaled_linear", "cosine")
PREDICTION_TYPES = ("epsilon", "sample", "v")


def cosine_alpha_bar(s: float) -> float:
    """Nichol and Dhariwal's ``alpha_bar(s)`` for ``s`` in [0, 1] (offset 0.008)."""
    return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2


def make_betas(schedule: str, num_train_timesteps: int, *, beta_start: float = 1e-4,
               beta_end: float = 0.02, max_beta: float = 0.999) -> torch.Tensor:
    """The betas (T,) float32 of a named schedule."""
    check_choices(dict(beta_schedule=schedule), dict(beta_schedule=BETA_SCHEDULES))
    check_at_least(dict(num_train_timesteps=num_train_timesteps), 1)
    if schedule == "linear":
        return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float32)
    if schedule == "scaled_linear":
        return torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float32) ** 2
    T = num_train_timesteps
    return torch.tensor([min(1 - cosine_alpha_bar((i + 1) / T) / cosine_alpha_bar(i / T), max_beta)
                         for i in range(T)], dtype=torch.float32)


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """``alpha_bar_t = prod_{s<=t} (1 - beta_s)``, same shape as ``betas``."""
    return torch.cumprod(1.0 - betas, dim=0)


def _expand(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-example coefficients (B,) or a scalar, shaped to broadcast against ``like`` (B, ...)."""
    values = torch.as_tensor(values, device=like.device, dtype=like.dtype)
    if values.ndim == 0:
        return values
    return values.reshape(values.shape[0], *([1] * (like.ndim - 1)))  # (B, 1, ..., 1)


def add_noise(x0: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """The forward process ``x_t = sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) eps`` for ``alpha_bar`` (B,) or ()."""
    alpha_bar = _expand(alpha_bar, x0)
    return alpha_bar**0.5 * x0 + (1 - alpha_bar) ** 0.5 * noise


def velocity(x0: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """The v target ``sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0``."""
    alpha_bar = _expand(alpha_bar, x0)
    return alpha_bar**0.5 * noise - (1 - alpha_bar) ** 0.5 * x0


def predict_x0(output: torch.Tensor, x_t: torch.Tensor, alpha_bar: torch.Tensor, prediction_type: str) -> torch.Tensor:
    """``x_0`` implied by a denoiser ``output`` of the given type at ``x_t``."""
    check_choices(dict(prediction_type=prediction_type), dict(prediction_type=PREDICTION_TYPES))
    a_bar = _expand(alpha_bar, x_t)
    if prediction_type == "epsilon":
        return (x_t - (1 - a_bar) ** 0.5 * output) / a_bar**0.5
    if prediction_type == "v":
        return a_bar**0.5 * x_t - (1 - a_bar) ** 0.5 * output
    return output


def predict_epsilon(output: torch.Tensor, x_t: torch.Tensor, alpha_bar: torch.Tensor,
                    prediction_type: str) -> torch.Tensor:
    """``eps`` implied by a denoiser ``output`` of the given type at ``x_t``."""
    check_choices(dict(prediction_type=prediction_type), dict(prediction_type=PREDICTION_TYPES))
    a_bar = _expand(alpha_bar, x_t)
    if prediction_type == "epsilon":
        return output
    if prediction_type == "v":
        return a_bar**0.5 * output + (1 - a_bar) ** 0.5 * x_t
    return (x_t - a_bar**0.5 * output) / (1 - a_bar) ** 0.5


def convert_prediction(output: torch.Tensor, x_t: torch.Tensor, alpha_bar: torch.Tensor, *, source: str,
                       target: str) -> torch.Tensor:
    """A denoiser ``output`` of type ``source`` rewritten as type ``target`` at ``x_t`` and ``alpha_bar``."""
    check_choices(dict(target=target), dict(target=PREDICTION_TYPES))
    if source == target:
        return output
    x0 = predict_x0(output, x_t, alpha_bar, source)
    eps = predict_epsilon(output, x_t, alpha_bar, source)
    if target == "sample":
        return x0
    if target == "epsilon":
        return eps
    a_bar = _expand(alpha_bar, x_t)
    return a_bar**0.5 * eps - (1 - a_bar) ** 0.5 * x0


def sigmas_from_alphas_cumprod(alpha_bar: torch.Tensor) -> torch.Tensor:
    """The variance-exploding noise levels ``sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t)``: ``x_t / a``
    is ``x_0 + sigma_t eps`` (Karras et al. 2022, Sec. 2), the parametrisation of the Euler, Heun and
    DPM-Solver samplers."""
    check_positive(dict(min_alpha_bar=float(alpha_bar.min())))
    return ((1 - alpha_bar) / alpha_bar) ** 0.5
