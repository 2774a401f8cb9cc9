"""MKL's packed single-precision GEMM, taken from the MKL that PyTorch's x86 builds carry inside ``libtorch_cpu``.

A recurrent layer multiplies the same weight by a new small batch of states at every time step. A plain GEMM
re-packs the weight into the kernel's blocked layout on every call; for a (B, H) x (H, 4H) product with B = 32
that copy costs a large share of the product itself. MKL's packed interface (``cblas_sgemm_pack`` once, then
``cblas_sgemm_compute`` at every step) pays it once per sequence, as oneDNN's RNN primitive does inside
``torch.nn.LSTM``. The compiled step kernels (``archlab.rnn.lstm_kernel``) call ``compute`` directly from their
time loop through the address given here, so no Python runs between steps.

``packed_sgemm()`` is None where PyTorch carries no MKL (ARM, macOS, other BLAS builds) or
``ARCHLAB_NO_KERNEL=1``; callers then keep their per-step ``addmm``.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

# CBLAS constants (MKL's mkl_cblas.h): column-major layout, operand A, (not) transposed, the packed marker
_COL_MAJOR, _A_MATRIX, _NO_TRANS, _TRANS, _PACKED = 102, 161, 111, 112, 151


@dataclass(frozen=True)
class PackedSgemm:
    """The two MKL entry points: ``pack`` (called from Python) and the address of ``cblas_sgemm_compute``
    (called from compiled code with arguments ``(102, 151, 111, m, n, k, packed, k, b, ldb, beta, c, ldc)``)."""

    library: ctypes.CDLL

    @property
    def compute_address(self) -> int:
        return ctypes.cast(self.library.cblas_sgemm_compute, ctypes.c_void_p).value

    def pack(self, weight: Tensor) -> Tensor:
        """``weight`` (M, K), float32 CPU, packed as operand A of the column-major product ``C = W X^T``: with it,
        ``compute`` gives for rows ``x`` (n, K) of a row-major batch the rows of ``x @ weight.T`` (n, M). The
        buffer (bytes) serves any n."""
        m, k = weight.shape
        weight = weight.contiguous()
        size = self.library.cblas_sgemm_pack_get_size(_A_MATRIX, m, 1, k)
        packed = torch.empty(size, dtype=torch.uint8)
        # column-major, W row-major (M, K) is (K x M) with leading dimension K; transposed it is the (M x K) operand
        self.library.cblas_sgemm_pack(_COL_MAJOR, _A_MATRIX, _TRANS, m, 1, k, 1.0, weight.data_ptr(), k,
                                      packed.data_ptr())
        return packed


@lru_cache(maxsize=1)
def packed_sgemm() -> PackedSgemm | None:
    """MKL's packed GEMM from the loaded PyTorch library, or None where it has none."""
    if os.environ.get("ARCHLAB_NO_KERNEL") == "1":
        return None
    path = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        library = ctypes.CDLL(str(path))  # already loaded by ``import torch``: this returns its handle
        library.cblas_sgemm_pack_get_size.restype = ctypes.c_size_t
        library.cblas_sgemm_pack_get_size.argtypes = [ctypes.c_int] * 4
        library.cblas_sgemm_pack.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int,
                                                                    ctypes.c_void_p]
        library.cblas_sgemm_compute.argtypes = [ctypes.c_int] * 6 + [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                                                     ctypes.c_int, ctypes.c_float, ctypes.c_void_p,
                                                                     ctypes.c_int]
    except (OSError, AttributeError):  # AttributeError: this build of PyTorch has no MKL
        return None
    blas = PackedSgemm(library)
    return blas if _agrees_with_torch(blas) else None


def _agrees_with_torch(blas: PackedSgemm) -> bool:
    """One small product through the packed path against ``torch.mm``: a guard against an MKL whose integers or
    conventions differ from those declared here (for example a 64-bit-integer build)."""
    g = torch.Generator().manual_seed(0)
    weight, x = torch.randn(12, 5, generator=g), torch.randn(3, 5, generator=g)  # (M, K), (n, K)
    out = torch.zeros(3, 12)
    packed = blas.pack(weight)
    blas.library.cblas_sgemm_compute(_COL_MAJOR, _PACKED, _NO_TRANS, 12, 3, 5, packed.data_ptr(), 5, x.data_ptr(), 5,
                                     0.0, out.data_ptr(), 12)
    return torch.allclose(out, x @ weight.T, atol=1e-5)
