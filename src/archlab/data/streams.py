"""Randomness of a run: one rule for seeds, one generator per (seed, stream, step), one global seeding.

**Seeds.** A seed is any Python ``int``. ``reduce_seed`` maps it modulo 2**64 onto the unsigned 64-bit range
that ``torch.manual_seed`` accepts (so ``-1`` is ``2**64 - 1`` and ``2**64`` is ``0``); every function here
applies that same reduction, so ``archlab run CLAIM --seed -1`` and ``archlab train ... --seed -1`` seed alike.
A ``bool`` or a non-integer raises ``ValueError``.

**Data streams.** ``step_generator(seed, stream, step)`` is a fresh ``torch.Generator`` seeded by a stable hash
(BLAKE2b, not Python's ``hash``, which is salted per process) of the reduced seed, the stream's name and the
step. A batch drawn from it is a pure function of those three values, whatever was drawn before: a resumed run
replays its batches, data-parallel ranks compute the same global batch, and two named streams of one run
(``"train"`` batches, a held-out ``"eval"`` set, a ``"task"`` definition) never share draws. The language-model
batches of ``archlab.data.tokens`` use the streams ``"train"`` and ``"val"``.

**Global seeding.** ``seed_everything(seed)`` seeds Python's ``random``, NumPy's global generator (the low 32
bits of the reduced seed: NumPy accepts no more) and torch on the CPU and every GPU. The claim runner and
``archlab train`` both call it.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch

from archlab.seed_option import SEED_MODULUS


def reduce_seed(seed: int) -> int:
    """``seed`` modulo 2**64: the unsigned 64-bit seed torch takes, for any Python int."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed={seed!r} must be an integer")
    return int(seed) % SEED_MODULUS


def stream_seed(seed: int, stream: str, step: int) -> int:
    """A 63-bit seed from a stable hash of ``(reduce_seed(seed), stream, step)``."""
    if not isinstance(stream, str) or not stream or ":" in stream:
        raise ValueError(f"stream={stream!r} must be a non-empty name without ':'")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"step={step!r} must be an integer >= 0")
    digest = hashlib.blake2b(f"{reduce_seed(seed)}:{stream}:{int(step)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def step_generator(seed: int, stream: str, step: int) -> torch.Generator:
    """A CPU generator for the draws of ``step`` in the named ``stream`` of a run seeded with ``seed``."""
    return torch.Generator().manual_seed(stream_seed(seed, stream, step))


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every GPU) from ``seed``."""
    value = reduce_seed(seed)
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)
