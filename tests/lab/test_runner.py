import json
import math
from datetime import datetime

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from archlab.lab.runner import reproduce_command, run_claim, to_jsonable
from archlab.lab.testing import DEMO_FAMILIES, isolated_registry, register_demo_claims


@pytest.fixture
def demo_registry():
    with isolated_registry(DEMO_FAMILIES):
        register_demo_claims()
        yield


def test_run_claim_writes_png_and_json_record(demo_registry, tmp_path):
    result = run_claim("demo.noise-mean", scale="quick", seed=3, out=tmp_path)

    assert result.holds and result.error is None
    assert result.figure == "demo.noise-mean.png"
    assert (tmp_path / "demo.noise-mean.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((tmp_path / "demo.noise-mean.json").read_text())
    assert record["id"] == "demo.noise-mean" and record["family"] == "demo"
    assert record["seed"] == 3 and record["scale"] == "quick" and record["holds"] is True
    assert record["rule"] == "|mean| < 0.2"
    assert record["command"] == "archlab run demo.noise-mean --scale quick --seed 3"
    assert set(record["versions"]) >= {"python", "torch", "archlab"}
    assert datetime.fromisoformat(record["time"]).utcoffset().total_seconds() == 0
    assert record["key_metric"] == "abs_mean"
    assert isinstance(record["metrics"]["abs_mean"], float)  # a tensor in the claim, a float on disk
    assert record["seconds"] >= 0


def test_a_raising_claim_is_recorded_as_not_holding(demo_registry, tmp_path):
    open_before = plt.get_fignums()
    result = run_claim("demo.raises", out=tmp_path)

    assert result.holds is False
    assert result.error == "RuntimeError: boom"
    assert "raise RuntimeError" in result.traceback
    assert result.figure is None and result.metrics == {}
    assert json.loads((tmp_path / "demo.raises.json").read_text())["error"] == "RuntimeError: boom"
    assert plt.get_fignums() == open_before  # the figure it opened before raising is closed


def test_same_seed_same_numbers_other_seed_other_numbers(demo_registry):
    a = run_claim("demo.noise-mean", seed=7).metrics
    b = run_claim("demo.noise-mean", seed=7).metrics
    c = run_claim("demo.noise-mean", seed=8).metrics
    assert a == b
    for name in a:  # torch, NumPy and random are all seeded
        assert a[name] != c[name]


def test_figures_are_closed_and_nothing_written_without_out(demo_registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    open_before = plt.get_fignums()  # other tests' figures are theirs to close
    result = run_claim("extra.constant", seed=0)
    assert result.figure is None
    assert plt.get_fignums() == open_before
    assert list(tmp_path.iterdir()) == []


def test_non_finite_metrics_become_strings_and_json_stays_strict(demo_registry, tmp_path):
    result = run_claim("demo.fails", out=tmp_path)
    assert result.metrics == {"value": 1.0, "ratio": "Infinity", "undefined": "NaN"}
    assert not result.holds and result.error is None
    json.loads((tmp_path / "demo.fails.json").read_text())


def test_to_jsonable_converts_tensors_numpy_and_non_finite_values():
    value = {
        "tensor": torch.tensor(1.5),
        "vector": torch.tensor([1, 2]),
        "np_float": np.float32(0.25),
        "np_int": np.int64(3),
        "np_bool": np.bool_(True),
        "tuple": (float("-inf"), math.nan),
        1: "key becomes a string",
    }
    out = to_jsonable(value)
    assert out == {
        "tensor": 1.5, "vector": [1, 2], "np_float": 0.25, "np_int": 3, "np_bool": True,
        "tuple": ["-Infinity", "NaN"], "1": "key becomes a string",
    }
    assert type(out["np_int"]) is int and type(out["np_bool"]) is bool
    json.dumps(out, allow_nan=False)
    with pytest.raises(TypeError):
        to_jsonable(object())


def test_unknown_claim_and_bad_scale_raise_before_running(demo_registry):
    with pytest.raises(KeyError, match="unknown claim id 'demo.nosuch'"):
        run_claim("demo.nosuch")
    with pytest.raises(ValueError, match="scale='huge'"):
        run_claim("demo.fails", scale="huge")
    assert reproduce_command("demo.fails", "full", 2) == "archlab run demo.fails --scale full --seed 2"


def test_isolated_registry_restores_the_real_one():
    from archlab.lab import registry

    families, contents = registry.families(), dict(registry._REGISTRY)
    with isolated_registry(DEMO_FAMILIES):
        register_demo_claims()
        assert registry.families() == list(DEMO_FAMILIES)
        assert [c.id for c in registry.all_claims("extra")] == ["extra.constant"]
    assert registry.families() == families and registry._REGISTRY == contents


def test_families_are_discovered_from_claims_modules():
    from archlab.lab import registry

    assert "transformer" in registry.families()
    assert "core" not in registry.families() and "lab" not in registry.families()


def test_claim_threads_option_sets_and_restores_the_thread_count():
    import torch

    from archlab.lab import registry
    from archlab.lab.claim import Evidence

    seen = []
    with isolated_registry(("demo",)):
        @registry.claim("demo.threads", statement="s", source="x", rule="r", threads=1)
        def threads(scale, seed):
            seen.append(torch.get_num_threads())
            return Evidence(metrics={"v": 1.0}, holds=True)

        before = torch.get_num_threads()
        torch.set_num_threads(2)
        try:
            registry.get_claim("demo.threads").measure("quick", 0)
            assert seen == [1] and torch.get_num_threads() == 2
        finally:
            torch.set_num_threads(before)


def test_a_negative_seed_runs_and_seeds_like_the_trainer(demo_registry):
    """``archlab run --seed -1`` crashed in NumPy's seeding; it now reduces modulo 2**64 as ``archlab train`` does."""
    result = run_claim("demo.noise-mean", seed=-1)
    assert result.error is None and result.seed == -1
    assert result.metrics == run_claim("demo.noise-mean", seed=2**64 - 1).metrics
    assert result.metrics != run_claim("demo.noise-mean", seed=1).metrics
