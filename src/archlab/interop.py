"""Weights from the implementations people trust: ``from_transformers``, ``from_pyg``, ``from_torch``.

Each returns an archlab module holding the same weights whose forward, given the same inputs, returns the
reference's primary output (``logits`` for ``*ForCausalLM`` / ``*LMHeadModel``, ``last_hidden_state`` for
base models, the layer's output for a single layer) within 1e-4 in float32. The conversions live with their
families, in ``archlab.<family>.interop``, each module exposing dictionaries from the reference class name to a
converter: ``TRANSFORMERS``, ``PYG`` and ``TORCH``. The reference libraries are imported lazily, by those
converters only.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from typing import Any, Callable

import archlab
from torch import nn


def _converters(table: str) -> dict[str, Callable[[Any], nn.Module]]:
    found: dict[str, Callable[[Any], nn.Module]] = {}
    for info in pkgutil.iter_modules(archlab.__path__):
        if info.ispkg and importlib.util.find_spec(f"archlab.{info.name}.interop") is not None:
            module = importlib.import_module(f"archlab.{info.name}.interop")
            found.update(getattr(module, table, {}))
    return found


def _convert(table: str, library: str, reference: Any) -> nn.Module:
    converters = _converters(table)
    name = type(reference).__name__
    if name not in converters:
        supported = ", ".join(sorted(converters)) or "none yet"
        raise ValueError(f"{library} class {name} is not supported; supported classes: {supported}")
    return converters[name](reference)


def from_transformers(model: Any) -> nn.Module:
    """The archlab equivalent of a Hugging Face transformers model or layer, holding its weights."""
    return _convert("TRANSFORMERS", "transformers", model)


def from_pyg(layer: Any) -> nn.Module:
    """The archlab equivalent of a PyTorch Geometric layer, holding its weights."""
    return _convert("PYG", "torch_geometric", layer)


def from_torch(module: Any) -> nn.Module:
    """The archlab equivalent of a ``torch.nn`` module (``RNN``, ``LSTM``, ``GRU``, ...), holding its weights."""
    return _convert("TORCH", "torch.nn", module)
