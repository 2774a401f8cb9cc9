"""The moe-layer benchmark at tiny size: registered, both sides compute the same output (no timing asserted)."""

import pytest

from archlab.bench.registry import all_benchmarks, run_benchmark


def test_registered():
    assert "moe-layer" in {b.name for b in all_benchmarks()}


def test_moe_layer_tiny_outputs_agree():
    pytest.importorskip("transformers")
    result = run_benchmark("moe-layer", size="tiny", repeats=1, out=None)
    assert result.extra["max_abs_difference"] < 1e-5
    assert result.config["tokens"] == 32 and result.target == 1.0
    assert result.extra["dense_hidden_width"] == 2 * 64
    assert len(result.archlab_times) == len(result.peer_times) == 1
