"""The Python side of a compiled pointwise step kernel (``archlab.rnn.lstm_kernel``, ``archlab.rnn.gru_kernel``).

Each kernel's C++ source exports ``<name>_fwd_<suffix>`` and ``<name>_bwd_<suffix>`` for float32 (``f32``) and
float64 (``f64``): pointer arguments first, then the three sizes (batch rows, hidden units, gate stride) as
int64 and the thread count as int. ``StepLibrary`` builds the source once through
``archlab.core.scan_kernel.build_library``, declares those signatures and hands out the pair for a tensor's dtype.
"""

from __future__ import annotations

import ctypes
from functools import cached_property

import torch

from archlab.core.scan_kernel import build_library

SUFFIX = {torch.float32: "f32", torch.float64: "f64"}

# The activations both kernels share, with arguments clamped so that fast-math's exp never overflows;
# tanh(x) = 1 - 2 / (exp(2x) + 1). On x86 the loops use 256-bit vectors (libmvec's 8-lane AVX2 exp) even where
# GCC's tuning for the CPU prefers 128-bit ones (AMD Zen 1): five exps per hidden unit make the wider calls pay;
# on this machine's Zen CPU the LSTM step's pointwise part took 13 ms for 256 steps of 16 x 256 units, not 21.
POINTWISE_PRELUDE = r"""#include <cmath>
#include <cstdint>
#include <omp.h>
#if defined(__x86_64__)
#pragma GCC target("prefer-vector-width=256")
#endif

template <typename T> static inline T clamp_arg(T x) {
    const T lim = sizeof(T) == 4 ? T(40) : T(350);  // exp(2 lim) stays finite (fast-math assumes no inf)
    return x > lim ? lim : (x < -lim ? -lim : x);
}
template <typename T> static inline T sigm(T x) { return T(1) / (T(1) + std::exp(-clamp_arg(x))); }
template <typename T> static inline T tanh_(T x) { return T(1) - T(2) / (std::exp(T(2) * clamp_arg(x)) + T(1)); }
"""


class StepLibrary:
    """A step kernel named ``name`` whose forward takes ``fwd_pointers`` and backward ``bwd_pointers`` pointers."""

    def __init__(self, name: str, source: str, *, fwd_pointers: int, bwd_pointers: int):
        self.name, self.source = name, source
        self.pointers = {"fwd": fwd_pointers, "bwd": bwd_pointers}

    @cached_property
    def library(self) -> ctypes.CDLL | None:
        """The compiled library, built on first use; None when it cannot be built."""
        lib = build_library(self.name, self.source)
        if lib is None:
            return None
        for suffix in SUFFIX.values():
            for direction, pointers in self.pointers.items():
                getattr(lib, f"{self.name}_{direction}_{suffix}").argtypes = (
                    [ctypes.c_void_p] * pointers + [ctypes.c_int64] * 3 + [ctypes.c_int])
        return lib

    def load(self) -> ctypes.CDLL | None:
        return self.library

    def kernels_for(self, t: torch.Tensor) -> tuple[ctypes._CFuncPtr, ctypes._CFuncPtr] | None:
        """The (forward, backward) step functions for tensors like ``t`` (CPU, float32 or float64), or None."""
        if t.device.type != "cpu" or t.dtype not in SUFFIX or self.library is None:
            return None
        suffix = SUFFIX[t.dtype]
        return getattr(self.library, f"{self.name}_fwd_{suffix}"), getattr(self.library, f"{self.name}_bwd_{suffix}")
