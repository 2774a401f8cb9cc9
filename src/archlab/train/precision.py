"""The machine's best training precision: bf16 autocast on a GPU that supports it and on a CPU with bf16 matrix
units, float32 elsewhere.

A CPU counts as having bf16 matrix units when its flags (Linux ``/proc/cpuinfo``) name Intel AMX's bf16 tiles
(``amx_bf16``, Sapphire Rapids and later) or the AVX-512 bf16 dot products (``avx512_bf16``, Cooper Lake, AMD
Zen 4 and later): there oneDNN runs bf16 matmuls natively, and bf16 autocast trains GPT-2 shapes several times
faster than float32 (issue 18). Without them bf16 is emulated and slower than float32, so "auto" keeps float32.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional

import torch

BF16_MATRIX_FLAGS = ("amx_bf16", "avx512_bf16")


@lru_cache(maxsize=1)
def _cpuinfo_flags() -> frozenset[str]:
    """The first ``flags`` line of ``/proc/cpuinfo`` as a set; empty where there is none (macOS, Windows, ARM)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_has_bf16_matmul(flags: Optional[Iterable[str]] = None) -> bool:
    """Whether the CPU (or one with these ``flags``, for tests) has bf16 matrix units (``BF16_MATRIX_FLAGS``)."""
    present = _cpuinfo_flags() if flags is None else frozenset(flags)
    return any(flag in present for flag in BF16_MATRIX_FLAGS)


def autocast_dtype(precision: str, device: torch.device, *, cpu_flags: Optional[Iterable[str]] = None
                   ) -> Optional[torch.dtype]:
    """bf16 for ``"bf16"``; for ``"auto"`` bf16 on a GPU that supports it or a CPU with bf16 matrix units (its
    flags ``cpu_flags``, default this machine's); None (float32) otherwise."""
    if precision == "bf16":
        return torch.bfloat16
    if precision != "auto":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu" and cpu_has_bf16_matmul(cpu_flags):
        return torch.bfloat16
    return None
