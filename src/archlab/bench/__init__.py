"""Side-by-side benchmarks against peer libraries: same inputs, same process, alternating repeats, median, ratio."""

from archlab.bench.harness import BenchResult, compare
from archlab.bench.registry import all_benchmarks, benchmark, get_benchmark, run_benchmark

__all__ = ["BenchResult", "all_benchmarks", "benchmark", "compare", "get_benchmark", "run_benchmark"]
