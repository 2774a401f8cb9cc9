"""A family's anatomy, generated from the code: a representative model's parts, their output shapes, parameter
counts and shares of the forward FLOPs, measured on one real input.

The hook (a convention, like ``claims.py``): a family that wants the generated anatomy on its atlas page holds a
module ``archlab/<family>/anatomy.py`` with a function

    def representative_model() -> tuple[torch.nn.Module, tuple] | tuple[torch.nn.Module, tuple, str]:
        '''A model of the family at quick scale and one real input for it: ``model(*inputs)`` runs; a model
        whose representative pass is another method (a VAE's ``reconstruct``) names it third.'''

A family without the module gets a page without the generated section and a note that says so.
FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (matrix products and convolutions; element-wise
operations count zero), a part's FLOPs being the counter's growth between its forward hooks. Each part's share is of the model's total; the FLOPs the model's own ``forward`` spends
outside its top-level parts (a tied output projection written as a matmul) are one more row, so the shares of the
top-level rows sum to 1.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from archlab.families import families_with

HOOK_MODULE = "anatomy"
HOOK_FUNCTION = "representative_model"
OWN_OPERATIONS = "(own operations)"


@dataclass
class Part:
    """One module of the representative model. ``depth`` 1 is a top-level part, 2 one of its children;
    ``output`` the shape of what it returned on its last call (``""`` when it was never called itself);
    ``share`` its FLOPs over the model's total (``None`` when the model counts no FLOPs)."""

    name: str
    kind: str
    depth: int
    output: str
    calls: int
    params: int
    flops: int
    share: float | None


@dataclass
class Anatomy:
    """The representative model: its class, input and output shapes, totals, and its parts in call order."""

    model: str
    input: str
    output: str
    params: int
    flops: int
    parts: list[Part]

    @property
    def top_level(self) -> list[Part]:
        return [part for part in self.parts if part.depth == 1]


def has_hook(family: str) -> bool:
    return family in families_with(HOOK_MODULE)


def representative_model(family: str) -> "tuple[Any, tuple, str] | None":
    """The family's representative ``(model, inputs, method)`` from its hook, or None when it has none."""
    if not has_hook(family):
        return None
    found = getattr(importlib.import_module(f"archlab.{family}.{HOOK_MODULE}"), HOOK_FUNCTION)()
    model, inputs, method = found if len(found) == 3 else (*found, "forward")
    return model, tuple(inputs), method


def shape_text(value: Any) -> str:
    """A module's output as shapes: ``(2, 16, 64)``; tuples and dataclasses (``LMOutput``) list their tensors."""
    import torch

    if isinstance(value, torch.Tensor):
        return str(tuple(value.shape))
    if isinstance(value, (tuple, list)):
        inner = [shape_text(v) for v in value]
        return ", ".join(text for text in inner if text)
    if isinstance(value, dict):
        inner = [(str(key), shape_text(v)) for key, v in value.items()]
        return ", ".join(f"{name} {text}" for name, text in inner if text)
    if is_dataclass(value) and not isinstance(value, type):
        inner = [(f.name, shape_text(getattr(value, f.name))) for f in fields(value)]
        return ", ".join(f"{name} {text}" for name, text in inner if text)
    return ""


def _walk(model: Any) -> list[tuple[str, Any, int]]:
    """``(name, module, depth)`` for the top-level parts and, below each, its children (a container's members)."""
    found = []
    for name, child in model.named_children():
        found.append((name, child, 1))
        for sub_name, sub in child.named_children():
            found.append((f"{name}.{sub_name}", sub, 2))
    return found


def anatomize(model: Any, inputs: tuple, method: str = "forward") -> Anatomy:
    """Run ``model.<method>(*inputs)`` once in eval mode without gradients, recording each part's output shape and
    forward FLOPs."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    parts = _walk(model)
    outputs: dict[str, str] = {}
    calls: dict[str, int] = {}
    flops: dict[str, int] = {}
    started: dict[str, list[int]] = {}
    order: list[str] = []
    counter = FlopCounterMode(display=False)

    def before(name: str):
        def hook(module, args):
            started.setdefault(name, []).append(counter.get_total_flops())
        return hook

    def after(name: str):
        def hook(module, args, output):
            if name not in calls:
                order.append(name)
            calls[name] = calls.get(name, 0) + 1
            outputs[name] = shape_text(output)
            flops[name] = flops.get(name, 0) + counter.get_total_flops() - started[name].pop()
        return hook

    handles = [handle for name, module, _ in parts
               for handle in (module.register_forward_pre_hook(before(name)),
                              module.register_forward_hook(after(name)))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), counter:
            output = getattr(model, method)(*inputs)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    total = int(counter.get_total_flops())

    def part_flops(name: str) -> int:
        """A part's FLOPs, or its members' when it was not called itself (a ModuleList)."""
        if name in flops:
            return flops[name]
        return sum(f for n, f in flops.items() if n.startswith(f"{name}.") and n.count(".") == name.count(".") + 1)

    def share(n: int) -> float | None:
        return n / total if total > 0 else None

    def first_call(item: tuple[str, Any, int]) -> int:
        name = item[0]
        if name in order:
            return order.index(name)
        inner = [order.index(n) for n, _, _ in parts if n.startswith(f"{name}.") and n in order]
        return min(inner, default=len(order))

    rows: list[Part] = []
    top = sorted((p for p in parts if p[2] == 1), key=first_call)
    for name, module, _ in top:
        children = sorted((p for p in parts if p[2] == 2 and p[0].startswith(f"{name}.")), key=first_call)
        for item_name, item, depth in [(name, module, 1), *children]:
            n = part_flops(item_name)
            rows.append(Part(item_name, type(item).__name__, depth, outputs.get(item_name, ""),
                             calls.get(item_name, 0), sum(p.numel() for p in item.parameters()), n, share(n)))
    own = total - sum(part.flops for part in rows if part.depth == 1)
    if own != 0:
        rows.append(Part(OWN_OPERATIONS, type(model).__name__, 1, "", 1, 0, own, share(own)))
    return Anatomy(
        model=type(model).__name__,
        input=", ".join(shape_text(x) or type(x).__name__ for x in inputs),
        output=shape_text(output),
        params=sum(p.numel() for p in model.parameters()),
        flops=total,
        parts=rows,
    )
