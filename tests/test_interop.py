import types

import pytest
import torch

import archlab.interop
from archlab.interop import converter_tables, from_diffusers, from_pyg, from_torch, from_transformers


class Unknown(torch.nn.Module):
    pass


@pytest.mark.parametrize("convert", [from_transformers, from_diffusers, from_pyg, from_torch])
def test_unsupported_class_names_the_supported_ones(convert):
    with pytest.raises(ValueError, match="Unknown is not supported; supported classes:"):
        convert(Unknown())


def fake_interop(family: str, **tables) -> types.ModuleType:
    module = types.ModuleType(f"archlab.{family}.interop")
    for table, names in tables.items():
        setattr(module, table, {name: (lambda ref, family=family: family) for name in names})
    return module


def test_the_families_tables_are_gathered_per_library(monkeypatch):
    modules = {"alpha": fake_interop("alpha", TRANSFORMERS=["AlphaModel"], TORCH=["Linear"]),
               "beta": fake_interop("beta", TRANSFORMERS=["BetaModel"], DIFFUSERS=["Linear"])}
    monkeypatch.setattr(archlab.interop, "family_modules", lambda name: modules)
    tables = converter_tables()
    assert sorted(tables["TRANSFORMERS"]) == ["AlphaModel", "BetaModel"]
    assert tables["TORCH"]["Linear"](None) == "alpha" and tables["DIFFUSERS"]["Linear"](None) == "beta"
    assert tables["PYG"] == {}


def test_a_class_name_two_families_export_is_an_error_naming_both(monkeypatch):
    modules = {"alpha": fake_interop("alpha", TRANSFORMERS=["SharedModel"]),
               "beta": fake_interop("beta", TRANSFORMERS=["OtherModel", "SharedModel"])}
    monkeypatch.setattr(archlab.interop, "family_modules", lambda name: modules)
    with pytest.raises(ValueError, match="TRANSFORMERS class 'SharedModel' is exported by two families, alpha and beta"):
        from_transformers(Unknown())  # whichever class is converted: the tables themselves are wrong


def test_the_real_families_export_no_class_twice():
    tables = converter_tables()
    assert "GPT2LMHeadModel" in tables["TRANSFORMERS"] and "LSTM" in tables["TORCH"]
