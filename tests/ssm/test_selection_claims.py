"""The selection claims (selective copying, length extrapolation) at quick scale: each must hold.

Both are not calibrated yet and are not run here (each costs minutes while it does not hold); the atlas still
runs them and reports their verdicts. Measured so far (seed 0, one thread): Mamba learns selective copying
(0.961 at width 64, batch 16, 2500 steps, 108 s CPU) and 1024-token induction heads (0.975 after 3000 steps at
batch 8), but the attention baseline with absolute sin-cos positions stays at chance even at the training
length, so length extrapolation cannot be judged until it learns there.
"""

import pytest

from archlab.lab import Scale, get_claim

CLAIMS = ["ssm.selective-copying", "ssm.length-extrapolation"]


@pytest.mark.slow
@pytest.mark.xfail(run=False, reason="quick-scale budgets not yet calibrated; see the module docstring")
@pytest.mark.parametrize("claim_id", CLAIMS)
def test_claim_holds_at_quick_scale(claim_id):
    evidence = get_claim(claim_id).measure(Scale.QUICK, seed=0)
    assert evidence.figure is not None
    assert evidence.holds, evidence.metrics
