"""The gnn-gcn benchmark runs at its tiny size and its two layers agree."""

import pytest

from archlab.bench.registry import run_benchmark


def test_gnn_gcn_tiny_runs_and_matches_pyg():
    pytest.importorskip("torch_geometric")
    result = run_benchmark("gnn-gcn", size="tiny", repeats=1, out=None)
    assert result.extra["max_abs_difference"] <= 1e-5
    assert result.extra["max_abs_difference_vs_forward_ref"] <= 1e-5
    assert result.target == 1.0 and len(result.archlab_times) == 1
