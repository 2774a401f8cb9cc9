"""Spectral normalisation (Miyato et al. 2018, *Spectral Normalization for Generative Adversarial Networks*).

A layer's weight W is used as W / sigma(W), sigma(W) its largest singular value, so every layer is 1-Lipschitz
and the discriminator's Lipschitz constant is bounded. sigma is estimated by power iteration (their
Algorithm 1), one step per training forward, carrying the vectors u (left) and v (right) across steps:
v <- W^T u / ||W^T u||, u <- W v / ||W v||, sigma = u^T W v. A convolution's kernel (C_out, C_in, k, k) is
read as the matrix (C_out, C_in k k), as in the paper. u starts as a random unit vector drawn from torch's
global generator (seed first); in evaluation mode the vectors stay as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize


class SpectralNorm(nn.Module):
    """The parametrisation W -> W / sigma(W) of one weight, with the power-iteration vectors as buffers."""

    def __init__(self, weight: Tensor, *, n_power_iterations: int = 1, eps: float = 1e-12) -> None:
        super().__init__()
        if n_power_iterations < 1:
            raise ValueError(f"n_power_iterations={n_power_iterations} must be >= 1")
        rows = weight.shape[0]
        cols = weight.numel() // rows
        self.n_power_iterations, self.eps = n_power_iterations, eps
        like = dict(dtype=weight.dtype, device=weight.device)
        self.register_buffer("_u", F.normalize(torch.randn(rows, **like), dim=0, eps=eps))
        self.register_buffer("_v", F.normalize(torch.randn(cols, **like), dim=0, eps=eps))
        with torch.no_grad():
            self.power_iteration(weight.flatten(1), 15)  # start from a converged estimate

    @torch.no_grad()
    def power_iteration(self, matrix: Tensor, steps: int) -> None:
        """``steps`` rounds of v <- W^T u / ||.||, u <- W v / ||.|| on ``matrix`` (C_out, rest), in place."""
        for _ in range(steps):
            self._v.copy_(F.normalize(matrix.T @ self._u, dim=0, eps=self.eps))
            self._u.copy_(F.normalize(matrix @ self._v, dim=0, eps=self.eps))

    def sigma(self, weight: Tensor) -> Tensor:
        """The current estimate u^T W v of the largest singular value (differentiable in W)."""
        return self._u @ weight.flatten(1) @ self._v  # (C_out,) @ (C_out, rest) @ (rest,)

    def forward(self, weight: Tensor) -> Tensor:
        if self.training:
            self.power_iteration(weight.detach().flatten(1), self.n_power_iterations)
        return weight / self.sigma(weight)


def spectral_norm(module: nn.Module, name: str = "weight", *, n_power_iterations: int = 1) -> nn.Module:
    """``module`` with its ``name`` parameter spectrally normalised (``torch.nn.utils.parametrize``); returns it."""
    weight = getattr(module, name)
    parametrize.register_parametrization(module, name, SpectralNorm(weight.detach(),
                                                                    n_power_iterations=n_power_iterations))
    return module
