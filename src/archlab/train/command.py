"""``archlab train <target>`` and ``archlab sample <target>``: the command-line face of the training loop.

    archlab train lm [--arch gpt2|llama] [--data PATH] [--steps N] [--seed N] [--set key=value ...]
                     [--out DIR] [--resume [CKPT]] [--quiet]
    archlab sample lm --ckpt DIR --prompt TEXT [--tokens N] [--temperature T] [--top-k K] [--top-p P]

``TRAIN_TARGETS`` maps a target and an architecture to a recipe, named by import path so that the command
imports only the family it runs. A recipe has ``default_config() -> RunConfig`` and
``build_task(config) -> Task``; a new architecture is one more line in the table (mamba, hybrid, moe,
lstm and gru will be). ``--set`` edits the run config with dotted keys (``archlab.train.overrides``).
Under ``torchrun`` every process runs this command and the loop trains data-parallel.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import sys
from pathlib import Path
from typing import Any

from archlab.errors import UserError

logger = logging.getLogger(__name__)

TRAIN_TARGETS: dict[str, dict[str, str]] = {
    "lm": {
        "gpt2": "archlab.transformer.recipes:gpt2_recipe",
        "llama": "archlab.transformer.recipes:llama_recipe",
        "moe": "archlab.moe.recipes:moe_recipe",
        "mamba": "archlab.ssm.recipes:mamba_recipe",
        "hybrid": "archlab.ssm.recipes:hybrid_recipe",
        "lstm": "archlab.rnn.recipes:lstm_recipe",
        "gru": "archlab.rnn.recipes:gru_recipe",
    },
}


def load_recipe(target: str, arch: str | None) -> Any:
    """The recipe of ``arch`` (default: the target's first) for ``target``."""
    if target not in TRAIN_TARGETS:
        raise UserError(f"unknown training target {target!r}; choose one of {', '.join(TRAIN_TARGETS)}")
    archs = TRAIN_TARGETS[target]
    arch = arch or next(iter(archs))
    if arch not in archs:
        raise UserError(f"--arch {arch!r} is not available for {target}; choose one of {', '.join(archs)}")
    module_name, _, factory = archs[arch].partition(":")
    return getattr(importlib.import_module(module_name), factory)()


def _setup_logging(rank: int) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def build_run_config(args: argparse.Namespace, recipe: Any) -> Any:
    """The run config of ``args``: the recipe's defaults, then ``--data/--steps/--seed``, then ``--set``."""
    from archlab.train.overrides import apply_overrides

    config = recipe.default_config()
    train_updates = {k: v for k, v in (("steps", args.steps), ("seed", args.seed)) if v is not None}
    if args.quiet:
        train_updates["progress"] = False
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, **train_updates))
    if args.data is not None:
        if config.data is None or not any(f.name == "path" for f in dataclasses.fields(config.data)):
            raise UserError(f"--data is not used by {args.target} --arch {args.arch}")
        if not Path(args.data).expanduser().exists():
            raise UserError(f"--data {args.data!r} does not exist; pass a text file or a folder of text files")
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, path=args.data))
    return apply_overrides(config, args.overrides)


def run_train(args: argparse.Namespace) -> int:
    """``archlab train``: build the run config and the task, then ``fit``."""
    import torch

    from archlab.train.checkpoint import seed_everything
    from archlab.train.distributed import init_distributed, shutdown_distributed
    from archlab.train.loop import fit

    recipe = load_recipe(args.target, args.arch)
    config = build_run_config(args, recipe)
    device = config.train.device
    kind = "cuda" if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()) else "cpu"
    context = init_distributed(kind)
    _setup_logging(context.rank)
    try:
        seed_everything(config.train.seed)
        task = recipe.build_task(config)
        result = fit(task, config, args.out, resume=args.resume, context=context)
    finally:
        shutdown_distributed(context)
    if context.is_main:
        evals = {k: v for k, v in (result.history[-1] if result.history else {}).items() if k.startswith("val_")}
        summary = ", ".join(f"{k} {v:.4f}" for k, v in evals.items())
        logger.info("trained %d steps%s; final model in %s", result.step, f" ({summary})" if summary else "",
                    result.final_dir)
    return 0


def resolve_model_dir(path: str | Path) -> Path:
    """A ``final/`` or checkpoint folder as given, or the model inside a run folder (final, else newest checkpoint)."""
    from archlab.train.checkpoint import STATE_NAME, is_complete, latest_checkpoint
    from archlab.train.loop import CHECKPOINTS, FINAL

    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise UserError(f"--ckpt {str(folder)!r} does not exist; pass a run's final/ folder or a checkpoint folder")
    if (folder / STATE_NAME).exists() or folder.name.startswith("step-"):
        if not is_complete(folder):
            raise UserError(f"checkpoint {folder} is incomplete or corrupt; pick another (e.g. the run's final/)")
        return folder
    if (folder / "config.json").exists():
        return folder
    if (folder / FINAL / "config.json").exists():
        return folder / FINAL
    latest = latest_checkpoint(folder / CHECKPOINTS)
    if latest is not None:
        return latest
    raise UserError(f"--ckpt {str(folder)!r} holds no saved model (no config.json, final/ or checkpoints/)")


def run_sample(args: argparse.Namespace) -> int:
    """``archlab sample lm``: load a model and print the prompt with its continuation."""
    from archlab.core.io import load_pretrained
    from archlab.train.lm_task import sample_text

    if args.tokens < 0:
        raise UserError(f"--tokens {args.tokens} must be >= 0")
    model = load_pretrained(resolve_model_dir(args.ckpt))
    if not hasattr(model, "generate"):
        raise UserError(f"{args.ckpt} holds a {type(model).__name__}, which does not generate text")
    text = sample_text(model, args.prompt, max_new_tokens=args.tokens, temperature=args.temperature,
                       top_k=args.top_k, top_p=args.top_p, seed=args.seed)
    sys.stdout.write(text + "\n")
    return 0


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``train`` on an argparse subparsers object."""
    archs = sorted({a for table in TRAIN_TARGETS.values() for a in table})
    p = subparsers.add_parser("train", help="train a model with the one training loop (torchrun for several processes)")
    p.add_argument("target", choices=sorted(TRAIN_TARGETS), help="what to train: lm (a byte-level language model)")
    p.add_argument("--arch", choices=archs, help="architecture preset (default: the target's first, gpt2 for lm)")
    p.add_argument("--data", metavar="PATH", help="a text file or folder (default: the Python standard library's source)")
    p.add_argument("--steps", type=int, metavar="N", help="optimiser steps (train.steps)")
    p.add_argument("--seed", type=int, metavar="N", help="seed of weights, data order and sampling (train.seed)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="set a config value by dotted key, e.g. --set model.n_layers=4 --set optim.lr=3e-4")
    p.add_argument("--out", default="runs/lm", metavar="DIR", help="output folder (default: runs/lm)")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="CKPT",
                   help="continue from the newest complete checkpoint in --out, or from CKPT")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)
    return p


def add_sample_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``sample`` on an argparse subparsers object."""
    p = subparsers.add_parser("sample", help="continue a prompt with a trained language model")
    p.add_argument("target", choices=["lm"], help="what to sample from: lm")
    p.add_argument("--ckpt", required=True, metavar="DIR", help="a run folder, its final/ folder or a checkpoint folder")
    p.add_argument("--prompt", required=True, metavar="TEXT")
    p.add_argument("--tokens", type=int, default=200, metavar="N", help="bytes to generate (default: 200)")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=None, metavar="K")
    p.add_argument("--top-p", type=float, default=None, metavar="P")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_sample)
    return p
