"""Benchmarks are found in each family's bench.py, listed in family order, and run by name."""

import pytest

from archlab.bench import registry
from archlab.bench.registry import all_benchmarks, run_benchmark

TOY_BENCH = '''
from archlab.bench.harness import compare
from archlab.bench.registry import benchmark


@benchmark("{name}", description="nothing against nothing")
def nothing(*, device="cpu", repeats=None, size="default"):
    return compare("{name}", lambda: None, lambda: None, repeats=repeats or 1)
'''


@pytest.fixture
def private_registry(monkeypatch):
    """The benchmarks a test registers vanish with it."""
    all_benchmarks()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_the_families_benchmarks_in_family_order():
    from archlab.families import FAMILY_ORDER

    names = [b.name for b in all_benchmarks()]
    assert names[:4] == ["lm-train", "moe-layer", "ssm-scan", "ssm-vs-attention"]
    assert [b.fn.__module__ for b in all_benchmarks()][:4] == [
        "archlab.transformer.bench", "archlab.moe.bench", "archlab.ssm.bench", "archlab.ssm.bench"]
    families = [b.fn.__module__.split(".")[1] for b in all_benchmarks()]
    rank = [FAMILY_ORDER.index(f) if f in FAMILY_ORDER else len(FAMILY_ORDER) for f in families]
    assert rank == sorted(rank)  # later families' benchmarks follow, in family order


def test_a_family_adds_a_benchmark_by_its_bench_module(fake_families, private_registry):
    fake_families({"toyfamily": {"bench": TOY_BENCH.replace("{name}", "toy-nothing")}})
    assert [b.name for b in all_benchmarks()][-1] == "toy-nothing"  # after the listed families
    result = run_benchmark("toy-nothing", size="tiny", repeats=2, out=None)
    assert len(result.archlab_times) == 2 and result.target is None


def test_a_benchmark_name_two_modules_register_is_an_error_naming_both(fake_families, private_registry):
    fake_families({"toyfamily": {"bench": TOY_BENCH.replace("{name}", "lm-train")}})
    with pytest.raises(ValueError, match="'lm-train' is registered twice, by archlab.transformer.bench and "
                                         "archlab.toyfamily.bench"):
        all_benchmarks()
