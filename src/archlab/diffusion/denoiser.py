"""A small MLP denoiser for low-dimensional data, with a sinusoidal time embedding, optional class
conditioning and condition dropout for classifier-free guidance; ``loss`` and ``sample`` as a generative model.

The network (the CPU miniature of reference/claims.md section 10, after Ho et al. 2020's time conditioning):

    e = time_mlp(timestep_embedding(t)) + class_embedding(c)        (c = n_classes is the null class)
    h = W_in x + e;   h <- h + MLP(h + e) for each of n_layers;   out = W_out silu(h)

It predicts ``prediction_type``: ``"epsilon"``, ``"v"`` or ``"sample"`` on the discrete schedule
(``beta_schedule`` over ``num_train_timesteps``, ``archlab.diffusion.schedules``), or ``"flow"``: the velocity
``eps - x_0`` on the rectified-flow path (``archlab.diffusion.flow_matching``), where the timestep is
``sigma T``. Training (``loss``) is the mean squared error to that target (Ho et al. 2020, L_simple). With
``n_classes > 0`` the label is replaced by the null class with probability ``p_uncond`` in ``make_batch``
(Ho and Salimans 2022, Algorithm 1); at sampling a null-class or ``cond=None`` call is the unconditional
model. ``make_batch`` draws everything random of a training batch from one generator, so ``loss`` is a pure
function of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.io import PretrainedMixin
from archlab.core.mlp import MLP
from archlab.core.time_embedding import timestep_embedding
from archlab.core.validation import check_at_least
from archlab.diffusion.objective import DenoiserMixin, ObjectiveConfig, schedule_alphas_cumprod


@dataclass
class MLPDenoiserConfig(ObjectiveConfig):
    """``data_dim`` (2 for the toys), ``d_hidden``, ``n_layers``, ``time_dim`` (sinusoidal features), and the
    objective's fields (``ObjectiveConfig``)."""

    data_dim: int = 2
    d_hidden: int = 128
    n_layers: int = 3
    time_dim: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        check_at_least(self, 1, "data_dim", "d_hidden", "n_layers")
        check_at_least(self, 4, "time_dim")


class MLPDenoiser(DenoiserMixin, nn.Module, PretrainedMixin):
    """``(x_t (B, D), t (B,), cond (B,) long or None) -> prediction (B, D)``."""

    config_class = MLPDenoiserConfig

    def __init__(self, config: MLPDenoiserConfig) -> None:
        super().__init__()
        self.config = c = config
        self.time_mlp = nn.Sequential(nn.Linear(c.time_dim, c.d_hidden), nn.SiLU(), nn.Linear(c.d_hidden, c.d_hidden))
        self.class_embedding = nn.Embedding(c.n_classes + 1, c.d_hidden) if c.n_classes else None
        self.input = nn.Linear(c.data_dim, c.d_hidden)
        self.blocks = nn.ModuleList(MLP(d_model=c.d_hidden, d_hidden=2 * c.d_hidden, activation="silu")
                                    for _ in range(c.n_layers))
        self.output = nn.Linear(c.d_hidden, c.data_dim)
        self.register_buffer("alphas_cumprod", schedule_alphas_cumprod(c), persistent=False)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        t = torch.as_tensor(t, device=x.device).reshape(-1).expand(x.shape[0])
        e = self.time_mlp(timestep_embedding(t, self.config.time_dim))  # (B, H)
        if self.class_embedding is not None:
            if cond is None:
                cond = torch.full((x.shape[0],), self.config.n_classes, device=x.device, dtype=torch.long)
            e = e + self.class_embedding(cond)
        h = self.input(x) + e
        for block in self.blocks:
            h = h + block(h + e)
        return self.output(F.silu(h))

    def sample_shape(self, n: int) -> tuple[int, ...]:
        """The shape of ``n`` samples."""
        return (n, self.config.data_dim)
