"""Each transformer claim at quick scale holds (the rule written in its decorator)."""

import pytest

from archlab.lab import Scale, get_claim

CLAIMS = [
    "transformer.attention-quadratic", "transformer.kv-cache-exact", "transformer.lm-learns",
    "transformer.permutation-equivariance", "transformer.pretrained-semantics",
    "transformer.induction-heads",
]


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", CLAIMS)
def test_claim_holds_at_quick_scale(claim_id):
    evidence = get_claim(claim_id).measure(Scale.QUICK, seed=0)
    assert evidence.figure is not None
    assert evidence.holds, f"{claim_id} does not hold: {evidence.metrics}"


def test_every_transformer_claim_is_tested():
    from archlab.lab import all_claims

    assert sorted(c.id for c in all_claims("transformer")) == sorted(CLAIMS)
