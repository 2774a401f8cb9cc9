"""diffusers schedulers as archlab samplers configured the same way (``archlab.interop.from_diffusers``), and
diffusers' models as archlab modules (each converter in its own module: ``dit_interop``, ``unet_interop``,
``autoencoder_interop``).

After ``set_timesteps(n)`` the converted sampler has the reference's timesteps, and the usual loop driven by
the same denoiser and noise (the same generator seed for the stochastic ones) gives the same ``prev_sample``
at every step. The settings that carry over, per class (diffusers name -> archlab field)::

    beta_schedule linear | scaled_linear | squaredcos_cap_v2  -> beta_schedule linear | scaled_linear | cosine
    num_train_timesteps, beta_start, beta_end, timestep_spacing, steps_offset   -> same names
    prediction_type epsilon | v_prediction | sample            -> prediction_type epsilon | v | sample
    clip_sample + clip_sample_range                             -> x0_clip (None when clip_sample is False)
    thresholding + dynamic_thresholding_ratio, sample_max_value -> threshold_ratio, threshold_max
    DDPM variance_type fixed_small | fixed_large                -> variance_type
    DDIM set_alpha_to_one                                       -> final_alpha_cumprod "one" | "first"
    Euler / Heun / DPM use_karras_sigmas                        -> sigma_schedule "karras" (else "interpolated")
    Euler sigma_min, sigma_max; Euler / DPM final_sigmas_type   -> sigma_min, sigma_max; final_sigma
    DPM solver_order (1, 2), solver_type, lower_order_final, euler_at_final -> same names
    FlowMatch shift, shift_terminal, use_karras_sigmas, stochastic_sampling -> shift, shift_terminal,
                                                                   sigma_schedule, mode "ode" | "stochastic"

DDIM's ``eta`` is an argument of diffusers' ``step``, not of its config: the converted sampler has
``eta=0``; build ``DDIMSampler(dataclasses.replace(sampler.config, eta=...))`` for another. Every other
setting must be at the value archlab implements (trained betas, zero-terminal-SNR rescaling, exponential or
beta sigmas, third-order or SDE DPM-Solver, dynamic shifting, ...): a ``ValueError`` names the setting.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from archlab.diffusion.autoencoder_interop import autoencoder_from_diffusers
from archlab.diffusion.ddim import DDIMConfig, DDIMSampler
from archlab.diffusion.ddpm import DDPMConfig, DDPMSampler
from archlab.diffusion.dit_interop import dit_from_diffusers
from archlab.diffusion.dpm_solver import DPMSolverConfig, DPMSolverSampler
from archlab.diffusion.euler import EulerConfig, EulerSampler
from archlab.diffusion.flow_matching import FlowMatchConfig, FlowMatchEulerSampler
from archlab.diffusion.heun import HeunConfig, HeunSampler
from archlab.diffusion.refuse import refuse
from archlab.diffusion.unet_interop import unet_from_diffusers

BETA_SCHEDULES = {"linear": "linear", "scaled_linear": "scaled_linear", "squaredcos_cap_v2": "cosine"}
PREDICTION_TYPES = {"epsilon": "epsilon", "v_prediction": "v", "sample": "sample"}


def _schedule_fields(scheduler: Any) -> dict[str, Any]:
    refuse(scheduler, trained_betas=None, rescale_betas_zero_snr=False, beta_schedule=tuple(BETA_SCHEDULES),
             prediction_type=tuple(PREDICTION_TYPES), timestep_spacing=("linspace", "leading", "trailing"))
    c = scheduler.config
    fields = dict(num_train_timesteps=c.num_train_timesteps, beta_start=c.beta_start, beta_end=c.beta_end,
                  beta_schedule=BETA_SCHEDULES[c.beta_schedule], prediction_type=PREDICTION_TYPES[c.prediction_type],
                  timestep_spacing=c.timestep_spacing, steps_offset=c.steps_offset)
    if c.get("clip_sample"):
        fields["x0_clip"] = c.clip_sample_range
    if c.get("thresholding"):
        fields.update(threshold_ratio=c.dynamic_thresholding_ratio, threshold_max=c.sample_max_value)
    return fields


def _sigma_fields(scheduler: Any) -> dict[str, Any]:
    refuse(scheduler, use_exponential_sigmas=False, use_beta_sigmas=False, interpolation_type="linear",
             use_lu_lambdas=False, use_flow_sigmas=False)
    c = scheduler.config
    fields = dict(sigma_schedule="karras" if c.use_karras_sigmas else "interpolated")
    if "final_sigmas_type" in c:
        fields["final_sigma"] = c.final_sigmas_type
    return fields


def ddpm_from_diffusers(scheduler: Any) -> DDPMSampler:
    refuse(scheduler, variance_type=("fixed_small", "fixed_large"))
    return DDPMSampler(DDPMConfig(**_schedule_fields(scheduler), variance_type=scheduler.config.variance_type))


def ddim_from_diffusers(scheduler: Any) -> DDIMSampler:
    final = "one" if scheduler.config.set_alpha_to_one else "first"
    return DDIMSampler(DDIMConfig(**_schedule_fields(scheduler), final_alpha_cumprod=final))


def euler_from_diffusers(scheduler: Any) -> EulerSampler:
    if scheduler.config.timestep_type == "continuous" and scheduler.config.prediction_type == "v_prediction":
        raise ValueError("EulerDiscreteScheduler with timestep_type='continuous' is not supported by archlab "
                         "(supported: 'discrete')")
    c = scheduler.config
    return EulerSampler(EulerConfig(**_schedule_fields(scheduler), **_sigma_fields(scheduler),
                                    sigma_min=c.sigma_min, sigma_max=c.sigma_max))


def heun_from_diffusers(scheduler: Any) -> HeunSampler:
    return HeunSampler(HeunConfig(**_schedule_fields(scheduler), **_sigma_fields(scheduler)))


def dpm_solver_from_diffusers(scheduler: Any) -> DPMSolverSampler:
    refuse(scheduler, algorithm_type="dpmsolver++", solver_order=(1, 2), variance_type=None,
             use_dynamic_shifting=False)
    c = scheduler.config
    if c.lambda_min_clipped != -math.inf:
        raise ValueError(f"DPMSolverMultistepScheduler with lambda_min_clipped={c.lambda_min_clipped!r} is not "
                         "supported by archlab (supported: -inf)")
    return DPMSolverSampler(DPMSolverConfig(
        **_schedule_fields(scheduler), **_sigma_fields(scheduler), solver_order=c.solver_order,
        solver_type=c.solver_type, lower_order_final=c.lower_order_final, euler_at_final=c.euler_at_final))


def flow_match_from_diffusers(scheduler: Any) -> FlowMatchEulerSampler:
    refuse(scheduler, use_dynamic_shifting=False, invert_sigmas=False, use_exponential_sigmas=False,
             use_beta_sigmas=False)
    c = scheduler.config
    return FlowMatchEulerSampler(FlowMatchConfig(
        num_train_timesteps=c.num_train_timesteps, shift=c.shift, shift_terminal=c.shift_terminal or None,
        sigma_schedule="karras" if c.use_karras_sigmas else "linear",
        mode="stochastic" if c.stochastic_sampling else "ode"))


# diffusers class name -> converter (``archlab.interop.from_diffusers``).
DIFFUSERS: dict[str, Callable[[Any], Any]] = {
    "DDPMScheduler": ddpm_from_diffusers,
    "DDIMScheduler": ddim_from_diffusers,
    "EulerDiscreteScheduler": euler_from_diffusers,
    "HeunDiscreteScheduler": heun_from_diffusers,
    "DPMSolverMultistepScheduler": dpm_solver_from_diffusers,
    "FlowMatchEulerDiscreteScheduler": flow_match_from_diffusers,
    "DiTTransformer2DModel": dit_from_diffusers,
    "UNet2DModel": unet_from_diffusers,
    "AutoencoderKL": autoencoder_from_diffusers,
}
