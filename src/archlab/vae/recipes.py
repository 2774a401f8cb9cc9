"""``archlab train vae --arch mlp|conv --data digits|ring8`` and ``archlab sample vae --ckpt DIR --n 64``.

Data: ``digits`` are scikit-learn's 8x8 handwritten digits in [0, 1] (``archlab.data.images``), modelled with a
Bernoulli likelihood; ``ring8`` is the ring of 8 Gaussians of the GAN miniature (radius 1, std 0.02,
``archlab.data.toy2d``; 20,000 training and 2,000 held-out points from the seed's streams), modelled with a
Gaussian likelihood. Training logs the ELBO's terms (reconstruction, KL, KL weight, active units); the
sampler writes a PNG: a grid of images, or a scatter of points.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch

from archlab.data.images import digits_dataset
from archlab.data.streams import step_generator
from archlab.data.toy2d import ring_of_gaussians
from archlab.errors import UserError
from archlab.train.sample_grid import add_grid_sample_arguments, write_sample_grid
from archlab.train.config import OptimConfig, RunConfig, TrainConfig
from archlab.vae.model import VAE, VAEConfig
from archlab.vae.task import VAETask

DATASETS = ("digits", "ring8")
RING_RADIUS, RING_STD, RING_TRAIN, RING_EVAL = 1.0, 0.02, 20_000, 2_000


@dataclass
class GenerativeDataConfig:
    """``name``: ``"digits"`` (8x8 images) or ``"ring8"`` (2-D points)."""

    name: Literal["digits", "ring8"] = "digits"

    def __post_init__(self) -> None:
        if self.name not in DATASETS:
            raise ValueError(f"name={self.name!r} is not one of 'digits', 'ring8'")


def load_data(config: GenerativeDataConfig, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The training and held-out items of ``config``."""
    if config.name == "digits":
        data = digits_dataset()
        return data.train_images, data.test_images
    train = ring_of_gaussians(RING_TRAIN, step_generator(seed, "data", 0), radius=RING_RADIUS, std=RING_STD)[0]
    held_out = ring_of_gaussians(RING_EVAL, step_generator(seed, "eval", 0), radius=RING_RADIUS, std=RING_STD)[0]
    return train, held_out


def data_shape_of(name: str) -> tuple[int, ...]:
    return (1, 8, 8) if name == "digits" else (2,)


@dataclass
class VAERecipe:
    """A ``Recipe`` (``archlab.train.recipe``) of the ``vae`` target for one encoder/decoder architecture."""

    architecture: str
    summary = "a variational autoencoder on digits or the ring of 8 Gaussians"

    def default_config(self) -> RunConfig:
        return RunConfig(
            model=VAEConfig(architecture=self.architecture, latent_dim=8),
            data=GenerativeDataConfig(),
            optim=OptimConfig(lr=1e-3, warmup_steps=0, weight_decay=0.0),
            train=TrainConfig(steps=2000, batch_size=128, eval_every=500, checkpoint_every=500, log_every=50),
        )

    def build_task(self, config: RunConfig) -> VAETask:
        """The model (initialised from torch's global RNG: seed first) and the data of ``config``."""
        if config.model.data_shape != data_shape_of(config.data.name):
            raise UserError(f"model.data_shape={config.model.data_shape} does not fit --data {config.data.name} "
                            f"(items of shape {data_shape_of(config.data.name)})")
        train, held_out = load_data(config.data, config.train.seed)
        return VAETask(VAE(config.model), train, held_out, batch_size=config.train.batch_size, seed=config.train.seed)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data", choices=DATASETS, default="digits",
                            help="digits (8x8 images, Bernoulli likelihood) or ring8 (2-D points, Gaussian)")

    def apply_arguments(self, config: RunConfig, args: argparse.Namespace) -> RunConfig:
        """``--data`` sets the data, the model's data shape and its likelihood."""
        if args.data == "ring8" and config.model.architecture == "conv":
            raise UserError("--arch conv needs images; use --arch mlp with --data ring8")
        likelihood = "bernoulli" if args.data == "digits" else "gaussian"
        model = dataclasses.replace(config.model, data_shape=data_shape_of(args.data), likelihood=likelihood,
                                    observation_std=0.05 if args.data == "ring8" else config.model.observation_std)
        return dataclasses.replace(config, model=model, data=GenerativeDataConfig(args.data))

    def add_sample_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_grid_sample_arguments(parser, default_out="vae-samples.png")

    def sample(self, model: torch.nn.Module, args: argparse.Namespace) -> str:
        """Draw ``--n`` samples E[x|z], z ~ N(0, I), seeded by ``--seed``; write them as a PNG; return its path."""
        return write_sample_grid(model, args, expected=VAE, what="a VAE",
                                 title=lambda m: f"VAE samples ({m.config.architecture})")


# The family's training targets (``archlab.train.recipe``): {target: {arch: recipe}}.
RECIPES = {"vae": {"mlp": VAERecipe("mlp"), "conv": VAERecipe("conv")}}
