"""The selection claims (selective copying, length extrapolation) hold at quick scale.

``ssm.selective-copying`` (seed 0, two threads, 81.5 s): Mamba 0.998, LTI S4D 0.521, gap 0.478. With one
thread, seed 0: 0.999 / 0.520; Mamba alone with the same recipe: 0.958 at seed 1, 0.49 at seed 2 (a plateau
it leaves only with other batch sizes, which then fail other seeds): the quick budget is seed-sensitive.

``ssm.length-extrapolation`` (seed 0, two threads, 57 s): Mamba 1.0 at 64 tokens and 0.96 at 1024 (16x);
attention with sin-cos positions 0.96 at 64, 0.44 at 128, 0.34 at 256 (4x). Mamba's 16x accuracy at seeds
1 and 2 with the same recipe: 1.0 and 0.995.
"""

import pytest

from archlab.lab import Scale, get_claim


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", ["ssm.selective-copying", "ssm.length-extrapolation"])
def test_claim_holds_at_quick_scale(claim_id):
    evidence = get_claim(claim_id).measure(Scale.QUICK, seed=0)
    assert evidence.figure is not None
    assert evidence.holds, evidence.metrics
