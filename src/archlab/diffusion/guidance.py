"""Classifier-free guidance (Ho and Salimans 2022, "Classifier-Free Diffusion Guidance", eq. 6).

With ``w`` the guidance strength, the guided prediction is ``(1 + w) f(x, t, c) - w f(x, t, null)``:
``w = 0`` is the conditional model, ``w > 0`` pushes away from the unconditional one. It is linear in the
model output, so it applies alike to an epsilon, v, sample or flow-velocity prediction. ``GuidedDenoiser``
wraps a conditional denoiser into a denoiser of the same signature (two calls per step: the conditional
and the unconditional branch).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch


class GuidedDenoiser:
    """``(x, t, cond) -> (1 + w) f(x, t, cond) - w f(x, t, None)``; with ``cond=None`` it is ``f(x, t, None)``."""

    def __init__(self, denoiser: Callable[..., torch.Tensor], guidance: float) -> None:
        if not guidance >= 0:
            raise ValueError(f"guidance={guidance} must be >= 0")
        self.denoiser, self.guidance = denoiser, guidance

    def __call__(self, x: torch.Tensor, t: torch.Tensor, cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        if cond is None or self.guidance == 0:
            return self.denoiser(x, t, cond)
        conditional, unconditional = self.denoiser(x, t, cond), self.denoiser(x, t, None)
        return (1 + self.guidance) * conditional - self.guidance * unconditional
