"""Regressions: what changed since the earlier atlas in the same folder.

A claim is marked when its verdict changed (holds, does not hold, error, skipped) or when its key metric moved by
more than 10% at a seed both runs measured (``|new - old| > 0.1 |old|``; any move from 0; a boolean that flipped).
Runs at different scales are not compared. A claim that held and no longer holds (does not hold, or errors) is
*broken*: ``archlab atlas`` exits with code 1, as a failing test would. A claim that held and is now skipped for
a missing optional package is marked but not broken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from archlab.atlas.html import verdict
from archlab.lab.seeds import ClaimVerdict

MOVE_THRESHOLD = 0.10


@dataclass
class MetricMove:
    seed: int
    old: Any
    new: Any


@dataclass
class Change:
    """How one claim differs from the earlier run: its verdicts, and its key metric's moves past the threshold."""

    id: str
    old_verdict: str
    new_verdict: str
    metric: str | None = None
    moves: list[MetricMove] = field(default_factory=list)

    @property
    def verdict_changed(self) -> bool:
        return self.old_verdict != self.new_verdict

    @property
    def broken(self) -> bool:
        return self.old_verdict == "holds" and self.new_verdict in ("does not hold", "error")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "old_verdict": self.old_verdict, "new_verdict": self.new_verdict,
                "metric": self.metric, "moves": [vars(m) for m in self.moves], "broken": self.broken}


def moved(old: Any, new: Any) -> bool:
    """Whether a metric moved past the threshold; values that are not numbers (``"NaN"``) compare as text."""
    if isinstance(old, bool) or isinstance(new, bool) or not all(isinstance(v, (int, float)) for v in (old, new)):
        return old != new
    if old == 0:
        return new != 0
    return abs(new - old) > MOVE_THRESHOLD * abs(old)


def _moves(old: ClaimVerdict, new: ClaimVerdict, metric: str) -> list[MetricMove]:
    earlier = {run.seed: run.metrics.get(metric) for run in old.runs if metric in run.metrics}
    return [MetricMove(run.seed, earlier[run.seed], run.metrics[metric])
            for run in new.runs
            if run.seed in earlier and metric in run.metrics and moved(earlier[run.seed], run.metrics[metric])]


def compare(earlier: Iterable[ClaimVerdict], new: Iterable[ClaimVerdict]) -> list[Change]:
    """The changes of every claim in ``new`` that ``earlier`` also ran at the same scale, in ``new``'s order."""
    by_id = {r.id: r for r in earlier}
    changes = []
    for result in new:
        old = by_id.get(result.id)
        if old is None or old.scale != result.scale:
            continue
        metric = result.key_metric if result.key_metric == old.key_metric else None
        change = Change(result.id, verdict(old), verdict(result), metric,
                        _moves(old, result, metric) if metric is not None else [])
        if change.verdict_changed or change.moves:
            changes.append(change)
    return changes
