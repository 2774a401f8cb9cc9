"""Distances between two samples of points: the sliced Wasserstein distance.

Bonneel, Rabin, Peyre and Pfister 2015 (sliced Wasserstein barycenters); Kolouri et al. 2019. For samples
``x`` (n, d) and ``y`` (m, d) and directions ``theta`` drawn uniformly on the unit sphere S^(d-1),

    SW_p(x, y) = ( mean over theta of W_p(theta . x, theta . y)^p )^(1/p),

where ``W_p`` between two 1-D samples is the L_p distance between their quantile functions. With n = m it is
exact: sort both projections and pair them in order. With n != m it is exact too: the empirical quantile
functions are step functions (the i-th sorted value on levels ``(i/n, (i+1)/n]``), so the integral of
``|Q_x - Q_y|^p`` over the levels is a weighted sum over the merged breakpoints ``{i/n} U {j/m}``.

A shift: for ``y = x + s`` each projection is shifted by ``theta . s``, so ``W_p = |theta . s|`` exactly and
``SW_2(x, x + s)^2 = E[(theta . s)^2] = |s|^2 / d`` (by symmetry, ``E[theta theta^T] = I / d``):
``SW_2 = |s| / sqrt(d)``; in 2-D, ``SW_1 = |s| E|cos phi| = 2 |s| / pi``.
"""

from __future__ import annotations

import torch

from archlab.core.validation import check_at_least, check_positive


def random_directions(n: int, dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` directions (n, dim) uniform on the unit sphere (normalised Gaussian draws), on the CPU."""
    check_at_least(dict(n=n, dim=dim), 1)
    directions = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    return directions / directions.norm(dim=1, keepdim=True)


def _step_quantiles(sorted_values: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """The empirical quantile function of each column of ``sorted_values`` (n, P) at ``levels`` (k,) in
    (0, 1): the i-th sorted value for a level in ``(i/n, (i+1)/n]``; (k, P)."""
    n = sorted_values.shape[0]
    index = torch.clamp(torch.ceil(levels * n).long() - 1, 0, n - 1)
    return sorted_values[index]


def wasserstein_1d(x: torch.Tensor, y: torch.Tensor, *, p: float = 2.0) -> torch.Tensor:
    """``W_p`` between the columns of ``x`` (n, P) and ``y`` (m, P), column by column: (P,)."""
    check_positive(dict(p=p))
    xs, ys = x.sort(dim=0).values, y.sort(dim=0).values
    n, m = xs.shape[0], ys.shape[0]
    if n == m:
        return (xs - ys).abs().pow(p).mean(dim=0).pow(1 / p)
    levels = [torch.arange(k + 1, dtype=torch.float64, device=xs.device) / k for k in (n, m)]
    breaks = torch.unique(torch.cat(levels))  # sorted, from 0 to 1
    widths = breaks[1:] - breaks[:-1]  # (k,) the lengths of the merged level intervals
    middles = (breaks[1:] + breaks[:-1]) / 2
    gap = (_step_quantiles(xs, middles) - _step_quantiles(ys, middles)).abs().pow(p)  # (k, P)
    return (widths[:, None].to(gap.dtype) * gap).sum(dim=0).pow(1 / p)


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, *, n_projections: int = 256, p: float = 2.0,
                       generator: torch.Generator | None = None) -> float:
    """``SW_p`` between samples ``x`` (n, d) and ``y`` (m, d) over ``n_projections`` random directions drawn
    from ``generator`` (pass a seeded one to compare several samples on the same directions)."""
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must be (n, d) and (m, d) with one d")
    check_at_least(dict(n_projections=n_projections), 1)
    directions = random_directions(n_projections, x.shape[1], generator).to(x.device)  # (P, d)
    x_proj = x.to(torch.float64) @ directions.T  # (n, P)
    y_proj = y.to(device=x.device, dtype=torch.float64) @ directions.T  # (m, P)
    per_direction = wasserstein_1d(x_proj, y_proj, p=p)  # (P,)
    return float(per_direction.pow(p).mean().pow(1 / p))
