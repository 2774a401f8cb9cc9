import json

import pytest

from archlab.bench.harness import BenchResult, compare
from archlab.bench.registry import check_device, get_benchmark, run_benchmark
from archlab.errors import UserError


class FakeClock:
    """A timer that only moves when a fake function says how long it took."""

    def __init__(self):
        self.now = 0.0
        self.calls = []

    def __call__(self):
        return self.now

    def fn(self, side, durations):
        durations = iter(durations)

        def run():
            self.calls.append(side)
            self.now += next(durations)

        return run


def test_medians_and_speedup_direction():
    clock = FakeClock()
    # one warm-up call each (100 s: must not count), then 3 timed calls each
    archlab = clock.fn("archlab", [100, 1.0, 3.0, 2.0])
    peer = clock.fn("peer", [100, 4.0, 5.0, 6.0])
    result = compare("fake", archlab, peer, repeats=3, warmup=1, timer=clock, work=10, unit="tokens")

    assert result.archlab_times == [1.0, 3.0, 2.0]
    assert result.peer_times == [4.0, 5.0, 6.0]
    assert result.archlab_median == 2.0 and result.peer_median == 5.0
    assert result.speedup == 2.5  # peer / archlab: above 1, archlab is faster
    assert result.archlab_throughput == 5.0 and result.peer_throughput == 2.0
    slower = compare("fake", clock.fn("archlab", [1, 4]), clock.fn("peer", [1, 2]), repeats=1, timer=clock)
    assert slower.speedup == 0.5


def test_alternating_order_with_warmup_first():
    clock = FakeClock()
    result = compare("fake", clock.fn("archlab", [1] * 6), clock.fn("peer", [1] * 6), repeats=4, warmup=2, timer=clock)
    timed = ["archlab", "peer", "peer", "archlab", "archlab", "peer", "peer", "archlab"]
    assert result.order == timed
    assert clock.calls == ["archlab", "peer", "archlab", "peer"] + timed


def test_setup_is_untimed_and_sync_is_timed():
    clock = FakeClock()
    setups = []

    def setup(side):
        setups.append(side)
        clock.now += 50.0  # untimed

    def sync():
        clock.now += 0.5  # inside the timed region

    result = compare("fake", clock.fn("archlab", [1, 1]), clock.fn("peer", [2, 2]), repeats=1, warmup=1,
                     setup=setup, sync=sync, timer=clock)
    assert setups == ["archlab", "peer", "archlab", "peer"]
    assert result.archlab_times == [1.5] and result.peer_times == [2.5]


def test_bad_repeats_and_warmup():
    with pytest.raises(ValueError, match="repeats=0"):
        compare("fake", lambda: None, lambda: None, repeats=0)
    with pytest.raises(ValueError, match="warmup=-1"):
        compare("fake", lambda: None, lambda: None, warmup=-1)


def test_result_json_record(tmp_path):
    result = BenchResult("fake", archlab_times=[1.0, 2.0, 3.0], peer_times=[3.0, 3.0, 3.0], order=[],
                         work=4.0, unit="tokens", target=1.2, extra={"nan": float("nan")})
    path = result.save(tmp_path / "deep" / "fake.json")
    data = json.loads(path.read_text())
    assert data["speedup"] == 1.5 and data["meets_target"] is True
    assert data["archlab_throughput"] == 2.0 and data["peer_throughput"] == pytest.approx(4 / 3)
    assert data["throughput_unit"] == "tokens/s" and "archlab is faster" in data["speedup_means"]
    assert data["extra"] == {"nan": "NaN"}
    assert BenchResult("x", [2.0], [1.0], []).meets_target is None


def test_unknown_benchmark_and_unavailable_device(monkeypatch):
    with pytest.raises(UserError, match="unknown benchmark 'nosuch'; known benchmarks: lm-train"):
        get_benchmark("nosuch")
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="device='cuda' is not available"):
        check_device("cuda")
    with pytest.raises(UserError, match="device='tpu'"):
        check_device("tpu")
    with pytest.raises(UserError, match="size='huge'"):
        run_benchmark("lm-train", size="huge")
