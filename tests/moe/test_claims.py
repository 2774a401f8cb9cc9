"""Each MoE claim at quick scale holds (the rule written in its decorator)."""

import pytest

from archlab.lab import Scale, get_claim

CLAIMS = ["moe.balancing-fixes", "moe.batch-dependence", "moe.routing-collapse", "moe.sparse-vs-dense", "moe.z-loss"]
# Measured at quick scale, seed 0 (800 steps): dense validation loss 1.855 nats/byte, MoE 1.862 (rule: MoE lower);
# active parameters 1.021x the dense (the 16-expert routers; rule: within 2%). The rule stays as written.
NOT_HOLDING_YET = {"moe.sparse-vs-dense"}


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", [pytest.param(c, marks=pytest.mark.xfail(reason="does not hold yet at quick scale"))
                                      if c in NOT_HOLDING_YET else c for c in CLAIMS])
def test_claim_holds_at_quick_scale(claim_id):
    evidence = get_claim(claim_id).measure(Scale.QUICK, seed=0)
    assert evidence.figure is not None
    assert evidence.holds, f"{claim_id} does not hold: {evidence.metrics}"


def test_every_moe_claim_is_tested():
    from archlab.lab import all_claims

    assert sorted(c.id for c in all_claims("moe")) == sorted(CLAIMS)
