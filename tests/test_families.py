import pytest

from archlab.families import FAMILY_ORDER, families_with, family_modules, merge_family_tables


def test_families_with_finds_the_packages_that_hold_the_module_in_family_order(fake_families):
    fake_families({"zeta": {"recipes": "X = 'zeta'"}, "alpha": {"recipes": "X = 'alpha'"},
                   "gnn": {"recipes": "X = 'gnn'"}, "omega": {"claims": "X = 'omega'"}})
    found = families_with("recipes")
    assert [f for f in found if f in ("zeta", "alpha", "gnn", "omega")] == ["gnn", "alpha", "zeta"]
    assert found.index("rnn") < found.index("gnn")  # listed families first, in FAMILY_ORDER
    assert [f for f in found if f in FAMILY_ORDER] == [f for f in FAMILY_ORDER if f in found]


def test_family_modules_imports_each_module(fake_families):
    fake_families({"alpha": {"bench": "X = 'alpha bench'"}})
    modules = family_modules("bench")
    assert modules["alpha"].X == "alpha bench"
    assert modules["alpha"].__name__ == "archlab.alpha.bench"


def test_infrastructure_packages_are_never_families():
    # archlab.bench, archlab.lab, ... are packages of archlab but not families, whatever modules they hold
    assert families_with("registry") == []
    for module in ("claims", "recipes", "bench", "interop"):
        assert set(families_with(module)) >= {"transformer", "moe", "ssm"}
        assert not set(families_with(module)) & {"atlas", "bench", "core", "data", "lab", "train"}


def test_merge_family_tables_refuses_a_key_two_families_export():
    assert merge_family_tables({"a": {"x": 1}, "b": {"y": 2}}, what="thing") == {"x": 1, "y": 2}
    with pytest.raises(ValueError, match="thing 'x' is exported by two families, a and b"):
        merge_family_tables({"a": {"x": 1}, "b": {"x": 2}}, what="thing")
