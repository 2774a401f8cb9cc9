"""The sampling loop: any denoiser ``(x_t, t, cond=None) -> prediction`` through any sampler of the protocol.

``sampling_loop`` sets the sampler's timesteps, scales the starting noise by ``init_noise_sigma``, and per
timestep calls the denoiser on ``scale_model_input(x, t)`` with ``t`` broadcast to the batch (B,) float, then
``step``. It counts the denoiser calls (Heun makes ``2 n - 1`` for ``n`` steps) and can keep the path.
Guidance is a denoiser wrapper (``archlab.diffusion.guidance``), not a loop option.
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
