"""``archlab train gan --arch mlp|dcgan --data digits|ring8 --loss ...`` and ``archlab sample gan --ckpt DIR --n 64``.

Data: ``ring8`` is the ring of 8 Gaussians of the GAN miniature (radius 1, std 0.02; PacGAN's ring with
twice its std), drawn fresh at every step; ``digits`` are scikit-learn's 8x8 digits in [0, 1], drawn with
replacement (the generator ends in a sigmoid). Both players use the run's ``optim`` section (Adam, betas
(0.5, 0.999), after Radford et al. 2016); ``--loss wgan-gp`` sets 5 critic steps per generator step and
Adam betas (0, 0.9) (Gulrajani et al. 2017). A diverging run stops at its first non-finite loss, naming the
step and keeping the last good checkpoint (the loop's rule). ``--set train.ema_decay=0.999`` keeps the
moving average of the weights; ``archlab sample gan --ckpt OUT/final/ema`` samples its averaged generator.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch

from archlab.data.images import digits_dataset
from archlab.data.toy2d import ring_of_gaussians
from archlab.errors import UserError
from archlab.gan.losses import GAN_LOSSES
from archlab.gan.model import GAN, GANConfig
from archlab.gan.task import GANTask
from archlab.train.sample_grid import add_grid_sample_arguments, write_sample_grid
from archlab.train.config import OptimConfig, RunConfig, TrainConfig

DATASETS = ("digits", "ring8")
RING_RADIUS, RING_STD = 1.0, 0.02


@dataclass
class GANDataConfig:
    """``name``: ``"digits"`` (8x8 images) or ``"ring8"`` (2-D points)."""

    name: Literal["digits", "ring8"] = "ring8"

    def __post_init__(self) -> None:
        if self.name not in DATASETS:
            raise ValueError(f"name={self.name!r} is not one of 'digits', 'ring8'")


def real_sampler(name: str):
    """The function drawing ``n`` real items with a generator for data ``name``."""
    if name == "ring8":
        return lambda n, g: ring_of_gaussians(n, g, radius=RING_RADIUS, std=RING_STD)[0]
    images = digits_dataset().train_images  # (N, 1, 8, 8)
    return lambda n, g: images[torch.randint(0, images.shape[0], (n,), generator=g)]


@dataclass
class GANRecipe:
    """A ``Recipe`` (``archlab.train.recipe``) of the ``gan`` target for one architecture."""

    architecture: str
    summary = "a generative adversarial network on the ring of 8 Gaussians or digits"

    def default_config(self) -> RunConfig:
        digits = self.architecture == "dcgan"
        return RunConfig(
            model=GANConfig(architecture=self.architecture, data_shape=(1, 8, 8) if digits else (2,),
                            output="sigmoid" if digits else "none", latent_dim=16 if digits else 2),
            data=GANDataConfig("digits" if digits else "ring8"),
            optim=OptimConfig(name="adam", lr=2e-4, betas=(0.5, 0.999), schedule="constant", warmup_steps=0,
                              weight_decay=0.0, grad_clip=0.0),
            train=TrainConfig(steps=3000, batch_size=256, eval_every=500, checkpoint_every=500, log_every=50),
        )

    def build_task(self, config: RunConfig) -> GANTask:
        """The model (initialised from torch's global RNG: seed first) and the data of ``config``."""
        expected = (1, 8, 8) if config.data.name == "digits" else (2,)
        if config.model.data_shape != expected:
            raise UserError(f"model.data_shape={config.model.data_shape} does not fit --data {config.data.name} "
                            f"(items of shape {expected})")
        return GANTask(GAN(config.model), real_sampler(config.data.name), batch_size=config.train.batch_size,
                       seed=config.train.seed)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data", choices=DATASETS, default=None,
                            help="ring8 (2-D points; default for mlp) or digits (8x8 images; default for dcgan)")
        parser.add_argument("--loss", choices=GAN_LOSSES, default=None,
                            help="the adversarial loss (default: non-saturating)")

    def apply_arguments(self, config: RunConfig, args: argparse.Namespace) -> RunConfig:
        """``--data`` sets the data, data shape and output; ``--loss wgan-gp`` also 5 critic steps, betas (0, 0.9)."""
        model, optim = config.model, config.optim
        if args.data is not None:
            if args.data == "ring8" and model.architecture == "dcgan":
                raise UserError("--arch dcgan needs images; use --arch mlp with --data ring8")
            digits = args.data == "digits"
            model = dataclasses.replace(model, data_shape=(1, 8, 8) if digits else (2,),
                                        output="sigmoid" if digits else "none")
            config = dataclasses.replace(config, data=GANDataConfig(args.data))
        if args.loss is not None:
            model = dataclasses.replace(model, loss=args.loss, n_critic=5 if args.loss == "wgan-gp" else model.n_critic)
            if args.loss == "wgan-gp":
                optim = dataclasses.replace(optim, betas=(0.0, 0.9))
        return dataclasses.replace(config, model=model, optim=optim)

    def add_sample_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_grid_sample_arguments(parser, default_out="gan-samples.png")

    def sample(self, model: torch.nn.Module, args: argparse.Namespace) -> str:
        """Draw ``--n`` samples G(z), seeded by ``--seed``; write them as a PNG; return its path."""
        return write_sample_grid(model, args, expected=GAN, what="a GAN",
                                 title=lambda m: f"GAN samples ({m.config.architecture}, {m.config.loss})")


# The family's training targets (``archlab.train.recipe``): {target: {arch: recipe}}.
RECIPES = {"gan": {"mlp": GANRecipe("mlp"), "dcgan": GANRecipe("dcgan")}}
