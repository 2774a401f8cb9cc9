"""Every family's package exports its public models alike: each model that can be saved with its config,
the main blocks, and only the family's own names (nothing from core or another family)."""

import importlib

import pytest

from archlab.core.io import PretrainedMixin
from archlab.families import families_with

# Every family package (the ones holding a claims module), so that a new family is checked without an edit here.
FAMILIES = families_with("claims")


@pytest.mark.parametrize("family", FAMILIES)
def test_the_package_exports_only_its_own_names(family):
    package = importlib.import_module(f"archlab.{family}")
    for name in package.__all__:
        obj = getattr(package, name)
        assert obj.__module__.startswith(f"archlab.{family}."), f"archlab.{family} exports {name} from {obj.__module__}"


@pytest.mark.parametrize("family", FAMILIES)
def test_each_exported_model_comes_with_its_config(family):
    package = importlib.import_module(f"archlab.{family}")
    exported = {getattr(package, name) for name in package.__all__}
    models = [obj for obj in exported if isinstance(obj, type) and issubclass(obj, PretrainedMixin)]
    assert models, f"archlab.{family} exports no model"
    for model in models:
        assert model.config_class in exported, f"{model.__name__}'s {model.config_class.__name__} is not exported"


def test_every_language_model_is_exported_by_its_family():
    from archlab.core.lm import GenerationMixin

    exported = {getattr(importlib.import_module(f"archlab.{f}"), n)
                for f in FAMILIES for n in importlib.import_module(f"archlab.{f}").__all__}
    language_models = {obj for obj in exported if isinstance(obj, type) and issubclass(obj, GenerationMixin)}
    assert {m.__name__ for m in language_models} == {"DecoderLM", "MoELM", "MambaLM", "LinearAttentionLM", "RNNLM"}
