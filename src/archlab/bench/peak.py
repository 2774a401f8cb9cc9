"""This machine's fp32 matmul peak, measured: the yardstick for achieved FLOP/s (model FLOPs utilisation).

A square ``n x n`` matmul does ``2 n^3`` floating-point operations (one multiply and one add per term).
The peak is the best, over a few sizes, of the median FLOP/s of a few repeats at that size; it is a
practical peak (what torch's matmul reaches here), not the vendor's datasheet number. On a GPU the
matmul runs in true fp32 (TF32 off, as in torch's default), the precision both benchmarked models use.
"""

from __future__ import annotations

import statistics
import time

import torch


def matmul_flops_per_second(n: int, *, device: str = "cpu", repeats: int = 3) -> float:
    """Median FLOP/s of ``repeats`` fp32 ``n x n`` matmuls on ``device`` (after one warm-up)."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(device)
    b = torch.randn(n, n, generator=generator).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    calls = 1 if device == "cpu" else 20  # a GPU matmul takes well under a millisecond: time a batch
    torch.mm(a, b)
    sync()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b)
        sync()
        rates.append(calls * 2 * n**3 / (time.perf_counter() - start))
    return statistics.median(rates)


def matmul_peak(*, device: str = "cpu", sizes: tuple[int, ...] = (1024, 2048), repeats: int = 3) -> float:
    """The fp32 matmul peak FLOP/s of ``device``: the best of the per-size medians."""
    return max(matmul_flops_per_second(n, device=device, repeats=repeats) for n in sizes)
