import math

import pytest
import torch

from archlab.lab.measure import loglog_slope, median_seconds, peak_tensor_bytes


def test_loglog_slope_recovers_exponent():
    xs = [1, 2, 4, 8, 16]
    assert loglog_slope(xs, [3 * x**2 for x in xs]) == pytest.approx(2.0)
    assert loglog_slope(xs, [5.0 for _ in xs]) == pytest.approx(0.0, abs=1e-12)
    assert loglog_slope(xs, [math.sqrt(x) for x in xs]) == pytest.approx(0.5)


def test_loglog_slope_rejects_short_input():
    with pytest.raises(ValueError):
        loglog_slope([1], [1])


def test_peak_tensor_bytes_counts_live_tensors():
    def two_alive():
        a = torch.ones(1000)  # 4000 bytes
        b = torch.ones(1000) * 2  # ones() then mul: 8000 more at the peak
        return a, b

    assert peak_tensor_bytes(two_alive) == 12000

    def one_at_a_time():
        for _ in range(5):
            torch.ones(1000).sum()  # each tensor dies before the next exists

    assert peak_tensor_bytes(one_at_a_time) <= 4000 + 64


def test_peak_tensor_bytes_counts_views_once():
    def views():
        a = torch.zeros(100, 100)
        return a.t(), a[:10], a.view(-1)

    assert peak_tensor_bytes(views) == 100 * 100 * 4


def test_median_seconds_validates_repeats():
    with pytest.raises(ValueError):
        median_seconds(lambda: None, repeats=0)
    assert median_seconds(lambda: None, repeats=3) >= 0


def test_interleaved_median_seconds_times_round_robin():
    from archlab.lab.measure import interleaved_median_seconds

    calls = []
    fns = [lambda: calls.append("a"), lambda: calls.append("b")]
    result = interleaved_median_seconds(fns, repeats=3, warmup=1)
    assert len(result) == 2 and all(t >= 0 for t in result)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-up, then one call of each per round
    with pytest.raises(ValueError):
        interleaved_median_seconds(fns, repeats=0)
