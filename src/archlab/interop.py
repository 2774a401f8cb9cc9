"""Weights from the implementations people trust: ``from_transformers``, ``from_diffusers``, ``from_pyg``,
``from_torch``.

Each returns an archlab module holding the same weights whose forward, given the same inputs, returns the
reference's primary output (``logits`` for ``*ForCausalLM`` / ``*LMHeadModel``, ``last_hidden_state`` for
base models, the layer's output for a single layer) within 1e-4 in float32. The conversions live with their
families, in ``archlab.<family>.interop`` (found by ``archlab.families``), each module exposing dictionaries
from the reference class name to a converter: ``TRANSFORMERS``, ``DIFFUSERS``, ``PYG`` and ``TORCH``. A class
name belongs to one family: two families exporting it in the same table is an error naming both, raised as the
tables are gathered, whichever class is being converted. The reference libraries are imported lazily, by those
converters only.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from archlab.families import family_modules, merge_family_tables

TABLES = ("TRANSFORMERS", "DIFFUSERS", "PYG", "TORCH")


def converter_tables() -> dict[str, dict[str, Callable[[Any], nn.Module]]]:
    """``{table: {reference class name: converter}}`` over every family's ``interop`` module."""
    modules = family_modules("interop")
    return {table: merge_family_tables({family: getattr(module, table, {}) for family, module in modules.items()},
                                       what=f"{table} class")
            for table in TABLES}


def _convert(table: str, library: str, reference: Any) -> nn.Module:
    converters = converter_tables()[table]
    name = type(reference).__name__
    if name not in converters:
        supported = ", ".join(sorted(converters)) or "none yet"
        raise ValueError(f"{library} class {name} is not supported; supported classes: {supported}")
    return converters[name](reference)


def from_transformers(model: Any) -> nn.Module:
    """The archlab equivalent of a Hugging Face transformers model or layer, holding its weights."""
    return _convert("TRANSFORMERS", "transformers", model)


def from_diffusers(model_or_scheduler: Any) -> Any:
    """The archlab equivalent of a Hugging Face diffusers model (holding its weights) or scheduler (its settings)."""
    return _convert("DIFFUSERS", "diffusers", model_or_scheduler)


def from_pyg(layer: Any) -> nn.Module:
    """The archlab equivalent of a PyTorch Geometric layer, holding its weights."""
    return _convert("PYG", "torch_geometric", layer)


def from_torch(module: Any) -> nn.Module:
    """The archlab equivalent of a ``torch.nn`` module (``RNN``, ``LSTM``, ``GRU``, ...), holding its weights."""
    return _convert("TORCH", "torch.nn", module)
