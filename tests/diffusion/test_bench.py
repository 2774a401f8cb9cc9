"""The diffusion-sampler benchmark at tiny size: registered, both sides give the same samples (no timing asserted)."""

import pytest

from archlab.bench.registry import all_benchmarks, run_benchmark


def test_registered():
    assert "diffusion-sampler" in {b.name for b in all_benchmarks()}


def test_tiny_samples_agree():
    pytest.importorskip("diffusers")
    result = run_benchmark("diffusion-sampler", size="tiny", repeats=1, out=None)
    assert result.extra["max_abs_difference"] <= 1e-5
    assert result.target == 1.0 and result.config["points"] == 64
