"""Figures for claims: a headless matplotlib figure with a consistent size and style."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402


def new_figure(rows: int = 1, cols: int = 1, *, width: float = 6.0, height: float = 4.0):
    """A (figure, axes) pair; ``axes`` is one Axes for 1x1, else a flat tuple of Axes."""
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), constrained_layout=True)
    if rows * cols == 1:
        return fig, axes
    return fig, tuple(axes.flat)


def samples_figure(samples, *, title: str = ""):
    """A figure of generated samples: a grid of images for (N, C, H, W) with C = 1 (grey, values in [0, 1]), or
    a scatter plot for (N, 2) points; the figure is returned for the caller to save."""
    import math

    samples = samples.detach().float().cpu()
    if samples.dim() == 2 and samples.shape[1] == 2:
        fig, ax = new_figure(width=5, height=5)
        ax.scatter(samples[:, 0], samples[:, 1], s=4, alpha=0.6)
        ax.set_aspect("equal")
    elif samples.dim() == 4 and samples.shape[1] == 1:
        n, _, h, w = samples.shape
        cols = math.ceil(math.sqrt(n))
        rows = math.ceil(n / cols)
        grid = samples.new_ones(rows * (h + 1) + 1, cols * (w + 1) + 1)  # white separators
        for i in range(n):
            r, c = divmod(i, cols)
            grid[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = samples[i, 0]
        fig, ax = new_figure(width=5, height=5 * rows / cols)
        ax.imshow(grid.clamp(0, 1), cmap="gray_r", vmin=0, vmax=1)
        ax.axis("off")
    else:
        raise ValueError(f"samples of shape {tuple(samples.shape)} are neither (N, 2) points nor (N, 1, H, W) images")
    if title:
        ax.set_title(title)
    return fig
