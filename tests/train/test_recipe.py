import types

import pytest

import archlab.train.recipe
from archlab.train.recipe import all_recipes, samplers


class TextRecipe:
    summary = "text"

    def add_arguments(self, parser): ...

    def apply_arguments(self, config, args): ...

    def add_sample_arguments(self, parser): ...

    def sample(self, model, args): ...


class TextRecipeElsewhere(TextRecipe):
    """The same command line, inherited: may join the same target."""


class ImageRecipe(TextRecipe):
    def add_arguments(self, parser): ...


class ClassifierRecipe:
    summary = "labels"

    def add_arguments(self, parser): ...

    def apply_arguments(self, config, args): ...


def with_families(monkeypatch, **recipes):
    modules = {}
    for family, table in recipes.items():
        modules[family] = types.ModuleType(f"archlab.{family}.recipes")
        if table is not None:
            modules[family].RECIPES = table
    monkeypatch.setattr(archlab.train.recipe, "family_modules", lambda name: modules)


def test_families_add_architectures_to_one_target_in_family_order(monkeypatch):
    a, b, c = TextRecipe(), TextRecipeElsewhere(), ClassifierRecipe()
    with_families(monkeypatch, alpha={"text": {"one": a}}, beta={"text": {"two": b}, "labels": {"cls": c}})
    assert all_recipes() == {"text": {"one": a, "two": b}, "labels": {"cls": c}}
    assert samplers() == {"text": a}  # a classifier has nothing to sample


def test_an_architecture_two_families_export_is_an_error_naming_both(monkeypatch):
    with_families(monkeypatch, alpha={"text": {"one": TextRecipe()}}, beta={"text": {"one": TextRecipe()}})
    with pytest.raises(ValueError, match="training target 'text' architecture 'one' is exported by two families, "
                                         "alpha and beta"):
        all_recipes()


def test_the_architectures_of_a_target_share_one_command_line(monkeypatch):
    with_families(monkeypatch, alpha={"text": {"one": TextRecipe()}}, beta={"text": {"two": ImageRecipe()}})
    with pytest.raises(ValueError, match="'text' must share one command line .* one \\(TextRecipe\\), two \\(ImageRecipe\\)"):
        all_recipes()


def test_a_recipes_module_without_recipes_is_an_error(monkeypatch):
    with_families(monkeypatch, alpha=None)
    with pytest.raises(ValueError, match="archlab.alpha.recipes has no RECIPES mapping"):
        all_recipes()
