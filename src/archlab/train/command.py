"""``archlab train <target>``, ``archlab sample <target>`` and ``archlab predict <target>``: the command-line face
of the training loop.

    archlab train TARGET [--arch ARCH] [the target's own options] [--steps N] [--seed N] [--set key=value ...]
                         [--out DIR] [--resume [CKPT]] [--quiet]
    archlab sample TARGET --ckpt DIR [the sampler's own options] [--seed N]
    archlab predict TARGET --ckpt DIR INPUT... [the predictor's own options]
    e.g. archlab train lm --arch llama --data PATH --steps 500
         archlab sample lm --ckpt runs/lm --prompt TEXT --tokens 200
         archlab predict classify --ckpt runs/classify cat.png dog.jpg

``archlab train --help`` lists the targets, ``archlab train TARGET --help`` their architectures and options.
They are not listed here: each family's ``recipes.py`` exports them as
``RECIPES = {target: {arch: recipe}}`` and ``archlab.train.recipe.all_recipes`` discovers them, as claims
are discovered from ``claims.py``. A new family adds ``archlab train <its target> --arch <its model>`` by
writing its ``recipes.py`` only. A recipe (``archlab.train.recipe.Recipe``) gives the run config's defaults
and builds the task; it also brings the target's own options (``add_arguments`` / ``apply_arguments``:
``--data PATH`` for ``lm``), its sampler (``add_sample_arguments`` / ``sample``: text for ``lm``) and its
predictor (``add_predict_arguments`` / ``predict``: the top classes of images for ``classify``), so this
file builds one sub-command per target and knows none of them. The run config is the recipe's defaults,
then ``--steps/--seed/--quiet``, then the recipe's options, then ``--set`` (dotted keys,
``archlab.train.overrides``). Under ``torchrun`` every process runs this command and the loop trains
data-parallel.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from archlab.errors import UserError
from archlab.seed_option import seed_option
from archlab.train.recipe import Recipe, all_recipes, predictors, samplers

logger = logging.getLogger(__name__)


def _setup_logging(rank: int) -> None:
    """Log lines through the console of the progress bar (``stderr_console``), so they print above it."""
    from rich.logging import RichHandler

    from archlab.train.progress import stderr_console

    root = logging.getLogger()
    if not root.handlers:
        handler = RichHandler(console=stderr_console(), show_time=False, show_path=False, markup=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO if rank == 0 else logging.WARNING)


def build_run_config(args: argparse.Namespace, recipe: Recipe) -> Any:
    """The run config of ``args``: the recipe's defaults, then ``--steps/--seed/--quiet``, then the recipe's own
    options, then ``--set``."""
    from archlab.train.overrides import apply_overrides

    config = recipe.default_config()
    train_updates = {k: v for k, v in (("steps", args.steps), ("seed", args.seed)) if v is not None}
    if args.quiet:
        train_updates["progress"] = False
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, **train_updates))
    config = recipe.apply_arguments(config, args)
    return apply_overrides(config, args.overrides)


def config_lines(config: Any) -> list[str]:
    """``key=value`` for every ``--set`` key of the run ``config``, with the value it holds."""
    from archlab.train.overrides import valid_keys

    lines = []
    for key in valid_keys(config):
        value = config
        for part in key.split("."):
            value = getattr(value, part)
        lines.append(f"{key}={value}")
    return lines


def run_train(args: argparse.Namespace) -> int:
    """``archlab train``: build the run config and the task, then ``fit`` (with ``--print-config``: print the
    run config, every ``--set`` key with its value, and stop)."""
    import torch

    from archlab.train.checkpoint import seed_everything
    from archlab.train.distributed import init_distributed, shutdown_distributed
    from archlab.train.loop import RUN_OUTPUTS, fit
    from archlab.train.run_folder import claim_run_folder

    if args.resume and args.overwrite:
        raise UserError("--resume continues the run in --out and --overwrite replaces it; pass one of them")
    recipe = all_recipes()[args.target][args.arch]
    config = build_run_config(args, recipe)
    if args.print_config:
        sys.stdout.write("".join(line + "\n" for line in config_lines(config)))
        return 0
    out = Path(args.out)
    device = config.train.device
    kind = "cuda" if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()) else "cpu"
    context = init_distributed(kind)
    _setup_logging(context.rank)
    try:
        claim = (claim_run_folder(out, outputs=RUN_OUTPUTS, resume=bool(args.resume), overwrite=args.overwrite)
                 if context.is_main else nullcontext())
        with claim:  # before the data is loaded: a second run into this folder stops here
            seed_everything(config.train.seed)
            task = recipe.build_task(config)
            result = fit(task, config, out, resume=args.resume, overwrite=args.overwrite,
                         allow_changes=args.allow_changes, context=context)
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
    """``archlab sample``: load the model in ``--ckpt`` and write what the target's sampler returns."""
    from archlab.core.io import load_pretrained

    model = load_pretrained(resolve_model_dir(args.ckpt))
    sys.stdout.write(samplers()[args.target].sample(model, args) + "\n")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """``archlab predict``: load the model in ``--ckpt`` and write what the target's predictor returns."""
    from archlab.core.io import load_pretrained

    model = load_pretrained(resolve_model_dir(args.ckpt))
    sys.stdout.write(predictors()[args.target].predict(model, args) + "\n")
    return 0


def _state_defaults(parser: argparse.ArgumentParser) -> None:
    """End the help of every option of ``parser`` that does not state its default with ``(default: ...)``."""
    for action in parser._actions:
        if not action.option_strings or action.required or isinstance(action, argparse._HelpAction):
            continue
        if "default" not in (action.help or "").lower():
            shown = {False: "off", None: "none"}.get(action.default, action.default)
            action.help = f"{action.help or action.dest.replace('_', ' ')} (default: {shown})"


def add_train_parser(subparsers: Any, *, discover: bool) -> argparse.ArgumentParser:
    """Register ``train`` on an argparse subparsers object, one sub-command per discovered target; with
    ``discover=False`` by its name and help alone, for a command line that runs another command (discovering
    the targets imports every family's recipes, and torch)."""
    p = subparsers.add_parser("train", help="train a model with the one training loop (torchrun for several processes)")
    if not discover:
        return p
    targets = p.add_subparsers(dest="target", metavar="TARGET", required=True)
    for target, archs in all_recipes().items():
        first = next(iter(archs.values()))
        t = targets.add_parser(target, help=f"train {first.summary}")
        t.add_argument("--arch", choices=list(archs), default=next(iter(archs)),
                       help=f"architecture (default: {next(iter(archs))})")
        first.add_arguments(t)
        t.add_argument("--steps", type=int, metavar="N", help="optimiser steps (train.steps)")
        t.add_argument("--seed", type=seed_option, metavar="N",
                       help="seed of weights, data order and sampling, any integer, taken modulo 2**64 (train.seed)")
        t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="set a config value by dotted key, e.g. --set model.n_layers=4 --set optim.lr=3e-4")
        t.add_argument("--out", default=f"runs/{target}", metavar="DIR", help=f"output folder (default: runs/{target})")
        t.add_argument("--resume", nargs="?", const=True, default=False, metavar="CKPT",
                       help="continue from the newest complete checkpoint in --out, or from CKPT")
        t.add_argument("--overwrite", action="store_true",
                       help="replace the run already in --out (its final/, checkpoints and metrics are deleted)")
        t.add_argument("--allow-changes", action="store_true",
                       help="with --resume: accept data, optim or train settings that differ from the checkpoint's "
                            "(the run then no longer matches an uninterrupted one)")
        t.add_argument("--quiet", action="store_true", help="no progress bar")
        t.add_argument("--print-config", action="store_true",
                       help="print the run config (every --set key with its value, defaults included) and exit")
        t.set_defaults(func=run_train)
    return p


def _add_checkpoint_targets(p: argparse.ArgumentParser, recipes: dict[str, Any], *, verb: str,
                            add_arguments: str, func: Any, seeded: bool) -> None:
    """One sub-command per target of ``recipes`` under ``p``: ``--ckpt``, the recipe's own options (its method
    ``add_arguments``), ``--seed`` when ``seeded``; ``func`` runs it."""
    targets = p.add_subparsers(dest="target", metavar="TARGET", required=True)
    for target, recipe in recipes.items():
        t = targets.add_parser(target, help=f"{verb} {recipe.summary}")
        t.add_argument("--ckpt", required=True, metavar="DIR",
                       help="a run folder, its final/ folder or a checkpoint folder")
        getattr(recipe, add_arguments)(t)
        if seeded:
            t.add_argument("--seed", type=seed_option, default=0, metavar="N",
                           help="seed of the sampler, any integer, taken modulo 2**64 (default: 0)")
        _state_defaults(t)
        t.set_defaults(func=func)


def add_sample_parser(subparsers: Any, *, discover: bool) -> argparse.ArgumentParser:
    """Register ``sample`` on an argparse subparsers object, one sub-command per target that has a sampler;
    with ``discover=False`` by its name and help alone, as ``add_train_parser``."""
    p = subparsers.add_parser("sample", help="sample from a trained model (lm: continue a prompt)")
    if discover:
        _add_checkpoint_targets(p, samplers(), verb="sample from", add_arguments="add_sample_arguments",
                                func=run_sample, seeded=True)
    return p


def add_predict_parser(subparsers: Any, *, discover: bool) -> argparse.ArgumentParser:
    """Register ``predict`` on an argparse subparsers object, one sub-command per target that has a predictor;
    with ``discover=False`` by its name and help alone, as ``add_train_parser``."""
    p = subparsers.add_parser("predict", help="apply a trained model to inputs (e.g. the top classes of images)")
    if discover:
        _add_checkpoint_targets(p, predictors(), verb="predict with", add_arguments="add_predict_arguments",
                                func=run_predict, seeded=False)
    return p
