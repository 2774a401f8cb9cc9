"""``archlab arena lm``: the command line of the arena (``archlab.arena.run``, ``archlab.arena.report``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from archlab.errors import UserError

logger = logging.getLogger(__name__)


def _archs(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no architecture")
    return names


def add_arena_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("arena", help="train every lm architecture at a matched size; rank them in one table")
    p.add_argument("target", choices=("lm",), help="what to compare: lm (byte-level language models)")
    p.add_argument("--data", metavar="PATH", help="a text file or folder (default: the standard-library corpus)")
    p.add_argument("--budget", choices=("quick", "full"), default="quick")
    p.add_argument("--archs", type=_archs, metavar="A,B,...", help="the lm architectures (default: every one)")
    p.add_argument("--sweep", action="store_true",
                   help="sweep the learning rate at this budget's own sizes (3e-4, 1e-3, 3e-3, and 1e-2 when 3e-3 is "
                   "best; seed 0, the budget's steps) instead of taking the recorded rate; full always sweeps")
    p.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds 0 .. N-1 per architecture (default 1)")
    p.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="fp32",
                   help="training precision (default fp32)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="results.json, index.html, figures; a rerun into it skips finished architectures; "
                   "<atlas folder>/arena is linked from the atlas's index")
    p.set_defaults(func=cmd_arena)
    return p


def cmd_arena(args: argparse.Namespace) -> int:
    from archlab.arena.report import write_report
    from archlab.arena.run import BUDGETS, ArenaConfig, run_arena, swept
    from archlab.train.recipe import all_recipes

    if args.seeds < 1:
        raise UserError(f"--seeds {args.seeds} must be >= 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    archs = args.archs or tuple(all_recipes().get("lm", {}))
    budget = swept(BUDGETS[args.budget]) if args.sweep else BUDGETS[args.budget]
    config = ArenaConfig(archs=archs, budget=budget, seeds=args.seeds, data=args.data,
                         precision=args.precision)
    records = run_arena(config, Path(args.out))
    path = write_report(records, config.settings(), Path(args.out))
    logger.info("wrote %s", path)
    return 0
