"""The claim registry: the ``@claim`` decorator and look-ups over every family's ``claims`` module."""

from __future__ import annotations

import importlib
from typing import Callable

from archlab.families import families_with
from archlab.lab.claim import Claim, Evidence, Scale, validate_claim_id, validate_seed_quorum

_REGISTRY: dict[str, Claim] = {}


def claim(
    claim_id: str,
    *,
    statement: str,
    source: str,
    rule: str,
    threads: int | None = None,
    seed_quorum: tuple[int, int] | None = None,
) -> Callable:
    """Register a claim function ``fn(scale: Scale, seed: int) -> Evidence`` under ``claim_id``; ``threads``
    fixes the intra-op thread count it runs with (timing comparisons, many tiny ops), None leaves it as is;
    ``seed_quorum=(k, n)`` lets the claim hold across seeds when its rule holds at >= k of every n seeds (the
    rule text says so), None asks for every seed."""
    validate_claim_id(claim_id)
    validate_seed_quorum(seed_quorum)

    def register(fn: Callable[[Scale, int], Evidence]) -> Callable[[Scale, int], Evidence]:
        if claim_id in _REGISTRY and _REGISTRY[claim_id].fn is not fn:
            raise ValueError(f"claim id {claim_id!r} is registered twice")
        _REGISTRY[claim_id] = Claim(claim_id, statement, source, rule, fn, threads, seed_quorum)
        return fn

    return register


def families() -> list[str]:
    """The families that have a ``claims`` module, in atlas order (``archlab.families.FAMILY_ORDER``)."""
    return families_with("claims")


def load_all() -> None:
    """Import every family's claims module so that its claims register."""
    for family in families():
        importlib.import_module(f"archlab.{family}.claims")


def all_claims(family: str | None = None) -> list[Claim]:
    """Every registered claim (optionally of one family), families in atlas order, ids sorted within."""
    load_all()
    known = families()
    if family is not None and family not in known:
        raise ValueError(f"family={family!r} is not one of {', '.join(known)}")
    order = {name: i for i, name in enumerate(known)}
    chosen = [c for c in _REGISTRY.values() if family is None or c.family == family]
    return sorted(chosen, key=lambda c: (order.get(c.family, len(order)), c.id))


def get_claim(claim_id: str) -> Claim:
    load_all()
    try:
        return _REGISTRY[claim_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"unknown claim id {claim_id!r}; known claims: {known}") from None
