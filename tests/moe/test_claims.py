"""Each MoE claim at quick scale holds (the rule written in its decorator)."""

import pytest

from archlab.lab import Scale, get_claim

CLAIMS = ["moe.balancing-fixes", "moe.batch-dependence", "moe.routing-collapse", "moe.sparse-vs-dense", "moe.z-loss"]


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", CLAIMS)
def test_claim_holds_at_quick_scale(claim_id):
    evidence = get_claim(claim_id).measure(Scale.QUICK, seed=0)
    assert evidence.figure is not None
    assert evidence.holds, f"{claim_id} does not hold: {evidence.metrics}"


def test_every_moe_claim_is_tested():
    from archlab.lab import all_claims

    assert sorted(c.id for c in all_claims("moe")) == sorted(CLAIMS)
