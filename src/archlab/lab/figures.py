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
