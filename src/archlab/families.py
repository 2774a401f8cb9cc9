"""The architecture families: every package of archlab that holds a given module, found by convention.

A family is a package ``archlab/<family>/`` and registers itself by the modules it holds, never by an edit
elsewhere: ``claims.py`` (its claims, ``archlab.lab.registry``), ``interop.py`` (its converter tables,
``archlab.interop``), ``recipes.py`` (its ``archlab train`` / ``archlab sample`` targets,
``archlab.train.recipe``) and ``bench.py`` (its benchmarks, ``archlab.bench.registry``). Each of those
registries asks ``family_modules(<module>)`` for the families' modules; none of them names a family.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from types import ModuleType
from typing import Mapping, TypeVar

import archlab

# Families are listed, imported and shown in this order; a family not listed here follows, alphabetically.
FAMILY_ORDER = ("transformer", "moe", "ssm", "rnn", "diffusion", "vision", "gnn", "vae", "gan", "multimodal",
                "reward")

# Packages of archlab that serve the families and are never one, whatever modules they hold.
INFRASTRUCTURE = ("atlas", "bench", "core", "data", "lab", "train")

T = TypeVar("T")


def families_with(module: str) -> list[str]:
    """The names of the family packages that hold a module ``module`` (e.g. ``"claims"``), in family order."""
    found = [info.name for info in pkgutil.iter_modules(archlab.__path__)
             if info.ispkg and info.name not in INFRASTRUCTURE
             and importlib.util.find_spec(f"archlab.{info.name}.{module}") is not None]
    rank = {name: i for i, name in enumerate(FAMILY_ORDER)}
    return sorted(found, key=lambda name: (rank.get(name, len(rank)), name))


def family_modules(module: str) -> dict[str, ModuleType]:
    """``{family: archlab.<family>.<module>}``, imported, for every family that holds ``module``, in family order."""
    return {family: importlib.import_module(f"archlab.{family}.{module}") for family in families_with(module)}


def merge_family_tables(tables: dict[str, Mapping[str, T]], *, what: str) -> dict[str, T]:
    """The union of the families' tables (``{family: {key: value}}``); a key that two families export raises
    ``ValueError`` naming the key and both families, instead of one silently replacing the other."""
    merged: dict[str, T] = {}
    owner: dict[str, str] = {}
    for family, table in tables.items():
        for key, value in table.items():
            if key in owner:
                raise ValueError(f"{what} {key!r} is exported by two families, {owner[key]} and {family}; "
                                 "a name may belong to one family only")
            merged[key], owner[key] = value, family
    return merged
