"""``moe.sparse-vs-dense`` holds at seeds 1 and 2 too (issue 20), run as ``archlab run ID --seed N`` runs it.

Seed 0 is covered by ``tests/test_claims.py``. Before the fix (a 20-step warmup, under which the routers
collapsed onto one expert in the first steps) the MoE lost to the dense model at both of these seeds.
"""

import pytest

from archlab.lab import Scale
from archlab.lab.runner import run_claim


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_sparse_vs_dense_holds_at_seed(seed, tmp_path):
    result = run_claim("moe.sparse-vs-dense", scale=Scale.QUICK, seed=seed, out=tmp_path)
    assert result.error is None, result.traceback
    assert result.holds, f"moe.sparse-vs-dense does not hold at seed {seed}: {result.metrics}"
    assert result.metrics["val_loss_gap_min"] >= 0.01
