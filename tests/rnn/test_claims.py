"""Each RNN claim at quick scale holds (the rule written in its decorator)."""

import pytest

from archlab.lab import Scale, all_claims, get_claim

CLAIMS = ["rnn.adding-problem", "rnn.sequential-bottleneck", "rnn.vanishing-gradients"]


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", CLAIMS)
def test_claim_holds_at_quick_scale(claim_id):
    evidence = get_claim(claim_id).measure(Scale.QUICK, seed=0)
    assert evidence.figure is not None
    assert evidence.holds, f"{claim_id} does not hold: {evidence.metrics}"


def test_every_rnn_claim_is_tested():
    assert sorted(c.id for c in all_claims("rnn")) == CLAIMS
