"""Measurements that claims share: median wall time, peak tensor memory of a call, log-log slopes.

``peak_tensor_bytes`` counts the storage of every tensor created while a function runs (through a
``TorchDispatchMode``) and releases it when the tensor is garbage-collected, so it measures what the
operation itself allocates, on any device, without relying on allocator statistics that CPUs lack.
Views share their base's storage and are counted once.
"""

from __future__ import annotations

import math
import statistics
import time
import weakref
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


def median_seconds(fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls."""
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be >= 1")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_median_seconds(
    fns: Sequence[Callable[[], object]], *, repeats: int = 5, warmup: int = 1
) -> list[float]:
    """Median wall-clock seconds of each of ``fns``, timed round-robin: every round calls each function once.

    When the functions are the same operation at several sizes, a burst of load from other tenants of a
    shared machine then falls on all sizes alike instead of bending the measured scaling curve.
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be >= 1")
    for fn in fns:
        for _ in range(warmup):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) for bucket in times]


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads, then restore the previous count.

    Timing claims compare work at several sizes; one thread keeps the thread pool's start-up and the
    other tenants of a shared machine out of the comparison.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _LiveTensorBytes(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._storages: set[int] = set()

    def _release(self, key: int, nbytes: int) -> None:
        self._storages.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                key = t.untyped_storage().data_ptr()
                if key in self._storages or key == 0:
                    continue
                nbytes = t.untyped_storage().nbytes()
                self._storages.add(key)
                self.live += nbytes
                self.peak = max(self.peak, self.live)
                weakref.finalize(t, self._release, key, nbytes)
        return out


def peak_tensor_bytes(fn: Callable[[], object]) -> int:
    """The largest number of bytes held at once by tensors that ``fn()`` creates while it runs."""
    tracker = _LiveTensorBytes()
    with tracker, torch.no_grad():
        fn()
    return tracker.peak


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(y) against log(x): the exponent p in y ~ x^p."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("loglog_slope needs two equal-length sequences of at least 2 points")
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    num = sum((a - mx) * (b - my) for a, b in zip(lx, ly))
    den = sum((a - mx) ** 2 for a in lx)
    return num / den
