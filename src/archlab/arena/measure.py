"""The arena's speed and memory columns of one trained language model, on one sequence (batch 1), no grad.

- ``prefill_seconds``: one forward over ``context`` tokens (the faster of two, after a warm-up on a short
  prompt), as ``generate`` pre-fills a prompt.
- ``decode``: pre-fill ``context`` tokens into the decoding state (``init_state`` sized for the tokens to come,
  then ``forward(ids, state=...)``), then ``tokens`` steps of ``step``; the tokens per second of the steps, and
  the bytes of the state after them (``state_bytes``): a KV cache grows with the context (Vaswani et al. 2017's
  incremental decoding), a recurrent or selective-scan state does not (Gu and Dao 2023).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch
from torch import nn

from archlab.data.text import BYTE_VOCAB_SIZE


def state_bytes(state: Any) -> int:
    """The bytes of every tensor reachable from ``state`` (dataclasses, objects, lists, tuples, dicts), each
    storage once; a preallocated KV cache counts at its capacity."""
    seen: set[int] = set()
    total = 0
    stack = [state]
    visited: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            key = item.untyped_storage().data_ptr()
            if key not in seen:
                seen.add(key)
                total += item.untyped_storage().nbytes()
            continue
        if id(item) in visited or isinstance(item, (str, bytes, int, float, bool, type(None), torch.dtype,
                                                     torch.device)):
            continue
        visited.add(id(item))
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif dataclasses.is_dataclass(item) or hasattr(item, "__dict__"):
            stack.extend(vars(item).values())
    return total


def _ids(length: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, BYTE_VOCAB_SIZE, (1, length), generator=generator)  # (1, L)


@torch.no_grad()
def prefill_seconds(model: nn.Module, context: int) -> float:
    """Seconds of one forward over ``context`` tokens, the faster of two."""
    model.eval()
    model(_ids(min(context, 16)))  # warm-up
    times = []
    ids = _ids(context)
    for _ in range(2):
        began = time.perf_counter()
        model(ids)
        times.append(time.perf_counter() - began)
    return min(times)


@torch.no_grad()
def decode(model: nn.Module, context: int, tokens: int) -> tuple[float, int]:
    """``(tokens per second, state bytes)`` of decoding ``tokens`` tokens after a ``context``-token prompt."""
    model.eval()
    state = model.init_state(1, max_len=context + tokens)
    logits = model(_ids(context), state=state).logits[:, -1]  # (1, L, V) -> (1, V)
    began = time.perf_counter()
    for _ in range(tokens):
        token = logits.argmax(-1)  # (1,)
        logits, state = model.step(token, state)
    seconds = time.perf_counter() - began
    return tokens / max(seconds, 1e-9), state_bytes(state)
