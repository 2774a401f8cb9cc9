"""The learning rate of each architecture in the arena: swept in ``full``, recorded for ``quick``.

Architectures differ in the learning rate they train best at (a recurrent stack, a selective scan and attention
do not share one optimum), so one rate for all would rank the rate, not the architecture. A sweep trains the
matched model at each rate of ``Budget.lr_grid`` for ``Budget.sweep_steps`` steps (seed 0, the same data and
batch as the real run; then each rate of ``Budget.lr_edge`` in turn while the highest rate tried is the best)
and keeps the rate of the lowest validation bits per byte (``pick``). A ``full`` arena always runs its own sweep
(3e-4, 1e-3, 3e-3 for 200 steps at its 3M parameters). A ``quick`` arena runs none: it takes the rate
``RECORDED`` holds for the architecture (``lr_source``: ``"recorded sweep"``), or else the recipe's own default
rate (``"recipe default"``). ``RECORDED`` comes from a sweep at the quick budget's own sizes (``archlab arena lm
--budget quick --sweep``: 0.4M matched parameters, 150 steps of 16 x 128 bytes, the standard-library corpus,
seed 0; grid 3e-4, 1e-3, 3e-3, and 1e-2 where 3e-3 was best), not from a full arena, so it is the best rate for
150 steps, which need not be the best for 2,000.
"""

from __future__ import annotations

import math
from typing import Any

# arch -> the rate of the sweep at the quick budget's sizes, seed 0 (issue 18, 2026-12-01):
#   archlab arena lm --budget quick --sweep --out /tmp/arena-sweep
# validation bits per byte after 150 steps at 3e-4 / 1e-3 / 3e-3 / 1e-2 (1e-2 tried where 3e-3 won):
#   gpt2 5.457 / 4.382 / 3.862 / 4.062     llama 5.385 / 4.095 / 3.479 / 3.527
#   moe 5.702 / 4.173 / 3.670 / 3.532      mamba 5.020 / 3.614 / 2.419 / 2.186
#   hybrid 5.500 / 3.966 / 2.829 / 2.522   linear 5.216 / 4.175 / 3.763 / 3.712
#   lstm 5.117 / 5.101 / 4.876 / 4.776     gru 5.097 / 4.918 / 12.379 (3e-3 diverged; 1e-2 not tried)
# moe, mamba, hybrid, linear and lstm are best at 1e-2, the top rate tried: their best may lie higher.
RECORDED: dict[str, float] = {
    "gpt2": 3e-3, "llama": 3e-3, "moe": 1e-2, "mamba": 1e-2, "hybrid": 1e-2, "linear": 1e-2, "lstm": 1e-2,
    "gru": 1e-3,
}


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
