"""The atlas: a shelf of pages, one per family (its generated anatomy, mechanism, claims, and what maps and what
breaks), an index of every claim, and the changes since the last run; static HTML, PNGs and ``results.json``.

The family hook for the generated anatomy is ``archlab/<family>/anatomy.py`` with ``representative_model()``
(see ``archlab.atlas.anatomy``); the family's prose is ``archlab/<family>/anatomy.md`` (``archlab.atlas.markdown``).
"""

from archlab.atlas.build import CLAIM_TIME_BUDGET_S, RESULT_KEYS, AtlasRun, build_atlas, run_atlas

__all__ = ["CLAIM_TIME_BUDGET_S", "RESULT_KEYS", "AtlasRun", "build_atlas", "run_atlas"]
