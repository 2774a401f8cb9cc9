"""Diffusion: noise schedules, prediction types, samplers with diffusers' scheduler protocol, flow matching.

- ``schedules``: beta schedules, ``alphas_cumprod``, the forward process, epsilon / v / sample conversions.
- ``scheduler``: the protocol (``StepOutput``), ``ScheduleConfig``, timestep spacings, shared pieces.
- ``ddpm``, ``ddim``, ``euler``, ``heun``, ``dpm_solver``, ``flow_matching``: the six samplers.
- ``interop``: ``archlab.interop.from_diffusers`` for the six diffusers schedulers.
"""

from archlab.diffusion.ddim import DDIMConfig, DDIMSampler
from archlab.diffusion.ddpm import DDPMConfig, DDPMSampler
from archlab.diffusion.dpm_solver import DPMSolverConfig, DPMSolverSampler
from archlab.diffusion.euler import EulerConfig, EulerSampler
from archlab.diffusion.flow_matching import FlowMatchConfig, FlowMatchEulerSampler
from archlab.diffusion.heun import HeunConfig, HeunSampler
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
    "HeunConfig",
    "HeunSampler",
    "ScheduleConfig",
    "StepOutput",
]
