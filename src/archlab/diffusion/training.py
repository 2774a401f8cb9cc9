"""Training a denoiser on 2-D toy data through the one training loop: the data, the task, the figures.

``ToyDataConfig`` names the distribution (``"ring8"``: the ring of 8 Gaussians of radius 2 and std 0.1 of
reference/claims.md section 10; ``"moons"``; ``"swissroll"``; ``archlab.data.toy2d``) and its class count
for conditioning. ``DiffusionTask`` draws each step's batch (data, labels, noise, timesteps, condition
dropout) from the step's generator (``archlab.lab.experiment.SampledTask``), so a run is a pure function of
its seed; its loss is the denoiser's ``loss``. The EMA of the weights is the loop's (``train.ema_decay``).
``scatter_figure`` and ``trajectory_figure`` draw samples and a denoising path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from archlab.core.validation import check_at_least, check_choices
from archlab.data.toy2d import ring_of_gaussians, swiss_roll, two_moons
from archlab.diffusion.denoiser import MLPDenoiser
from archlab.lab.experiment import SampledTask
from archlab.lab.figures import new_figure

DATASETS: dict[str, tuple[Callable[..., tuple[torch.Tensor, torch.Tensor]], int]] = {
    "ring8": (ring_of_gaussians, 8),
    "moons": (two_moons, 2),
    "swissroll": (swiss_roll, 4),
}


IMAGE_DATASETS = ("digits",)  # images, for the U-Net and DiT (``archlab.diffusion.image_model``)


@dataclass
class ToyDataConfig:
    """``name``: ``"ring8"`` | ``"moons"`` | ``"swissroll"`` (2-D points) or ``"digits"`` (images);
    ``eval_size``: the held-out set's size."""

    name: str = "ring8"
    eval_size: int = 2048

    def __post_init__(self) -> None:
        check_choices(self, dict(name=tuple(DATASETS) + IMAGE_DATASETS))
        check_at_least(self, 1, "eval_size")


def toy_data(name: str, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points (n, 2) of the named distribution and their labels (n,)."""
    check_choices(dict(data=name), dict(data=tuple(DATASETS)))
    return DATASETS[name][0](n, generator)


def n_classes(name: str) -> int:
    """The number of labels of the named distribution (8 modes, 2 moons, 4 segments of the roll)."""
    return DATASETS[name][1]


class DiffusionTask(SampledTask):
    """The denoiser's loss on batches of a 2-D toy distribution (one player, ``"model"``)."""

    def __init__(self, model: MLPDenoiser, *, data: str = "ring8", batch_size: int, seed: int,
                 eval_size: int = 2048) -> None:
        super().__init__(batch_size=batch_size, seed=seed, eval_size=eval_size)
        classes = model.config.n_classes
        if classes and classes != n_classes(data):
            raise ValueError(f"model.n_classes={classes} must be 0 or the {n_classes(data)} labels of data {data!r}")
        self.model, self.data = model, data

    def sample(self, size: int, generator: torch.Generator) -> dict:
        x0, labels = toy_data(self.data, size, generator)
        return self.model.make_batch(x0, labels if self.model.config.n_classes else None, generator)

    def loss(self, batch: dict, player: str = "model") -> torch.Tensor:
        return self.model.loss(batch)


def scatter_figure(samples: torch.Tensor, *, reference: Optional[torch.Tensor] = None,
                   labels: Optional[torch.Tensor] = None, title: str = ""):
    """Samples (n, 2) over the reference points in grey, coloured by ``labels`` when given."""
    fig, ax = new_figure(width=5.0, height=5.0)
    if reference is not None:
        ax.scatter(reference[:, 0], reference[:, 1], s=2, c="0.8", label="data")
    colours = labels.cpu().numpy() if labels is not None else "tab:blue"
    ax.scatter(samples[:, 0].cpu(), samples[:, 1].cpu(), s=2, c=colours, cmap="tab10", label="samples")
    ax.set_aspect("equal")
    ax.set_title(title)
    return fig


def _picks(length: int, frames: int) -> list[int]:
    """``frames`` indices spread evenly over a path of ``length`` states, first and last included."""
    return sorted({round(i * (length - 1) / max(frames - 1, 1)) for i in range(frames)})


def trajectory_figure(path: list[torch.Tensor], *, frames: int = 8, title: str = ""):
    """``frames`` snapshots of a denoising path (each (n, 2)) side by side, from noise to sample."""
    picks = _picks(len(path), frames)
    fig, axes = new_figure(1, len(picks), width=2.2 * len(picks), height=2.4)
    axes = axes if isinstance(axes, tuple) else (axes,)
    for ax, k in zip(axes, picks):
        points = path[k].cpu()
        ax.scatter(points[:, 0], points[:, 1], s=1)
        ax.set_title(f"step {k}/{len(path) - 1}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    return fig


def image_strip_figure(path: list[torch.Tensor], *, frames: int = 8, rows: int = 4, title: str = ""):
    """The denoising path of the first ``rows`` images (each state (n, 1, H, W) in [-1, 1]) as strips of
    ``frames`` snapshots, noise on the left, sample on the right."""
    picks = _picks(len(path), frames)
    rows = min(rows, path[0].shape[0])
    fig, axes = new_figure(rows, len(picks), width=1.2 * len(picks), height=1.3 * rows)
    axes = axes if isinstance(axes, tuple) else (axes,)  # flat, row-major
    for r in range(rows):
        for c, k in enumerate(picks):
            ax = axes[r * len(picks) + c]
            ax.imshow(((path[k][r, 0].cpu() + 1) / 2).clamp(0, 1), cmap="gray_r", vmin=0, vmax=1)
            ax.axis("off")
            if r == 0:
                ax.set_title(f"step {k}", fontsize=7)
    fig.suptitle(title)
    return fig
