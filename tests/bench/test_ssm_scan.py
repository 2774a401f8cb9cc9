"""The SSM benchmarks run at tiny size and compare equal computations (no timing asserted)."""

import pytest

from archlab.bench.registry import all_benchmarks, run_benchmark
from archlab.errors import UserError


def test_registered():
    names = {b.name for b in all_benchmarks()}
    assert {"ssm-scan", "ssm-vs-attention"} <= names


def test_ssm_scan_tiny_outputs_agree():
    pytest.importorskip("transformers")
    result = run_benchmark("ssm-scan", size="tiny", repeats=1, out=None)
    assert result.extra["max_relative_difference"] < 1e-5
    assert result.config["state"] == 4 and result.target == 10.0


def test_ssm_vs_attention_tiny_reports_every_length():
    result = run_benchmark("ssm-vs-attention", size="tiny", repeats=1, out=None)
    assert result.extra["lengths"] == [64, 128]
    assert len(result.extra["mamba_seconds"]) == len(result.extra["attention_bytes"]) == 2


def test_unknown_size_is_a_user_error():
    with pytest.raises(UserError):
        run_benchmark("ssm-scan", device="cpu", size="bogus", out=None)
