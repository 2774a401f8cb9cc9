"""The benchmark registry: ``@benchmark(name)`` and running one benchmark into a JSON record.

A benchmark is a function ``fn(*, device, repeats, size) -> BenchResult`` that builds both sides on the
same inputs and calls ``archlab.bench.harness.compare``. ``size`` is ``"default"`` (the published
configuration) or ``"tiny"`` (a seconds-long smoke run for tests). Each family keeps its benchmarks in its
``bench.py`` (``<family>/bench.py``), found by convention (``archlab.families``); they are listed in family
order, each family's in the order its module defines them. This registry names no family.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from archlab.bench.harness import BenchResult
from archlab.errors import UserError
from archlab.families import family_modules

SIZES = ("default", "tiny")
DEVICES = ("cpu", "cuda")

_REGISTRY: dict[str, "Benchmark"] = {}


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    target: float | None
    fn: Callable[..., BenchResult]


def _qualified(fn: Callable) -> tuple[str, str]:
    return fn.__module__, fn.__qualname__


def benchmark(name: str, *, description: str, target: float | None = None) -> Callable:
    """Register ``fn(*, device, repeats, size) -> BenchResult`` under ``name``; ``target`` is the speedup
    archlab aims for (``peer_median / archlab_median``)."""

    def register(fn: Callable[..., BenchResult]) -> Callable[..., BenchResult]:
        # A module imported again (a test that purged sys.modules) registers the same function anew: not a clash.
        if name in _REGISTRY and _qualified(_REGISTRY[name].fn) != _qualified(fn):
            raise ValueError(f"benchmark {name!r} is registered twice, by {_REGISTRY[name].fn.__module__} and "
                             f"{fn.__module__}; a name may belong to one benchmark only")
        _REGISTRY[name] = Benchmark(name, description, target, fn)
        return fn

    return register


def all_benchmarks() -> list[Benchmark]:
    """Every registered benchmark, each family's ``bench`` module imported (which registers its benchmarks)."""
    rank = {module.__name__: i for i, module in enumerate(family_modules("bench").values())}
    return sorted(_REGISTRY.values(), key=lambda b: rank.get(b.fn.__module__, len(rank)))


def get_benchmark(name: str) -> Benchmark:
    known = {b.name: b for b in all_benchmarks()}
    if name not in known:
        raise UserError(f"unknown benchmark {name!r}; known benchmarks: {', '.join(known) or 'none'}")
    return known[name]


def check_device(device: str) -> None:
    """Raise ``UserError`` unless ``device`` is one this machine has."""
    if device not in DEVICES:
        raise UserError(f"device={device!r} is not one of {', '.join(DEVICES)}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("device='cuda' is not available on this machine (torch sees no GPU); use --device cpu")


def run_benchmark(
    name: str,
    *,
    device: str = "cpu",
    repeats: int | None = None,
    size: str = "default",
    out: "str | Path | None" = "bench-results",
    precision: str | None = None,
) -> BenchResult:
    """Run benchmark ``name`` and (unless ``out`` is None) write ``<out>/<name>.json``. ``precision`` (e.g.
    ``"bf16"``) goes to a benchmark that takes a ``precision`` argument; None leaves its default."""
    bench = get_benchmark(name)
    check_device(device)
    options = {}
    if precision is not None:
        if "precision" not in inspect.signature(bench.fn).parameters:
            raise UserError(f"benchmark {name!r} has no precision option; it runs in its own fixed precision")
        options["precision"] = precision
    if size not in SIZES:
        raise UserError(f"size={size!r} is not one of {', '.join(SIZES)}")
    if repeats is not None and repeats < 1:
        raise UserError(f"repeats={repeats} must be at least 1")
    result = bench.fn(device=device, repeats=repeats, size=size, **options)
    result.target = bench.target
    if out is not None:
        result.save(Path(out) / f"{name}.json")
    return result
