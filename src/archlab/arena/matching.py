"""Matching architectures on size: the width at which a recipe's model has a target count of non-embedding
parameters.

Non-embedding parameters are every parameter except the token (and learned position) embeddings and the
output head, as Kaplan et al. 2020 ("Scaling laws for neural language models", section 2.1) count model size:
found generically as the weights of the modules whose class name ends in ``Embedding`` (``nn.Embedding``, a
learned position table) and of the ``nn.Linear`` outside the stack of blocks whose ``out_features`` is the
vocabulary (with its bias; a block's layer of that width is not the head), tied or not, each shared tensor
counted once. A mixture of experts is matched on its *active* parameters, those one token uses (Fedus et al.
2022, Switch Transformers): a model whose ``num_parameters`` takes ``active=True`` reports how many of its
parameters a token skips, and that difference is taken off its non-embedding count; its total is reported
beside.

The search changes ``d_model`` only, and the fields that the preset sets as a multiple of it (``WIDTH_FIELDS``:
an RNN's ``hidden_size``, an explicit ``d_ff``), which keep their ratio to ``d_model``; every other preset
field is kept. A width the config or the model refuses (heads that do not divide it) is skipped. Where the
feed-forward width is derived from ``d_model`` in steps too coarse to land within 5% (a mixture of experts'
``d_ff``, rounded up to 32, with heads that need ``d_model`` in steps of 8), ``d_ff`` is then set explicitly
at the nearest ``d_model``, in steps of 8.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

# Config fields that a preset may set in proportion to d_model; the search scales them with it.
WIDTH_FIELDS = ("hidden_size", "d_ff", "d_expert")
TOLERANCE = 0.05
MAX_WIDTH = 8192


@dataclass
class ParameterCount:
    """``matched``: the count matched on (non-embedding; active for a mixture of experts); ``non_embedding``:
    all non-embedding parameters; ``total``: every parameter, shared ones once."""

    matched: int
    non_embedding: int
    total: int


@dataclass
class Match:
    """The model config of one architecture at ``target`` matched parameters, and how close it came."""

    arch: str
    target: int
    d_model: int
    config: Any
    count: ParameterCount

    @property
    def relative_error(self) -> float:
        return self.count.matched / self.target - 1.0


def _unique(params) -> dict[int, nn.Parameter]:
    return {id(p): p for p in params}


def count_parameters(model: nn.Module) -> ParameterCount:
    """The parameter counts of ``model`` (works on the meta device: only shapes are read)."""
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    every = _unique(model.parameters())
    embedding: dict[int, nn.Parameter] = {}
    for name, module in model.named_modules():
        in_stack = any(part.isdigit() for part in name.split("."))  # inside a stack of blocks: not the head
        head = isinstance(module, nn.Linear) and module.out_features == vocab and not in_stack
        if type(module).__name__.endswith("Embedding") or head:
            embedding.update(_unique(module.parameters(recurse=False)))
    total = sum(p.numel() for p in every.values())
    non_embedding = total - sum(p.numel() for p in embedding.values())
    matched = non_embedding
    counter = getattr(model, "num_parameters", None)
    if counter is not None and "active" in inspect.signature(counter).parameters:
        matched -= counter() - counter(active=True)  # the experts a token does not use
    return ParameterCount(matched=matched, non_embedding=non_embedding, total=total)


def _config_at(recipe: Any, width: int, **overrides: Any) -> Any:
    """The recipe's preset config at ``d_model=width`` with its width fields scaled alike."""
    preset = dict(recipe.model_defaults, **overrides)
    base = recipe.model_config(vocab_size=256, **preset)
    scaled = {name: max(1, round(getattr(base, name) * width / base.d_model)) for name in WIDTH_FIELDS
              if isinstance(getattr(base, name, None), int) and name in recipe.model_defaults
              and name not in overrides}  # an explicit override is taken as given
    return recipe.model_config(**{**preset, "vocab_size": base.vocab_size, "d_model": width, **scaled})


def _count_at(recipe: Any, width: int, overrides: dict) -> tuple[Any, ParameterCount] | None:
    try:
        config = _config_at(recipe, width, **overrides)
        with torch.device("meta"):
            model = recipe.model_class(config)
    except ValueError:
        return None  # a width the config or the model refuses (e.g. heads that do not divide it)
    return config, count_parameters(model)


def _fit_feed_forward(recipe: Any, width: int, target: int, overrides: dict,
                      nearest: tuple[Any, ParameterCount]) -> tuple[Any, ParameterCount]:
    """At ``width``, the feed-forward width (``d_ff``, a multiple of 8, which the preset leaves derived) whose
    count is nearest ``target``: for a model whose derived ``d_ff`` rounds in steps too coarse for 5%."""
    lo, hi = 1, 16 * width // 8  # d_ff = 8 * k; counts grow with k
    while lo < hi:
        mid = (lo + hi) // 2
        result = _count_at(recipe, width, {**overrides, "d_ff": 8 * mid})
        if result is not None and result[1].matched >= target:
            hi = mid
        else:
            lo = mid + 1
    tried = [r for k in (lo - 1, lo) if k >= 1 and (r := _count_at(recipe, width, {**overrides, "d_ff": 8 * k}))]
    return min([nearest, *tried], key=lambda r: abs(r[1].matched - target))


def match_size(arch: str, recipe: Any, target: int, **overrides: Any) -> Match:
    """The config of ``recipe`` (``d_model`` searched, ``overrides`` such as ``max_seq_len`` applied) whose
    matched parameter count is nearest ``target``; ``ValueError`` when the nearest is off by more than 5%."""
    if target < 1:
        raise ValueError(f"target={target} must be >= 1 parameter")
    lo, hi = 1, MAX_WIDTH  # binary search on the smallest valid width whose count reaches target
    found: dict[int, tuple[Any, ParameterCount]] = {}

    def valid_at_or_above(width: int) -> int | None:
        for w in range(width, min(width + 64, MAX_WIDTH) + 1):
            if w not in found and (result := _count_at(recipe, w, overrides)) is not None:
                found[w] = result
            if w in found:
                return w
        return None

    def reaches(width: int) -> bool:  # monotone in width: counts grow with it
        w = valid_at_or_above(width)
        return w is not None and found[w][1].matched >= target

    while lo < hi:
        mid = (lo + hi) // 2
        if reaches(mid):
            hi = mid
        else:
            lo = mid + 1
    above = valid_at_or_above(lo)
    for w in range((above or lo) - 1, max(0, (above or lo) - 65), -1):  # the valid width just below
        if (result := _count_at(recipe, w, overrides)) is not None:
            found[w] = result
            break
    near = [w for w in found if w == above or (above is None or w < above)]
    best = min(near, key=lambda w: abs(found[w][1].matched - target))
    config, count = found[best]
    if abs(count.matched / target - 1) > TOLERANCE and getattr(config, "d_ff", 0) is None:
        config, count = _fit_feed_forward(recipe, best, target, overrides, (config, count))
    match = Match(arch=arch, target=target, d_model=best, config=config, count=count)
    if abs(match.relative_error) > TOLERANCE:
        raise ValueError(f"{arch}: no d_model matches {target:,} parameters within {TOLERANCE:.0%}; the nearest, "
                         f"d_model={best}, has {count.matched:,} ({match.relative_error:+.1%})")
    return match
