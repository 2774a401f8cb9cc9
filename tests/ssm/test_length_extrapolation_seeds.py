"""``ssm.length-extrapolation`` holds at seeds 1 and 2 too (issue 20), run as ``archlab run ID --seed N`` runs it.

Seed 0 is covered by ``tests/test_claims.py``. With the old recipe (length 64 only, lr 2e-3) Mamba reached 0.64
at 16x at seed 2 and the attention baseline never learned at seed 1 (1x accuracy 0.115), so its failure at 4x
was no evidence; the test also asserts that attention learned at the training length.
"""

import pytest

from archlab.lab import Scale
from archlab.lab.runner import run_claim


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_length_extrapolation_holds_at_seed(seed, tmp_path):
    result = run_claim("ssm.length-extrapolation", scale=Scale.QUICK, seed=seed, out=tmp_path)
    assert result.error is None, result.traceback
    assert result.holds, f"ssm.length-extrapolation does not hold at seed {seed}: {result.metrics}"
    assert result.metrics["attention_acc_1x"] >= 0.90, f"attention never learned at seed {seed}: {result.metrics}"
