"""The ``archlab`` command: ``list | run | atlas | bench | train | sample | predict``.

Mistakes a user can make (an unknown claim, family or benchmark, a bad option value, a missing GPU) print
one line, ``archlab: error: ...``, and exit with code 2; set ``ARCHLAB_DEBUG=1`` to see the traceback
instead. A command that writes checks its ``--out`` folder before any work (``archlab.outputs``), and an
``OSError`` that still escapes (a full disk) is one line with exit code 2 too. A claim's verdict is a result,
not an error: ``run`` and ``atlas`` exit 0 whether claims hold or not, except that ``atlas`` exits 1, with one
line naming them, when claims that held in the earlier atlas of its ``--out`` folder no longer hold (a regression,
caught like a failing test). torch, matplotlib and rich are imported inside the commands that need them, so that
``archlab --help`` starts at once; the ``train``, ``sample`` and ``predict`` targets, which import every family's
``recipes.py`` and torch with them, are discovered only when the command line names that command.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from archlab import __version__
from archlab.arena.command import add_arena_parser
from archlab.errors import UserError
from archlab.outputs import check_output_dir
from archlab.seed_option import SEED_MODULUS, seed_option
from archlab.train.command import add_predict_parser, add_sample_parser, add_train_parser

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
    """The key metric at each seed of a ``ClaimVerdict``: ``abs_mean = 0.01, 0.03`` (``-`` where a seed has none)."""
    from archlab.atlas.html import format_value

    if result.key_metric is None:
        return "-"
    values = ", ".join(format_value(run.metrics[result.key_metric]) if result.key_metric in run.metrics else "-"
                       for run in result.runs)
    return _plain(f"{result.key_metric} = {values}")


def _seed_list(text: str) -> list[int]:
    """The value of ``--seeds``: comma-separated ints (``0,1,2``) taken modulo 2**64, at least one, none repeated."""
    from archlab.lab.seeds import validate_seeds

    try:
        seeds = [int(part) % SEED_MODULUS for part in text.split(",")]  # the one rule of archlab.seed_option
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} must be comma-separated ints, e.g. 0,1,2") from None
    try:
        return validate_seeds(seeds)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seeds(args: argparse.Namespace) -> list[int]:
    """The seeds a command line asks for: ``--seeds``, else ``--seed``, else seed 0."""
    if args.seeds is not None:
        return args.seeds
    return [0 if args.seed is None else args.seed]


def _add_seed_options(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--seed", type=seed_option, metavar="N",
                       help="run at this one seed, any integer, taken modulo 2**64 (default: 0)")
    group.add_argument("--seeds", type=_seed_list, metavar="N,N,...",
                       help="run at each of these seeds; a claim holds when its rule holds at every seed "
                            "(or at the share of seeds the claim itself states)")


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

    from archlab.atlas.html import format_value, seeds_text, verdict
    from archlab.lab.registry import get_claim
    from archlab.lab.seeds import run_claim_seeds, seed_stem

    try:
        claim = get_claim(args.claim_id)
    except KeyError as exc:
        raise UserError(_one_line(exc)) from None
    seeds = _seeds(args)
    console = _console()
    seeds_label = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
    console.print(f"[bold]{claim.id}[/] ({args.scale} scale, {seeds_label})")
    console.print(_plain(claim.statement))
    console.print(f"[italic]{_plain(claim.source)}[/]")
    with console.status(f"running {claim.id} ..."):
        result = run_claim_seeds(claim, scale=args.scale, seeds=seeds, out=args.out)

    table = Table(show_header=True)
    table.add_column("metric")
    for run in result.runs:
        table.add_column("value" if len(seeds) == 1 else f"seed {run.seed}", justify="right")
    names = list(dict.fromkeys(name for run in result.runs for name in run.metrics))
    for name in names:
        name_text = f"[bold]{_plain(name)}[/]" if name == result.key_metric else _plain(name)
        table.add_row(name_text, *(_plain(format_value(run.metrics[name])) if name in run.metrics else "-"
                                   for run in result.runs))
    if len(seeds) > 1:
        table.add_row("verdict", *(verdict(run) for run in result.runs))
    if names:
        console.print(table)
    console.print(f"rule: {_plain(result.rule)}")
    if result.error is not None:
        console.print(f"[red]error: {_plain(result.error)}[/]")
    console.print(f"verdict: {_verdict_markup(result)}; {seeds_text(result)}; {result.seconds:.1f} s")
    per_seed = [seed_stem(result.id, seed) for seed in seeds] if len(seeds) > 1 else []
    records = [f"{args.out}/{stem}.json" for stem in [result.id, *per_seed]]
    figures = [f"{args.out}/{run.figure}" for run in result.runs if run.figure]
    console.print(f"saved {', '.join(records + figures)}")
    return 0


# -- atlas --------------------------------------------------------------------------------------------


def _names(text: str) -> list[str]:
    """The value of ``--only`` / ``--claims``: comma-separated names, at least one."""
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r} must be comma-separated names, none empty")
    return names


def _budget_text(seconds: float, scale: str) -> str:
    """The claim time so far, against the quick atlas's budget: ``claim time 3.2 / 20 min``."""
    from archlab.atlas.build import CLAIM_TIME_BUDGET_S

    if scale != "quick":
        return f"claim time {seconds / 60:.1f} min"
    colour = "red" if seconds > CLAIM_TIME_BUDGET_S else "default"
    return f"[{colour}]claim time {seconds / 60:.1f} / {CLAIM_TIME_BUDGET_S / 60:.0f} min budget[/]"


def cmd_atlas(args: argparse.Namespace) -> int:
    from rich.table import Table

    from archlab.atlas.build import CLAIM_TIME_BUDGET_S, run_atlas
    from archlab.atlas.html import change_text, seeds_text

    console = _console()
    status = console.status("")
    elapsed = [0.0]

    def on_start(i: int, n: int, claim) -> None:
        status.update(f"[{i}/{n}] running {claim.id} ...")

    def on_result(i: int, n: int, result) -> None:
        slow = " [yellow](a seed over 60 s)[/]" if result.scale == "quick" and any(
            run.seconds > 60 for run in result.runs) else ""
        detail = _plain(result.error or result.skipped or "") or _key_metric_text(result)
        elapsed[0] += result.seconds
        console.print(
            f"[{i}/{n}] {result.id}  {_verdict_markup(result)}  {seeds_text(result)}  {detail}  "
            f"{result.seconds:.1f} s{slow}  ({_budget_text(elapsed[0], args.scale)})"
        )

    with status:
        atlas = run_atlas(args.scale, families=args.only, claim_ids=args.claims, seeds=_seeds(args), out=args.out,
                          on_start=on_start, on_result=on_result)
    results = atlas.ran

    table = Table(title=f"{sum(r.holds for r in results)} / {len(results)} claims hold", title_justify="left")
    table.add_column("claim", no_wrap=True)
    table.add_column("verdict")
    table.add_column("seeds")
    table.add_column("key metric")
    table.add_column("seconds", justify="right")
    for r in results:
        table.add_row(r.id, _verdict_markup(r), f"{r.seeds_holding} / {len(r.runs)} (needs {r.seeds_required})",
                      _key_metric_text(r), f"{r.seconds:.1f}")
    console.print(table)
    over = args.scale == "quick" and elapsed[0] > CLAIM_TIME_BUDGET_S
    console.print(f"{_budget_text(elapsed[0], args.scale)}{' [red](over budget)[/]' if over else ''}")
    for change in atlas.changes:
        console.print(f"changed since the last run: {change.id}: {_plain(_unescape(change_text(change)))}")
    console.print(f"wrote {args.out}/index.html, one page per family, {args.out}/results.json and the PNGs")
    if atlas.broken:
        console.print(f"[bold red]regression: no longer hold: {', '.join(c.id for c in atlas.broken)}[/]")
        return 1
    return 0


def _unescape(text: str) -> str:
    """HTML from the atlas as terminal text (``&rarr;`` as an arrow)."""
    import html

    return html.unescape(text)


# -- bench --------------------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    from rich.table import Table

    from archlab.bench.registry import all_benchmarks, get_benchmark, run_benchmark

    benches = [get_benchmark(args.name)] if args.name else all_benchmarks()
    console = _console()
    for bench in benches:
        with console.status(f"running {bench.name}: {bench.description} ..."):
            result = run_benchmark(bench.name, device=args.device, repeats=args.repeats, size=args.size,
                                   out=args.out, precision=args.precision)
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
    _add_seed_options(p)
    p.add_argument("--out", default="runs/claims",
                   help="folder for <claim>.png and <claim>.json, <claim>.seed<N>.* per seed with --seeds "
                        "(default: runs/claims)")
    p.set_defaults(func=cmd_run)

    p = subparsers.add_parser("atlas", help="run every claim and write the atlas (index.html, results.json, PNGs)")
    p.add_argument("--scale", choices=SCALES, default="quick")
    p.add_argument("--only", type=_names, metavar="FAMILY[,FAMILY]",
                   help="only the claims of these families; the rest of an earlier atlas in --out is kept")
    p.add_argument("--claims", type=_names, metavar="ID[,ID]",
                   help="only these claims (with --only: these as well); the rest of an earlier atlas is kept")
    _add_seed_options(p)
    p.add_argument("--out", default="atlas",
                   help="output folder (default: atlas); an earlier results.json there is compared with, and "
                        "the exit code is 1 when a claim that held no longer holds")
    p.set_defaults(func=cmd_atlas)

    p = subparsers.add_parser("bench", help="benchmark archlab against a peer library, side by side")
    p.add_argument("name", nargs="?", metavar="NAME", help="one benchmark (default: all), e.g. lm-train")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--repeats", type=int, help="timed repeats per side (default: the benchmark's own)")
    p.add_argument("--size", choices=("default", "tiny"), default="default",
                   help="tiny: a seconds-long smoke run instead of the published configuration")
    p.add_argument("--precision", choices=("fp32", "bf16"),
                   help="bf16: both sides under the same bf16 autocast (benchmarks with that option, e.g. lm-train)")
    p.add_argument("--out", default="bench-results", help="folder for <name>.json (default: bench-results)")
    p.set_defaults(func=cmd_bench)

    add_arena_parser(subparsers)
    add_train_parser(subparsers, discover=command == "train")
    add_sample_parser(subparsers, discover=command == "sample")
    add_predict_parser(subparsers, discover=command == "predict").epilog = (
        "TARGET may be left out (archlab predict --ckpt DIR INPUT...): it is then the predict target of the "
        "family whose model --ckpt holds")
    return parser


def _with_predict_target(argv: list[str]) -> list[str]:
    """``predict --ckpt DIR INPUT...`` as ``predict TARGET --ckpt DIR INPUT...``: when the word after ``predict``
    is an option (not ``--help``) or an existing input, the target is read from the checkpoint. Its
    ``config.json`` names the model's class (``archlab.<family>.<module>:<Class>``), and the target is the one
    predict target that the family's ``recipes.py`` exports; a missing or unsaved ``--ckpt`` is a ``UserError``."""
    from archlab.core.io import read_config
    from archlab.families import family_modules
    from archlab.train.command import resolve_model_dir
    from archlab.train.recipe import predictors

    at = argv.index("predict") + 1
    targets = predictors()
    rest = argv[at:]
    ckpt = [rest[i + 1] for i, word in enumerate(rest[:-1]) if word == "--ckpt"]
    ckpt += [word.split("=", 1)[1] for word in rest if word.startswith("--ckpt=")]
    named = rest and not rest[0].startswith("-") and not Path(rest[0]).exists()  # a target, or a mistyped one
    if not rest or named or rest[0] in targets or rest[0] in ("-h", "--help") or not ckpt:
        return argv
    model_dir = resolve_model_dir(ckpt[-1])
    class_path = str(read_config(model_dir).get("archlab_class", ""))
    parts = class_path.split(":")[0].split(".")
    recipes = family_modules("recipes").get(parts[1]) if len(parts) > 2 and parts[0] == "archlab" else None
    found = [t for t in getattr(recipes, "RECIPES", {}) if t in targets]
    if len(found) != 1:
        raise UserError(f"cannot tell the predict target of {model_dir} (model {class_path or 'unknown'}); name it: "
                        f"archlab predict TARGET --ckpt DIR ..., TARGET one of {', '.join(targets)}")
    return [*argv[:at], found[0], *rest]


def _named_command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first word that is not an option (``archlab``'s own options take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _named_command(argv)
    parser = build_parser(command)
    try:
        args = parser.parse_args(_with_predict_target(argv) if command == "predict" else argv)
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return 2
        if getattr(args, "out", None) is not None:
            check_output_dir(args.out)  # every command that writes: before any work
        return int(args.func(args) or 0)
    except (UserError, ValueError, OSError) as exc:
        if os.environ.get("ARCHLAB_DEBUG"):
            raise
        print(f"archlab: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("archlab: interrupted", file=sys.stderr)
        return 130
