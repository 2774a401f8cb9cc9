"""``archlab sample`` for generative models that draw ``sample(n, generator)``: the options and the PNG.

A recipe of such a target (a VAE's decoder mean, a GAN's generator) takes ``--n`` and ``--out`` from
``add_grid_sample_arguments`` and writes its draw with ``write_sample_grid``: a grid of images, or a scatter
of 2-D points (``archlab.lab.figures.samples_figure``), seeded by ``--seed``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import torch

from archlab.errors import UserError
from archlab.lab.figures import samples_figure


def add_grid_sample_arguments(parser: argparse.ArgumentParser, *, default_out: str) -> None:
    """``--n`` (samples to draw) and ``--out`` (the PNG)."""
    parser.add_argument("--n", type=int, default=64, metavar="N", help="samples to draw (default: 64)")
    parser.add_argument("--out", default=default_out, metavar="PATH", help=f"the PNG to write (default: {default_out})")


def write_sample_grid(model: torch.nn.Module, args: argparse.Namespace, *, expected: type, what: str,
                      title: Callable[[torch.nn.Module], str]) -> str:
    """Draw ``args.n`` samples from ``model`` (in eval mode, seeded by ``args.seed``), write them to ``args.out``
    as a PNG and return its path. A checkpoint holding something other than ``expected`` (named ``what``) or a
    count below 1 is a ``UserError``; ``title(model)`` heads the figure."""
    if not isinstance(model, expected):
        raise UserError(f"{args.ckpt} holds a {type(model).__name__}, not {what}")
    if args.n < 1:
        raise UserError(f"--n {args.n} must be >= 1")
    model.eval()
    samples = model.sample(args.n, torch.Generator().manual_seed(args.seed))
    path = Path(args.out)
    samples_figure(samples, title=title(model)).savefig(path, dpi=100)
    return str(path)
