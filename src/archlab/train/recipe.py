"""Training targets by convention: the ``Recipe`` a family exports, and the registry over every family's.

A family makes ``archlab train TARGET --arch ARCH`` (and ``archlab sample TARGET``, ``archlab predict TARGET``)
work by one module-level mapping in its ``recipes.py``, from a target to its architectures to a recipe object::

    RECIPES = {"lm": {"gpt2": lm_recipe("gpt2"), "llama": lm_recipe("llama")}}

Several families may add architectures to one target (``lm`` has gpt2 and llama from the transformer family,
moe, mamba, hybrid, lstm, gru from three others); one architecture of one target belongs to one family, and a
second is an error naming both (``archlab.families.merge_family_tables``). The recipes of one target share its
command line: the same ``add_arguments`` / ``apply_arguments``, the same sampler and predictor, checked here.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Protocol

from archlab.families import family_modules, merge_family_tables

if TYPE_CHECKING:  # annotations only: importing this module imports neither torch nor a family
    from archlab.train.config import RunConfig
    from archlab.train.task import Task

# The methods that make a target's command line; every recipe of one target has the same functions for them.
COMMAND_LINE = ("add_arguments", "apply_arguments", "add_sample_arguments", "sample", "add_predict_arguments",
                "predict")


class Recipe(Protocol):
    """What ``archlab train`` / ``archlab sample`` need of one architecture of one target.

    - ``summary``: one line for ``--help``, what the target trains (``"a byte-level language model on text"``).
    - ``default_config()``: the ``RunConfig`` of a small CPU run; ``--steps``, ``--seed``, the recipe's own
      options and then ``--set key=value`` edit it.
    - ``build_task(config)``: the model (initialised from torch's global RNG, seeded first) and its ``Task``.
    - ``add_arguments(parser)`` / ``apply_arguments(config, args) -> RunConfig``: the target's own options
      (``--data PATH`` for ``lm``) and how they set config fields; a bad value raises ``UserError``.
    - ``add_sample_arguments(parser)`` / ``sample(model, args) -> str``: the sampler of ``archlab sample``,
      given the model loaded from ``--ckpt`` and the seed in ``args.seed``; it returns what the command writes
      to stdout (``lm``: the prompt and its continuation; an image target: the path of the PNG grid it wrote).
      A target with nothing to sample (a classifier) leaves both out and ``archlab sample`` does not offer it.
    - ``add_predict_arguments(parser)`` / ``predict(model, args) -> str``: the predictor of ``archlab predict``,
      given the model loaded from ``--ckpt`` and its inputs (a classifier: image paths; it returns each one's
      top classes). Optional as the sampler: only targets that define it are offered.
    """

    summary: str

    def default_config(self) -> RunConfig: ...

    def build_task(self, config: RunConfig) -> Task: ...

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def apply_arguments(self, config: RunConfig, args: argparse.Namespace) -> RunConfig: ...


def _command_line(recipe: Any) -> tuple:
    return tuple(getattr(type(recipe), name, None) for name in COMMAND_LINE)


def all_recipes() -> dict[str, dict[str, Recipe]]:
    """``{target: {arch: recipe}}`` over every family's ``RECIPES``, targets and architectures in family order
    (a target's first architecture is its default)."""
    tables: dict[str, dict[str, Any]] = {}
    for family, module in family_modules("recipes").items():
        if not isinstance(getattr(module, "RECIPES", None), dict):
            raise ValueError(f"{module.__name__} has no RECIPES mapping {{target: {{arch: recipe}}}}; "
                             "every family's recipes.py exports one")
        for target, archs in module.RECIPES.items():
            tables.setdefault(target, {})[family] = archs
    targets = {target: merge_family_tables(by_family, what=f"training target {target!r} architecture")
               for target, by_family in tables.items()}
    for target, archs in targets.items():
        faces = {_command_line(recipe) for recipe in archs.values()}
        if len(faces) > 1:
            kinds = ", ".join(f"{arch} ({type(recipe).__name__})" for arch, recipe in archs.items())
            raise ValueError(f"the architectures of training target {target!r} must share one command line "
                             f"({', '.join(COMMAND_LINE)}); they differ among {kinds}")
    return targets


def _first_having(method: str) -> dict[str, Recipe]:
    return {target: first for target, archs in all_recipes().items()
            if hasattr(first := next(iter(archs.values())), method)}


def samplers() -> dict[str, Recipe]:
    """``{target: recipe}`` for the targets that have a sampler (``archlab sample``), the first recipe of each."""
    return _first_having("sample")


def predictors() -> dict[str, Recipe]:
    """``{target: recipe}`` for the targets that have a predictor (``archlab predict``), the first recipe of each."""
    return _first_having("predict")
