"""The vision-vit benchmark at tiny size: registered, both sides give the same output (no timing asserted)."""

import pytest

pytest.importorskip("transformers")

from archlab.bench.registry import all_benchmarks, run_benchmark  # noqa: E402


def test_vision_vit_is_registered_and_both_sides_agree(tmp_path):
    assert "vision-vit" in {b.name for b in all_benchmarks()}
    result = run_benchmark("vision-vit", size="tiny", repeats=1, out=tmp_path)
    assert result.extra["max_abs_difference"] < 1e-4
    assert result.config["batch"] == 2 and result.unit == "images"
    assert (tmp_path / "vision-vit.json").exists()
    assert result.extra["archlab_path"].startswith("eager")  # never a compiled side against an eager peer
