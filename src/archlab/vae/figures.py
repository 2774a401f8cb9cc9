"""Figures of a trained image VAE's latent space: interpolation between two inputs and traversal of one latent
dimension (Higgins et al. 2017 read disentanglement from such traversals).

Both decode E[x|z] along a path of latent codes: ``interpolate`` the straight line between the posterior means
of two images, ``traverse`` one dimension of an image's posterior mean swept over ``values`` (the others
held). The ``*_figure`` functions draw the decoded images in a row.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from archlab.lab.figures import new_figure
from archlab.vae.model import VAE


@torch.no_grad()
def interpolate(model: VAE, x_a: Tensor, x_b: Tensor, steps: int = 8) -> Tensor:
    """E[x|z] at ``steps`` codes evenly spaced from mu(x_a) to mu(x_b) (each input (1, *data_shape)):
    (steps, *data_shape)."""
    if steps < 2:
        raise ValueError(f"steps={steps} must be >= 2")
    mu_a, mu_b = model.encode(x_a)[0], model.encode(x_b)[0]  # (1, Z) each
    t = torch.linspace(0, 1, steps, device=mu_a.device)[:, None]  # (steps, 1)
    return model.mean_of(model.decode((1 - t) * mu_a + t * mu_b))


@torch.no_grad()
def traverse(model: VAE, x: Tensor, dim: int, values: Sequence[float]) -> Tensor:
    """E[x|z] with z = mu(x) and its dimension ``dim`` set to each of ``values``: (len(values), *data_shape)."""
    if not 0 <= dim < model.config.latent_dim:
        raise ValueError(f"dim={dim} must be in [0, latent_dim={model.config.latent_dim})")
    z = model.encode(x)[0].repeat(len(values), 1)  # (1, Z) -> (V, Z)
    z[:, dim] = torch.tensor(list(values), dtype=z.dtype, device=z.device)
    return model.mean_of(model.decode(z))


def _row(images: Tensor, title: str):
    """A one-row strip of grey images (N, 1, H, W)."""
    n, _, h, w = images.shape
    fig, ax = new_figure(width=max(4.0, n), height=1.6)
    ax.imshow(images[:, 0].detach().cpu().permute(1, 0, 2).reshape(h, n * w).clamp(0, 1),  # (N, H, W) -> (H, N*W)
              cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
    return fig


def interpolation_figure(model: VAE, x_a: Tensor, x_b: Tensor, steps: int = 8):
    """The decoded straight line between two images' codes, as a row of images."""
    return _row(interpolate(model, x_a, x_b, steps), "latent interpolation")


def traversal_figure(model: VAE, x: Tensor, dim: int, values: Sequence[float] = (-3, -2, -1, 0, 1, 2, 3)):
    """One latent dimension swept over ``values`` (in prior standard deviations), as a row of images."""
    return _row(traverse(model, x, dim, values), f"traversal of latent {dim}")
