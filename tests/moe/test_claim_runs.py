"""The routing claims train each condition once per process: ``moe.z-loss`` reuses the Switch-loss runs of
``moe.balancing-fixes`` (issue 21), and a different condition or coefficient trains anew."""

import pytest

from archlab.lab import Scale
from archlab.moe import claims


@pytest.fixture
def counted_runs(monkeypatch):
    calls = []

    def fake_fit_routing(model, **kwargs):  # the Switch-loss runs train side by side: routing_model + fit_routing
        calls.append({**model, **kwargs})
        return len(calls)

    claims._run.cache_clear()
    monkeypatch.setattr(claims, "routing_model", lambda **kwargs: kwargs)
    monkeypatch.setattr(claims, "fit_routing", fake_fit_routing)
    yield calls
    claims._run.cache_clear()


def test_a_condition_is_trained_once_per_scale_and_seed(counted_runs):
    first = claims._run("Switch loss", Scale.QUICK, 0)
    again = claims._run("Switch loss", Scale.QUICK, 0)
    assert again is first and len(counted_runs) == claims.SEEDS
    assert sorted(c["seed"] for c in counted_runs) == list(range(claims.SEEDS))  # in any order: side by side
    with_z = claims._run("Switch loss", Scale.QUICK, 0, z_loss_coef=1e-3)
    other_seed = claims._run("Switch loss", Scale.QUICK, 1)
    assert len(counted_runs) == 3 * claims.SEEDS
    assert counted_runs[claims.SEEDS]["z_loss_coef"] == 1e-3 and with_z != first and other_seed != first
