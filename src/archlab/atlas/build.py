"""Run the claims and write the atlas: ``index.html``, ``results.json`` and one PNG per claim and seed.

``run_atlas`` runs every registered claim (or one family's) at each seed given into an output folder through
``archlab.lab.seeds.run_claim_seeds``, then ``build_atlas`` writes the page and the machine-readable results:
one entry per claim with its verdict over the seeds and each seed's record in ``runs``.
Progress is reported through an optional callback so that the CLI, not the library, does the printing.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

from archlab.atlas.html import render_html
from archlab.lab import registry
from archlab.lab.claim import Claim, Scale
from archlab.lab.runner import versions, write_json
from archlab.lab.seeds import ClaimVerdict, run_claim_seeds, validate_seeds

logger = logging.getLogger(__name__)

# Keys every entry of results.json's ``claims`` list carries (more may follow); each of its ``runs`` is one
# seed's ``ClaimResult`` record (metrics, holds, seed, figure, command, ...).
RESULT_KEYS = ("id", "family", "statement", "source", "rule", "scale", "seeds", "seeds_required", "seeds_holding",
               "holds", "seconds", "runs")


def build_atlas(
    results: Iterable[ClaimVerdict],
    out: "str | Path",
    *,
    figures_dir: "str | Path | None" = None,
) -> Path:
    """Write ``<out>/index.html`` and ``<out>/results.json`` for ``results``; return the page's path.

    The PNGs are expected in ``out`` (where ``run_atlas`` saves them); when the results were run into
    another folder, pass it as ``figures_dir`` and the PNGs are copied over.
    """
    results = list(results)
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
        out / "results.json",
        {
            "claims": [r.to_dict() for r in results],
            "scale": scale,
            "seeds": seeds,
            "generated": generated,
            "versions": env,
            "summary": {"holds": sum(r.holds for r in results), "total": len(results)},
        },
    )
    page = out / "index.html"
    page.write_text(
        render_html(results, families=registry.families(), scale=scale, seeds=seeds, generated=generated,
                    versions=env),
        encoding="utf-8",
    )
    logger.info("atlas written to %s", page)
    return page


def run_atlas(
    scale: "Scale | str" = Scale.QUICK,
    *,
    family: str | None = None,
    seeds: Sequence[int] = (0,),
    out: "str | Path" = "atlas",
    on_start: Callable[[int, int, Claim], None] | None = None,
    on_result: Callable[[int, int, ClaimVerdict], None] | None = None,
) -> list[ClaimVerdict]:
    """Run every registered claim (of ``family`` when given) at ``scale`` and each of ``seeds``, and build the
    atlas in ``out``.

    ``on_start(i, n, claim)`` and ``on_result(i, n, verdict)`` are called around each claim (``i`` counts
    from 1). Unknown families, bad scales and bad seed lists raise ``ValueError`` before anything runs.
    """
    scale = Scale.parse(scale)
    seeds = validate_seeds(seeds)
    claims = registry.all_claims(family)
    results = []
    for i, claim in enumerate(claims, start=1):
        if on_start is not None:
            on_start(i, len(claims), claim)
        result = run_claim_seeds(claim, scale=scale, seeds=seeds, out=out)
        results.append(result)
        if on_result is not None:
            on_result(i, len(claims), result)
    build_atlas(results, out)
    return results
