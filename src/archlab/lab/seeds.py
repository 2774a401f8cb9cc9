"""A claim across seeds: run it at each seed given and decide whether it holds at enough of them.

A claim states a mechanism, not one random draw, so ``archlab atlas --seeds 0,1,2`` runs every claim at every
seed. The claim holds when its rule holds at every seed, unless the claim states a quorum,
``@claim(..., seed_quorum=(k, n))``: its rule holds at at least ``k`` of every ``n`` seeds, so at ``s`` seeds
``ceil(k * s / n)`` of them must hold (2 of 3 seeds, 1 of 1). A seed whose run raised makes the verdict an error
whatever the other seeds say: a crash is not evidence either way.

Files: with one seed, ``<id>.png`` and ``<id>.json`` as ``run_claim`` writes them (the one-seed record of
``archlab run ID --seed N``); with several, ``<id>.seed<N>.png`` and ``<id>.seed<N>.json`` per seed and
``<id>.json`` holding the verdict with every seed's record in ``runs``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from archlab.lab.claim import Claim, Scale
from archlab.lab.registry import get_claim
from archlab.lab.runner import ClaimResult, run_claim, write_json


def validate_seeds(seeds: Iterable[int]) -> list[int]:
    """``seeds`` as a list: at least one, each an int, none repeated (each seed's files carry its number)."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds=[] must name at least one seed")
    for seed in seeds:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seeds={seeds!r} must be ints; {seed!r} is a {type(seed).__name__}")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"seeds={seeds!r} must not repeat a seed; repeated: {repeated}")
    return seeds


def seeds_required(seed_quorum: "tuple[int, int] | None", n_seeds: int) -> int:
    """How many of ``n_seeds`` seeds must hold: all of them, or ``ceil(k * n_seeds / n)`` for ``(k, n)``."""
    if seed_quorum is None:
        return n_seeds
    k, n = seed_quorum
    return math.ceil(k * n_seeds / n)


def seed_stem(claim_id: str, seed: int) -> str:
    """The name, without suffix, of one seed's files in a run over several seeds: ``<id>.seed<N>``."""
    return f"{claim_id}.seed{seed}"


def seeds_command(claim_id: str, scale: "Scale | str", seeds: list[int]) -> str:
    """The command line that reruns a claim at ``seeds``."""
    option = f"--seed {seeds[0]}" if len(seeds) == 1 else f"--seeds {','.join(map(str, seeds))}"
    return f"archlab run {claim_id} --scale {Scale.parse(scale).value} {option}"


@dataclass
class ClaimVerdict:
    """One claim run at one or more seeds: each seed's ``ClaimResult`` in ``runs`` and the verdict over them."""

    id: str
    family: str
    statement: str
    source: str
    rule: str
    scale: str
    seed_quorum: tuple[int, int] | None
    runs: list[ClaimResult]

    @property
    def seeds(self) -> list[int]:
        return [run.seed for run in self.runs]

    @property
    def seeds_holding(self) -> int:
        return sum(run.holds for run in self.runs)

    @property
    def seeds_required(self) -> int:
        return seeds_required(self.seed_quorum, len(self.runs))

    @property
    def error(self) -> str | None:
        """``"seed N: ExceptionType: message"`` for every seed whose run raised, joined by ``"; "``."""
        errors = [f"seed {run.seed}: {run.error}" for run in self.runs if run.error is not None]
        return "; ".join(errors) or None

    @property
    def skipped(self) -> str | None:
        """Why the claim did not run when a seed lacked an optional package (``archlab.lab.optional``), else None."""
        return next((run.skipped for run in self.runs if run.skipped is not None), None)

    @property
    def holds(self) -> bool:
        return self.error is None and self.skipped is None and self.seeds_holding >= self.seeds_required

    @property
    def seconds(self) -> float:
        return round(sum(run.seconds for run in self.runs), 3)

    @property
    def key_metric(self) -> str | None:
        return next((run.key_metric for run in self.runs if run.key_metric is not None), None)

    @property
    def command(self) -> str:
        return seeds_command(self.id, self.scale, self.seeds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "family": self.family,
            "statement": self.statement,
            "source": self.source,
            "rule": self.rule,
            "scale": self.scale,
            "seeds": self.seeds,
            "seed_quorum": list(self.seed_quorum) if self.seed_quorum is not None else None,
            "seeds_required": self.seeds_required,
            "seeds_holding": self.seeds_holding,
            "holds": self.holds,
            "error": self.error,
            "skipped": self.skipped,
            "seconds": self.seconds,
            "key_metric": self.key_metric,
            "command": self.command,
            "runs": [run.to_dict() for run in self.runs],
        }


def run_claim_seeds(
    claim_or_id: "Claim | str",
    scale: "Scale | str" = Scale.QUICK,
    seeds: Iterable[int] = (0,),
    out: "str | Path | None" = None,
) -> ClaimVerdict:
    """Run one claim at each of ``seeds`` (in order) through ``run_claim`` and return the verdict over them.

    Unknown ids raise ``KeyError``, a bad scale or seed list ``ValueError``, before anything runs.
    """
    claim = get_claim(claim_or_id) if isinstance(claim_or_id, str) else claim_or_id
    scale = Scale.parse(scale)
    seeds = validate_seeds(seeds)
    several = len(seeds) > 1
    runs = [
        run_claim(claim, scale=scale, seed=seed, out=out, stem=seed_stem(claim.id, seed) if several else None)
        for seed in seeds
    ]
    result = ClaimVerdict(claim.id, claim.family, claim.statement, claim.source, claim.rule, scale.value,
                          claim.seed_quorum, runs)
    if out is not None and several:
        write_json(Path(out) / f"{claim.id}.json", result.to_dict())
    return result
