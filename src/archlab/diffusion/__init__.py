"""Diffusion: noise schedules, prediction types, samplers with diffusers' scheduler protocol, flow matching.

- ``schedules``: beta schedules, ``alphas_cumprod``, the forward process, epsilon / v / sample conversions.
- ``scheduler``: the protocol (``StepOutput``), ``ScheduleConfig``, timestep spacings, shared pieces.
- ``ddpm``, ``ddim``, ``euler``, ``heun``, ``dpm_solver``, ``flow_matching``: the six samplers.
- ``sampling``: the sampling loop and ``build_sampler``; ``guidance``: classifier-free guidance.
- ``denoiser``: the MLP denoiser (``loss``, ``sample``); ``training``: its toy-data task; ``recipes``: the CLI.
- ``interop``: ``archlab.interop.from_diffusers`` for the six diffusers schedulers.
"""

from archlab.diffusion.ddim import DDIMConfig, DDIMSampler
from archlab.diffusion.ddpm import DDPMConfig, DDPMSampler
from archlab.diffusion.denoiser import MLPDenoiser, MLPDenoiserConfig
from archlab.diffusion.dpm_solver import DPMSolverConfig, DPMSolverSampler
from archlab.diffusion.euler import EulerConfig, EulerSampler
from archlab.diffusion.flow_matching import FlowMatchConfig, FlowMatchEulerSampler
from archlab.diffusion.guidance import GuidedDenoiser
from archlab.diffusion.heun import HeunConfig, HeunSampler
from archlab.diffusion.sampling import SampleOutput, build_sampler, sampling_loop
from archlab.diffusion.scheduler import ScheduleConfig, StepOutput

__all__ = [
    "DDIMConfig",
    "DDIMSampler",
    "DDPMConfig",
    "DDPMSampler",
    "DPMSolverConfig",
    "DPMSolverSampler",
    "EulerConfig",
    "EulerSampler",
    "FlowMatchConfig",
    "FlowMatchEulerSampler",
    "GuidedDenoiser",
    "HeunConfig",
    "HeunSampler",
    "MLPDenoiser",
    "MLPDenoiserConfig",
    "SampleOutput",
    "ScheduleConfig",
    "StepOutput",
    "build_sampler",
    "sampling_loop",
]
