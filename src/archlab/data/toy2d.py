"""Two-dimensional toy distributions for generative models (GANs, diffusion, VAEs), each with labels.

Every function takes ``n`` and a ``torch.Generator`` and returns ``(points, labels)``: points (n, 2) float32,
labels (n,) long. All randomness comes from ``generator``; points are made on the CPU.

- ``ring_of_gaussians``: the mixture of ``n_modes`` isotropic Gaussians with means
  ``radius * (cos 2 pi k / K, sin 2 pi k / K)`` and standard deviation ``std`` (Metz et al. 2017, Unrolled
  GANs; Srivastava et al. 2017, VEEGAN); the label is the mode index k, drawn uniformly. The defaults
  (radius 2, std 0.1) are the diffusion miniature of reference/claims.md section 10; the GAN miniature of
  section 6 (after PacGAN, Lin et al. 2018) uses ``radius=1.0, std=0.02``. ``ring_means`` gives the means.
- ``two_moons``: two interleaved half circles (the layout of scikit-learn's ``make_moons``): the upper arc
  ``(cos a, sin a)`` and the lower ``(1 - cos a, 0.5 - sin a)`` for ``a`` uniform in ``[0, pi]``, plus
  Gaussian noise of std ``noise``; the label is the moon (0 upper, 1 lower).
- ``swiss_roll``: the 2-D Swiss roll (the ``(x, z)`` plane of scikit-learn's ``make_swiss_roll``): with
  ``u`` uniform in [0, 1), ``a = 1.5 pi (1 + 2 u)`` and the point ``scale * (a cos a, a sin a)`` plus noise of
  std ``noise``; the label is the index of ``n_segments`` equal pieces of ``u`` along the roll.
"""

from __future__ import annotations

import math

import torch

from archlab.core.validation import check_at_least, check_positive


def ring_means(*, radius: float = 2.0, n_modes: int = 8) -> torch.Tensor:
    """The ring's means (n_modes, 2), mode k at angle ``2 pi k / n_modes``."""
    check_at_least(dict(n_modes=n_modes), 1)
    check_positive(dict(radius=radius))
    angles = 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    return (radius * torch.stack((angles.cos(), angles.sin()), dim=1)).float()


def ring_of_gaussians(n: int, generator: torch.Generator, *, radius: float = 2.0, std: float = 0.1,
                      n_modes: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points of the ring of ``n_modes`` Gaussians and their mode labels."""
    check_at_least(dict(n=n), 1)
    check_positive(dict(std=std))
    means = ring_means(radius=radius, n_modes=n_modes)
    labels = torch.randint(n_modes, (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator)
    return means[labels] + std * noise, labels


def two_moons(n: int, generator: torch.Generator, *, noise: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points of two interleaved half circles and their moon labels (0 upper, 1 lower)."""
    check_at_least(dict(n=n), 1)
    if not noise >= 0:
        raise ValueError(f"noise={noise} must be >= 0")
    labels = torch.randint(2, (n,), generator=generator)
    angle = math.pi * torch.rand(n, generator=generator)
    upper = torch.stack((angle.cos(), angle.sin()), dim=1)  # (n, 2)
    lower = torch.stack((1 - angle.cos(), 0.5 - angle.sin()), dim=1)  # (n, 2)
    points = torch.where(labels[:, None] == 0, upper, lower)
    return points + noise * torch.randn(n, 2, generator=generator), labels


def swiss_roll(n: int, generator: torch.Generator, *, noise: float = 0.05, scale: float = 0.2,
               n_segments: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points of the 2-D Swiss roll and the index of their segment along the roll."""
    check_at_least(dict(n=n, n_segments=n_segments), 1)
    check_positive(dict(scale=scale))
    if not noise >= 0:
        raise ValueError(f"noise={noise} must be >= 0")
    u = torch.rand(n, generator=generator)
    angle = 1.5 * math.pi * (1 + 2 * u)
    points = scale * torch.stack((angle * angle.cos(), angle * angle.sin()), dim=1)  # (n, 2)
    labels = torch.clamp((u * n_segments).long(), max=n_segments - 1)
    return points + noise * torch.randn(n, 2, generator=generator), labels
