"""The learning rate of each architecture in the arena: swept in ``full``, recorded for ``quick``.

Architectures differ in the learning rate they train best at (a recurrent stack, a selective scan and attention
do not share one optimum), so one rate for all would rank the rate, not the architecture. A ``full`` arena runs
a small sweep per architecture: each rate of ``Budget.lr_grid`` trains the matched model for
``Budget.sweep_steps`` steps (seed 0, the same data and batch as the real run), and the rate of the lowest
validation bits per byte is kept (``pick``). A ``quick`` arena runs no sweep: it takes the rate ``RECORDED``
holds for the architecture, written from a full arena's ``results.json`` (``lr`` of a record whose
``lr_source`` is ``"sweep"``), or else the recipe's own default rate (``lr_source``: ``"recipe default"``).
"""

from __future__ import annotations

import math
from typing import Any

# arch -> the learning rate a full arena's sweep chose; none recorded yet (no full arena has run here).
RECORDED: dict[str, float] = {}


def recorded_lr(arch: str, recipe: Any) -> tuple[float, str]:
    """``(lr, source)`` of ``arch`` without a sweep: the recorded sweep's choice, or the recipe's default."""
    if arch in RECORDED:
        return RECORDED[arch], "recorded sweep"
    return recipe.default_config().optim.lr, "recipe default"


def pick(val_bpb: dict[float, float]) -> float:
    """The learning rate of the lowest validation bits per byte (the first of equals, in the grid's order; a
    diverged run, NaN, never wins)."""
    if not val_bpb:
        raise ValueError("val_bpb={} must hold at least one learning rate")
    return min(val_bpb, key=lambda lr: (math.isnan(val_bpb[lr]), val_bpb[lr]))
