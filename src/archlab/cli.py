"""The ``archlab`` command: ``list | run | atlas | bench | train | sample``.

Mistakes a user can make (an unknown claim, family or benchmark, a bad option value, a missing GPU) print
one line, ``archlab: error: ...``, and exit with code 2; set ``ARCHLAB_DEBUG=1`` to see the traceback
instead. A claim's verdict is a result, not an error: ``run`` and ``atlas`` exit 0 whether claims hold
or not. torch, matplotlib and rich are imported inside the commands that need them, so that
``archlab --help`` starts at once; the ``train`` and ``sample`` targets, which import every family's
``recipes.py`` and torch with them, are discovered only when the command line names ``train`` or ``sample``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from archlab import __version__
from archlab.errors import UserError
from archlab.train.command import add_sample_parser, add_train_parser

SCALES = ("quick", "full")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``archlab run: error: argument --scale: invalid choice ...``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _one_line(exc: BaseException) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(str(text).split()) or type(exc).__name__


def _console():
    from rich.console import Console

    return Console(highlight=False)


def _plain(text) -> str:
    """Text from a claim, shown as written: square brackets in it are not rich markup."""
    from rich.markup import escape

    return escape(str(text))


def _verdict_markup(result) -> str:
    from archlab.atlas.html import verdict

    colour = "green" if result.holds else "red"
    return f"[bold {colour}]{verdict(result)}[/]"


def _key_metric_text(result) -> str:
    from archlab.atlas.html import format_value

    if result.key_metric is None:
        return "-"
    return _plain(f"{result.key_metric} = {format_value(result.key_value)}")


# -- list ---------------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from archlab.lab.registry import all_claims

    claims = all_claims(args.family)
    table = Table(title=f"{len(claims)} claims", title_justify="left")
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("family")
    table.add_column("statement")
    for c in claims:
        table.add_row(c.id, c.family, _plain(c.statement))
    _console().print(table)
    return 0


# -- run ----------------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from archlab.atlas.html import format_value
    from archlab.lab.registry import get_claim
    from archlab.lab.runner import run_claim

    try:
        claim = get_claim(args.claim_id)
    except KeyError as exc:
        raise UserError(_one_line(exc)) from None
    console = _console()
    console.print(f"[bold]{claim.id}[/] ({args.scale} scale, seed {args.seed})")
    console.print(_plain(claim.statement))
    console.print(f"[italic]{_plain(claim.source)}[/]")
    with console.status(f"running {claim.id} ..."):
        result = run_claim(claim, scale=args.scale, seed=args.seed, out=args.out)

    table = Table(show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result.metrics.items():
        name_text = f"[bold]{_plain(name)}[/]" if name == result.key_metric else _plain(name)
        table.add_row(name_text, _plain(format_value(value)))
    if result.metrics:
        console.print(table)
    console.print(f"rule: {_plain(result.rule)}")
    if result.error is not None:
        console.print(f"[red]error: {_plain(result.error)}[/]")
    console.print(f"verdict: {_verdict_markup(result)} ({result.seconds:.1f} s)")
    saved = [f"{args.out}/{result.id}.json"] + ([f"{args.out}/{result.figure}"] if result.figure else [])
    console.print(f"saved {', '.join(saved)}")
    return 0


# -- atlas --------------------------------------------------------------------------------------------


def cmd_atlas(args: argparse.Namespace) -> int:
    from rich.table import Table

    from archlab.atlas.build import run_atlas

    console = _console()
    status = console.status("")

    def on_start(i: int, n: int, claim) -> None:
        status.update(f"[{i}/{n}] running {claim.id} ...")

    def on_result(i: int, n: int, result) -> None:
        slow = " [yellow](over 60 s)[/]" if result.scale == "quick" and result.seconds > 60 else ""
        detail = _plain(result.error) if result.error is not None else _key_metric_text(result)
        console.print(
            f"[{i}/{n}] {result.id}  {_verdict_markup(result)}  {detail}  {result.seconds:.1f} s{slow}"
        )

    with status:
        results = run_atlas(args.scale, family=args.only, seed=args.seed, out=args.out,
                            on_start=on_start, on_result=on_result)

    table = Table(title=f"{sum(r.holds for r in results)} / {len(results)} claims hold", title_justify="left")
    table.add_column("claim", no_wrap=True)
    table.add_column("verdict")
    table.add_column("key metric")
    table.add_column("seconds", justify="right")
    for r in results:
        table.add_row(r.id, _verdict_markup(r), _key_metric_text(r), f"{r.seconds:.1f}")
    console.print(table)
    console.print(f"wrote {args.out}/index.html, {args.out}/results.json and one PNG per claim")
    return 0


# -- bench --------------------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    from rich.table import Table

    from archlab.bench.registry import all_benchmarks, get_benchmark, run_benchmark

    benches = [get_benchmark(args.name)] if args.name else all_benchmarks()
    console = _console()
    for bench in benches:
        with console.status(f"running {bench.name}: {bench.description} ..."):
            result = run_benchmark(bench.name, device=args.device, repeats=args.repeats, size=args.size,
                                   out=args.out)
        table = Table(title=f"{bench.name} on {args.device}", title_justify="left",
                      caption=f"peer: {result.peer}", caption_justify="left")
        table.add_column("")
        table.add_column("archlab", justify="right")
        table.add_column("peer", justify="right")
        table.add_row(f"{result.unit}/s (median of {len(result.archlab_times)})",
                      f"{result.archlab_throughput:,.0f}", f"{result.peer_throughput:,.0f}")
        if "archlab_mfu" in result.extra:
            table.add_row("share of the fp32 matmul peak (MFU)",
                          f"{result.extra['archlab_mfu']:.1%}", f"{result.extra['peer_mfu']:.1%}")
        console.print(table)
        verdict_text = ""
        if result.target is not None:
            met = "[green]met[/]" if result.meets_target else "[red]missed[/]"
            verdict_text = f", target >= {result.target:.2f}x {met}"
        console.print(f"speedup [bold]{result.speedup:.2f}x[/] (peer time / archlab time; > 1: archlab faster)"
                      f"{verdict_text}")
        console.print(f"wrote {args.out}/{bench.name}.json")
    return 0


# -- the parser ---------------------------------------------------------------------------------------


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``archlab`` parser for a command line that names ``command``: the ``train`` / ``sample`` targets
    are discovered for that command only, the other of the two registered by its name and help alone."""
    parser = _Parser(
        prog="archlab",
        description="Architecture families from shared, tested blocks; every known mechanism a measured claim.",
    )
    parser.add_argument("--version", action="version", version=f"archlab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = subparsers.add_parser("list", help="list the registered claims")
    p.add_argument("--family", help="only the claims of this family")
    p.set_defaults(func=cmd_list)

    p = subparsers.add_parser("run", help="run one claim: metrics, verdict, figure and a JSON record")
    p.add_argument("claim_id", metavar="CLAIM_ID", help="e.g. transformer.induction-heads (see `archlab list`)")
    p.add_argument("--scale", choices=SCALES, default="quick",
                   help="quick: CPU, under a minute; full: closer to the paper")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/claims",
                   help="folder for <claim>.png and <claim>.json (default: runs/claims)")
    p.set_defaults(func=cmd_run)

    p = subparsers.add_parser("atlas", help="run every claim and write the atlas (index.html, results.json, PNGs)")
    p.add_argument("--scale", choices=SCALES, default="quick")
    p.add_argument("--only", metavar="FAMILY", help="only the claims of this family")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="atlas", help="output folder (default: atlas)")
    p.set_defaults(func=cmd_atlas)

    p = subparsers.add_parser("bench", help="benchmark archlab against a peer library, side by side")
    p.add_argument("name", nargs="?", metavar="NAME", help="one benchmark (default: all), e.g. lm-train")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--repeats", type=int, help="timed repeats per side (default: the benchmark's own)")
    p.add_argument("--size", choices=("default", "tiny"), default="default",
                   help="tiny: a seconds-long smoke run instead of the published configuration")
    p.add_argument("--out", default="bench-results", help="folder for <name>.json (default: bench-results)")
    p.set_defaults(func=cmd_bench)

    add_train_parser(subparsers, discover=command == "train")
    add_sample_parser(subparsers, discover=command == "sample")
    return parser


def _named_command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first word that is not an option (``archlab``'s own options take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_named_command(argv))
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except (UserError, ValueError) as exc:
        if os.environ.get("ARCHLAB_DEBUG"):
            raise
        print(f"archlab: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("archlab: interrupted", file=sys.stderr)
        return 130
