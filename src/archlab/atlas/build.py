"""Run the claims and write the atlas: ``index.html``, ``results.json`` and one PNG per claim.

``run_atlas`` runs every registered claim (or one family's) into an output folder through
``archlab.lab.runner.run_claim``, then ``build_atlas`` writes the page and the machine-readable results.
Progress is reported through an optional callback so that the CLI, not the library, does the printing.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from archlab.atlas.html import render_html
from archlab.lab import registry
from archlab.lab.claim import Claim, Scale
from archlab.lab.runner import ClaimResult, run_claim, versions, write_json

logger = logging.getLogger(__name__)

# Keys every entry of results.json's ``claims`` list carries (more may follow).
RESULT_KEYS = ("id", "family", "statement", "source", "metrics", "holds", "seconds", "scale", "seed")


def build_atlas(
    results: Iterable[ClaimResult],
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
        for result in results:
            if result.figure is not None:
                shutil.copy2(Path(figures_dir) / result.figure, out / result.figure)

    scales = sorted({r.scale for r in results})
    scale = scales[0] if len(scales) == 1 else "mixed"
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    env = versions()
    write_json(
        out / "results.json",
        {
            "claims": [r.to_dict() for r in results],
            "scale": scale,
            "generated": generated,
            "versions": env,
            "summary": {"holds": sum(r.holds for r in results), "total": len(results)},
        },
    )
    page = out / "index.html"
    page.write_text(
        render_html(results, families=registry.families(), scale=scale, generated=generated, versions=env),
        encoding="utf-8",
    )
    logger.info("atlas written to %s", page)
    return page


def run_atlas(
    scale: "Scale | str" = Scale.QUICK,
    *,
    family: str | None = None,
    seed: int = 0,
    out: "str | Path" = "atlas",
    on_start: Callable[[int, int, Claim], None] | None = None,
    on_result: Callable[[int, int, ClaimResult], None] | None = None,
) -> list[ClaimResult]:
    """Run every registered claim (of ``family`` when given) at ``scale`` and build the atlas in ``out``.

    ``on_start(i, n, claim)`` and ``on_result(i, n, result)`` are called around each claim (``i`` counts
    from 1). Unknown families and bad scales raise ``ValueError`` before anything runs.
    """
    scale = Scale.parse(scale)
    claims = registry.all_claims(family)
    results = []
    for i, claim in enumerate(claims, start=1):
        if on_start is not None:
            on_start(i, len(claims), claim)
        result = run_claim(claim, scale=scale, seed=seed, out=out)
        results.append(result)
        if on_result is not None:
            on_result(i, len(claims), result)
    build_atlas(results, out)
    return results
