"""Reference weights into archlab modules: rename a state dict by whole-name regular expressions, then load it
strictly. The converters of every family (``<family>/interop.py``) share these two steps, so a reference tensor
without an archlab counterpart, or an archlab parameter left unfilled, is always an error naming it."""

from __future__ import annotations

import re

import torch
from torch import nn

Rules = tuple[tuple[str, str], ...]


def rename_state(state: dict[str, torch.Tensor], rules: Rules, *, prefix: str = "",
                 ignored: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """``state`` with ``prefix`` stripped and every name rewritten by the first rule that matches it whole; a
    name no rule matches and no ``ignored`` pattern matches is a ``ValueError`` naming it."""
    out = {}
    for name, tensor in state.items():
        key = name[len(prefix):] if prefix and name.startswith(prefix) else name
        for pattern, target in rules:
            if re.fullmatch(pattern, key):
                out[re.sub(pattern, target, key)] = tensor
                break
        else:
            if not any(re.fullmatch(p, key) for p in ignored):
                raise ValueError(f"reference weight {name!r} has no archlab counterpart")
    return out


def load_converted(model: nn.Module, state: dict[str, torch.Tensor], reference: nn.Module) -> None:
    """Load ``state`` into ``model`` strictly (a ``ValueError`` lists what is missing or unexpected) and put the
    model in the reference's train/eval mode."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{type(reference).__name__} does not fit {type(model).__name__}: "
                         f"missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    model.train(reference.training)


def fuse_parts(state: dict[str, torch.Tensor], pattern: str, target: str,
               parts: tuple[str, ...] = ("q", "k", "v")) -> dict[str, torch.Tensor]:
    """``state`` with the tensors whose names match ``pattern`` (a regular expression with a named group
    ``part``) concatenated along dim 0, in the order ``parts``, under ``re.sub(pattern, target, name)``: separate
    query, key and value projections become one fused ``qkv`` matrix. A missing part is a ``ValueError``."""
    out: dict[str, torch.Tensor] = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in state.items():
        match = re.fullmatch(pattern, name)
        if match is None:
            out[name] = tensor
        else:
            fused.setdefault(re.sub(pattern, target, name), {})[match.group("part")] = tensor
    for name, found in fused.items():
        missing = [p for p in parts if p not in found]
        if missing:
            raise ValueError(f"reference weights for {name!r} lack the parts {missing}")
        out[name] = torch.cat([found[p] for p in parts])
    return out
