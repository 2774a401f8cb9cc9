"""Run the claims and write the atlas: ``index.html``, one ``<family>.html`` per family, ``results.json``, PNGs.

``run_atlas`` runs every registered claim, or those of some families and some claim ids (``--only``,
``--claims``), at each seed given, into an output folder through ``archlab.lab.seeds.run_claim_seeds``. When the
folder holds an earlier ``results.json``, a partial run merges with it (``archlab.atlas.results_file``) and every
claim that ran is compared with its earlier result (``archlab.atlas.regressions``). ``build_atlas`` then writes the
pages and the machine-readable results: one entry per claim with its verdict over the seeds and each seed's record
in ``runs``, and the changes since the earlier run in ``changes``.

Each family page carries its generated anatomy when the family holds the hook ``archlab/<family>/anatomy.py``
with ``representative_model() -> (model, inputs[, method])`` (see ``archlab.atlas.anatomy``); its flow figure is saved as
``<family>.anatomy.png``. The index links the arena (``archlab arena lm``) when its page is in the atlas folder,
``ARENA_PAGE`` (run it with ``--out <atlas>/arena``); the latest arena written there is the one linked. The quick
atlas has a budget of claim time, ``CLAIM_TIME_BUDGET_S``, which the CLI
reports against. Progress is reported through optional callbacks so that the CLI, not the library, prints.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

from archlab.atlas.anatomy import anatomize, representative_model
from archlab.atlas.family_page import GeneratedAnatomy, family_description, render_family_page
from archlab.atlas.flow_figure import flow_figure
from archlab.atlas.index_page import render_index
from archlab.atlas.markdown import family_anatomy_text
from archlab.atlas.regressions import Change, compare
from archlab.atlas.results_file import RESULTS_NAME, merge_results, read_results
from archlab.lab import registry
from archlab.lab.claim import Claim, Scale
from archlab.lab.runner import versions, write_json
from archlab.lab.seeds import ClaimVerdict, run_claim_seeds, validate_seeds

logger = logging.getLogger(__name__)

# Keys every entry of results.json's ``claims`` list carries (more may follow); each of its ``runs`` is one
# seed's ``ClaimResult`` record (metrics, holds, seed, figure, command, ...).
RESULT_KEYS = ("id", "family", "statement", "source", "rule", "scale", "seeds", "seeds_required", "seeds_holding",
               "holds", "seconds", "runs")

# The whole quick atlas should take at most this much claim time on 2 CPU cores (issue 21).
CLAIM_TIME_BUDGET_S = 20 * 60

# Where the index looks for the arena's page, relative to the atlas folder (issue 18).
ARENA_PAGE = "arena/index.html"


@dataclass
class AtlasRun:
    """One ``run_atlas``: the claims that ran, every claim on the pages (merged with the earlier run when partial),
    and what changed since the earlier run."""

    ran: list[ClaimVerdict]
    results: list[ClaimVerdict]
    changes: list[Change]

    @property
    def broken(self) -> list[Change]:
        """The claims that held in the earlier run and no longer hold."""
        return [change for change in self.changes if change.broken]


def _generated_anatomy(family: str, out: Path) -> GeneratedAnatomy | None:
    """Measure the family's representative model and save its flow figure; None when it has no hook. A hook that
    raises gives an anatomy with the error, so that one broken hook cannot stop the atlas."""
    try:
        found = representative_model(family)
        if found is None:
            return None
        anatomy = anatomize(*found)
        figure = flow_figure(anatomy)
        name = f"{family}.anatomy.png"
        figure.savefig(out / name, dpi=100, bbox_inches="tight")
    except Exception as exc:  # the page says what broke instead of the anatomy
        logger.debug("anatomy of %s raised", family, exc_info=True)
        return GeneratedAnatomy(error=f"{type(exc).__name__}: {exc}")
    return GeneratedAnatomy(anatomy=anatomy, figure=name)


def build_atlas(
    results: Iterable[ClaimVerdict],
    out: "str | Path",
    *,
    figures_dir: "str | Path | None" = None,
    changes: Sequence[Change] = (),
) -> Path:
    """Write ``<out>/index.html``, one ``<out>/<family>.html`` per family with results and ``<out>/results.json``
    for ``results``; return the index page's path.

    The PNGs are expected in ``out`` (where ``run_atlas`` saves them); when the results were run into
    another folder, pass it as ``figures_dir`` and the PNGs are copied over.
    """
    results = list(results)
    changes = list(changes)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if figures_dir is not None and Path(figures_dir).resolve() != out.resolve():
        for run in (run for result in results for run in result.runs):
            if run.figure is not None:
                shutil.copy2(Path(figures_dir) / run.figure, out / run.figure)

    scales = sorted({r.scale for r in results})
    scale = scales[0] if len(scales) == 1 else "mixed"
    seeds = sorted({seed for r in results for seed in r.seeds})
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    env = versions()
    write_json(
        out / RESULTS_NAME,
        {
            "claims": [r.to_dict() for r in results],
            "scale": scale,
            "seeds": seeds,
            "generated": generated,
            "versions": env,
            "summary": {"holds": sum(r.holds for r in results), "total": len(results),
                        "seconds": round(sum(r.seconds for r in results), 3)},
            "changes": [c.to_dict() for c in changes],
        },
    )
    known = registry.families()
    present = {r.family for r in results}
    families = [f for f in known if f in present] + sorted(present - set(known))
    descriptions = {family: family_description(family) for family in families}
    ids = [r.id for r in results]
    for family in families:
        page = render_family_page(
            family, [r for r in results if r.family == family],
            description=descriptions[family], generated=_generated_anatomy(family, out),
            text=family_anatomy_text(family, ids), changes=changes, families=families)
        (out / f"{family}.html").write_text(page, encoding="utf-8")
    index = out / "index.html"
    index.write_text(
        render_index(results, families=families, descriptions=descriptions, changes=changes, scale=scale,
                     seeds=seeds, generated=generated, versions=env,
                     arena=ARENA_PAGE if (out / ARENA_PAGE).is_file() else None),
        encoding="utf-8",
    )
    logger.info("atlas written to %s", index)
    return index


def select_claims(families: Sequence[str] | None = None, claim_ids: Sequence[str] | None = None) -> list[Claim]:
    """Every registered claim, or those of ``families`` and those named in ``claim_ids`` (the union), in atlas
    order. An unknown family or claim id raises ``ValueError`` naming it and what is known."""
    everything = registry.all_claims()
    if families is None and claim_ids is None:
        return everything
    wanted = set()
    for family in families or ():
        wanted.update(c.id for c in registry.all_claims(family))
    for claim_id in claim_ids or ():
        try:
            wanted.add(registry.get_claim(claim_id).id)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
    return [c for c in everything if c.id in wanted]


def run_atlas(
    scale: "Scale | str" = Scale.QUICK,
    *,
    families: Sequence[str] | None = None,
    claim_ids: Sequence[str] | None = None,
    seeds: Sequence[int] = (0,),
    out: "str | Path" = "atlas",
    on_start: Callable[[int, int, Claim], None] | None = None,
    on_result: Callable[[int, int, ClaimVerdict], None] | None = None,
) -> AtlasRun:
    """Run every registered claim, or those of ``families`` and ``claim_ids``, at ``scale`` and each of ``seeds``,
    and build the atlas in ``out``, merged with the earlier results there when the run is partial.

    ``on_start(i, n, claim)`` and ``on_result(i, n, verdict)`` are called around each claim (``i`` counts
    from 1). Unknown families or claim ids, bad scales, bad seed lists and an ``out/results.json`` that is not an
    atlas's raise ``ValueError`` before anything runs.
    """
    scale = Scale.parse(scale)
    seeds = validate_seeds(seeds)
    claims = select_claims(families, claim_ids)
    earlier = read_results(out) or []
    ran = []
    for i, claim in enumerate(claims, start=1):
        if on_start is not None:
            on_start(i, len(claims), claim)
        result = run_claim_seeds(claim, scale=scale, seeds=seeds, out=out)
        ran.append(result)
        if on_result is not None:
            on_result(i, len(claims), result)
    partial = families is not None or claim_ids is not None
    results = merge_results(earlier, ran, [c.id for c in registry.all_claims()]) if partial else ran
    changes = compare(earlier, ran)
    build_atlas(results, out, changes=changes)
    return AtlasRun(ran, results, changes)
