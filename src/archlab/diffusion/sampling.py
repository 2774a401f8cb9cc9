"""The sampling loop: any denoiser ``(x_t, t, cond=None) -> prediction`` through any sampler of the protocol.

``sampling_loop`` sets the sampler's timesteps, scales the starting noise by ``init_noise_sigma``, and per
timestep calls the denoiser on ``scale_model_input(x, t)`` with ``t`` broadcast to the batch (B,) float, then
``step``. It counts the denoiser calls (Heun makes ``2 n - 1`` for ``n`` steps) and can keep the path.
Guidance is a denoiser wrapper (``archlab.diffusion.guidance``), not a loop option. ``build_sampler`` makes
the sampler a command-line name stands for, configured for a denoiser's prediction type and schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

Denoiser = Callable[..., torch.Tensor]


@dataclass
class SampleOutput:
    """``sample`` (B, ...), the number of denoiser calls ``nfe``, and ``trajectory``: the starting sample and
    every ``prev_sample`` (empty unless asked for)."""

    sample: torch.Tensor
    nfe: int
    trajectory: list[torch.Tensor] = field(default_factory=list)


@torch.no_grad()
def sampling_loop(denoiser: Denoiser, sampler: Any, noise: torch.Tensor, num_inference_steps: int, *,
                  cond: Optional[torch.Tensor] = None, generator: Optional[torch.Generator] = None,
                  keep_trajectory: bool = False) -> SampleOutput:
    """Denoise ``noise`` (B, ...) in ``num_inference_steps`` steps of ``sampler``."""
    sampler.set_timesteps(num_inference_steps, device=noise.device)
    x = noise * sampler.init_noise_sigma
    path = [x] if keep_trajectory else []
    for t in sampler.timesteps:
        t_batch = t.to(torch.float32).expand(x.shape[0])  # (B,)
        output = denoiser(sampler.scale_model_input(x, t), t_batch, cond)
        x = sampler.step(output, t, x, generator=generator).prev_sample
        if keep_trajectory:
            path.append(x)
    return SampleOutput(sample=x, nfe=len(sampler.timesteps), trajectory=path)


SAMPLERS = ("ddpm", "ddim", "euler", "heun", "dpm++", "flow")


def build_sampler(name: str, *, prediction_type: str, num_train_timesteps: int = 1000,
                  beta_schedule: str = "linear", beta_start: float = 1e-4, beta_end: float = 0.02) -> Any:
    """The sampler ``name`` (one of ``SAMPLERS``) for a denoiser trained with ``prediction_type`` on the given
    schedule. Discrete samplers use ``"trailing"`` timesteps (the first step at T - 1: Lin et al. 2024);
    ``"flow"`` pairs with a flow-velocity denoiser only, and the others with the discrete predictions."""
    from archlab.diffusion.ddim import DDIMConfig, DDIMSampler
    from archlab.diffusion.ddpm import DDPMConfig, DDPMSampler
    from archlab.diffusion.dpm_solver import DPMSolverConfig, DPMSolverSampler
    from archlab.diffusion.euler import EulerConfig, EulerSampler
    from archlab.diffusion.flow_matching import FlowMatchConfig, FlowMatchEulerSampler
    from archlab.diffusion.heun import HeunConfig, HeunSampler

    if name not in SAMPLERS:
        raise ValueError(f"sampler={name!r} is not one of {', '.join(SAMPLERS)}")
    if (name == "flow") != (prediction_type == "flow"):
        raise ValueError(f"sampler={name!r} does not fit a denoiser with prediction_type={prediction_type!r}: "
                         "the 'flow' sampler goes with 'flow' denoisers, the others with epsilon, v or sample")
    if name == "flow":
        return FlowMatchEulerSampler(FlowMatchConfig(num_train_timesteps=num_train_timesteps))
    fields = dict(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule, beta_start=beta_start,
                  beta_end=beta_end, prediction_type=prediction_type, timestep_spacing="trailing")
    kinds = {"ddpm": (DDPMSampler, DDPMConfig), "ddim": (DDIMSampler, DDIMConfig),
             "euler": (EulerSampler, EulerConfig), "heun": (HeunSampler, HeunConfig),
             "dpm++": (DPMSolverSampler, DPMSolverConfig)}
    sampler_class, config_class = kinds[name]
    return sampler_class(config_class(**fields))
