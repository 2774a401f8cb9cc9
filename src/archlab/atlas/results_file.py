"""Reading an earlier ``results.json`` back, and merging a partial run into it.

``archlab atlas --only FAMILY`` or ``--claims ID`` into a folder that holds an earlier atlas reruns those claims
and keeps every other claim's earlier entry, so the pages always show every claim the folder has a result for.
A full run replaces the folder's results. Earlier entries of claims no longer registered are dropped.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable

from archlab.lab.runner import ClaimResult
from archlab.lab.seeds import ClaimVerdict

RESULTS_NAME = "results.json"

_RUN_FIELDS = {f.name for f in fields(ClaimResult)}


def verdict_from_dict(entry: dict[str, Any]) -> ClaimVerdict:
    """One entry of ``results.json``'s ``claims`` list as the ``ClaimVerdict`` that wrote it."""
    runs = [ClaimResult(**{k: v for k, v in run.items() if k in _RUN_FIELDS}) for run in entry["runs"]]
    quorum = entry.get("seed_quorum")
    return ClaimVerdict(entry["id"], entry["family"], entry["statement"], entry["source"], entry["rule"],
                        entry["scale"], tuple(quorum) if quorum is not None else None, runs)


def read_results(out: "str | Path") -> list[ClaimVerdict] | None:
    """The claims of ``<out>/results.json``, or None when there is none; a file that is not an atlas's results
    raises ``ValueError`` naming it."""
    path = Path(out) / RESULTS_NAME
    if not path.is_file():
        return None
    try:
        return [verdict_from_dict(entry) for entry in json.loads(path.read_text(encoding="utf-8"))["claims"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not the results.json of an atlas ({type(exc).__name__}: {exc}); "
                         "move it away or choose another --out") from None


def merge_results(earlier: Iterable[ClaimVerdict], new: Iterable[ClaimVerdict],
                  order: Iterable[str]) -> list[ClaimVerdict]:
    """``new`` with every ``earlier`` claim it does not rerun, for the claim ids in ``order`` and in that order."""
    by_id = {r.id: r for r in earlier}
    by_id.update({r.id: r for r in new})
    return [by_id[claim_id] for claim_id in order if claim_id in by_id]
