"""The routing claims train each condition once per process: ``moe.z-loss`` reuses the Switch-loss runs of
``moe.balancing-fixes`` (issue 21), and a different condition or coefficient trains anew."""

import pytest

from archlab.lab import Scale
from archlab.moe import claims


@pytest.fixture
def counted_runs(monkeypatch):
    calls = []

    def fake_train_routing(**kwargs):
        calls.append(kwargs)
        return len(calls)

    claims._run.cache_clear()
    monkeypatch.setattr(claims, "train_routing", fake_train_routing)
    yield calls
    claims._run.cache_clear()


def test_a_condition_is_trained_once_per_scale_and_seed(counted_runs):
    first = claims._run("Switch loss", Scale.QUICK, 0)
    again = claims._run("Switch loss", Scale.QUICK, 0)
    assert again is first and len(counted_runs) == claims.SEEDS
    assert [c["seed"] for c in counted_runs] == list(range(claims.SEEDS))
    with_z = claims._run("Switch loss", Scale.QUICK, 0, z_loss_coef=1e-3)
    other_seed = claims._run("Switch loss", Scale.QUICK, 1)
    assert len(counted_runs) == 3 * claims.SEEDS
    assert counted_runs[claims.SEEDS]["z_loss_coef"] == 1e-3 and with_z != first and other_seed != first
