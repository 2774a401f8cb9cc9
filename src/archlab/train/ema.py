"""An exponential moving average of the weights, kept beside the trained model.

After every optimiser step, ``theta_ema <- decay * theta_ema + (1 - decay) * theta`` for every floating-point
parameter (Polyak and Juditsky 1992, averaged iterates; the exponential form of Ho et al. 2020 for diffusion
models and of Karras et al. 2018 for GAN generators). Buffers (normalisation statistics, a router's biases)
are copied, not averaged: they are already running statistics. The average starts at the initial weights.
The trainer saves it in every checkpoint (``ema.safetensors``) and writes it as ``OUT/final/ema/``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

import torch
from torch import Tensor, nn


class WeightEMA:
    """The moving average of ``model``'s state, keyed as ``model.state_dict()``."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay={decay} must be in (0, 1)")
        self.decay = decay
        self.averaged = {name for name, p in model.named_parameters(remove_duplicate=False) if p.is_floating_point()}
        self.shadow = {name: t.detach().clone() for name, t in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for name, value in model.state_dict().items():
            if name in self.averaged:
                self.shadow[name].lerp_(value, 1.0 - self.decay)
            else:
                self.shadow[name].copy_(value)

    def state_dict(self) -> dict[str, Tensor]:
        return self.shadow

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        if set(state) != set(self.shadow):
            raise ValueError(f"EMA state keys differ from the model's: missing {sorted(set(self.shadow) - set(state))[:5]}, "
                             f"unexpected {sorted(set(state) - set(self.shadow))[:5]}")
        for name, value in state.items():
            self.shadow[name].copy_(value)

    @contextmanager
    def swapped_into(self, model: nn.Module) -> Iterator[nn.Module]:
        """``model`` holding the averaged weights inside the block, its own weights again after it."""
        own = {name: t.detach().clone() for name, t in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield model
        finally:
            model.load_state_dict(own)
