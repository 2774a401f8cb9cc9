"""The claim: a statement from the literature, its source, a two-sided rule and a function that measures it.

A claim function takes ``(scale, seed)`` and returns ``Evidence``. The rule is written in the decorator,
before any run, as the text shown beside the metrics in the atlas; ``Evidence.holds`` is its evaluation at one
seed. Across seeds a claim holds when its rule holds at every seed, unless it states a ``seed_quorum`` (see
``archlab.lab.seeds``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable

_ID_PATTERN = re.compile(r"^[a-z0-9]+\.[a-z0-9][a-z0-9-]*$")


class Scale(str, Enum):
    """How big an experiment is: ``quick`` (CPU, under a minute) or ``full`` (closer to the paper)."""

    QUICK = "quick"
    FULL = "full"

    @classmethod
    def parse(cls, value: "str | Scale") -> "Scale":
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"scale={value!r} is not one of 'quick', 'full'") from None


@dataclass
class Evidence:
    """What one run of a claim measured.

    ``metrics`` maps names to numbers (floats, ints or bools); ``holds`` is the rule evaluated on them;
    ``figure`` is a matplotlib figure (saved as PNG by the runner); ``key_metric`` names the metric
    shown in summary tables (the first metric when omitted); ``details`` holds extra JSON-able data.
    """

    metrics: dict[str, float]
    holds: bool
    figure: Any = None
    key_metric: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.metrics:
            raise ValueError("metrics must not be empty: a claim reports what it measured")
        if self.key_metric is not None and self.key_metric not in self.metrics:
            raise ValueError(f"key_metric={self.key_metric!r} is not one of the metrics {sorted(self.metrics)}")
        self.holds = bool(self.holds)

    @property
    def key(self) -> str:
        return self.key_metric or next(iter(self.metrics))


def validate_seed_quorum(seed_quorum: "tuple[int, int] | None") -> None:
    """``seed_quorum=(k, n)`` reads "the rule holds at at least k of every n seeds": two ints, 1 <= k <= n."""
    if seed_quorum is None:
        return
    if (
        not isinstance(seed_quorum, tuple)
        or len(seed_quorum) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in seed_quorum)
        or not 1 <= seed_quorum[0] <= seed_quorum[1]
    ):
        raise ValueError(f"seed_quorum={seed_quorum!r} must be None or a tuple (k, n) of ints with 1 <= k <= n")


@dataclass(frozen=True)
class Claim:
    """A registered claim. ``family`` is the part of ``id`` before the dot.

    ``seed_quorum=(k, n)`` is the claim's own multi-seed rule, "holds at >= k of n seeds" (as its ``rule`` text
    says); ``None`` means every seed.
    """

    id: str
    statement: str
    source: str
    rule: str
    fn: Callable[[Scale, int], Evidence]
    threads: int | None = None
    seed_quorum: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        validate_seed_quorum(self.seed_quorum)

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]

    def measure(self, scale: "Scale | str" = Scale.QUICK, seed: int = 0) -> Evidence:
        """Run the claim; with ``threads`` set, on that many intra-op threads (the previous count restored)."""
        if self.threads is None:
            evidence = self.fn(Scale.parse(scale), seed)
        else:
            from archlab.lab.measure import torch_threads

            with torch_threads(self.threads):
                evidence = self.fn(Scale.parse(scale), seed)
        if not isinstance(evidence, Evidence):
            raise TypeError(f"claim {self.id} returned {type(evidence).__name__}, expected Evidence")
        return evidence


def validate_claim_id(claim_id: str) -> None:
    if not _ID_PATTERN.match(claim_id):
        raise ValueError(f"claim id {claim_id!r} must look like 'family.name-with-dashes' (lowercase)")
