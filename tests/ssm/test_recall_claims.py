"""The associative-recall claims (``ssm.recall-gap``, ``ssm.hybrid-recovers-recall``) hold at quick scale.

Measured (seed 0, two threads): ``ssm.recall-gap`` 47 s: attention 1.0 / 0.999 / 1.0 at 4 / 8 / 16 pairs;
linear attention at f = 1 / 4 / 16 scores 0.13 / 0.86 / 1.0 at 16 pairs, and 0.48 at 4 pairs for f = 1
(seed 1: 0.07 / 0.86 / 1.0, 0.26 at 4 pairs). ``ssm.hybrid-recovers-recall`` 68 s: attention 1.0, four Mamba
layers 0.044, the hybrid 1.0 (recovered 1.0 of the gap).
"""

import pytest

from archlab.lab import Scale, get_claim


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", ["ssm.recall-gap", "ssm.hybrid-recovers-recall"])
def test_recall_claim_holds_at_quick_scale(claim_id):
    evidence = get_claim(claim_id).measure(Scale.QUICK, seed=0)
    assert evidence.figure is not None
    assert evidence.holds, f"{claim_id} does not hold: {evidence.metrics}"
