"""Independent jobs of one claim run at the same time, each on its share of the claim's threads.

A claim that trains two small models (a selective SSM and its LTI baseline, say) runs on the intra-op threads it
declares. Models this small keep one thread busy but not two: a Mamba step of width 64 at batch 8 takes 46 ms on
one thread and 37 ms on two. Training both models at once, one Python thread each on one intra-op thread, uses
both cores for the whole run instead of half-using them one model after the other. PyTorch releases the GIL
inside its operators, and each job draws its data from its own generators (``archlab.data.streams``), so every
job computes exactly what it computes alone on the same number of threads.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import torch

from archlab.lab.measure import torch_threads


def side_by_side(*jobs: Callable[[], Any]) -> list[Any]:
    """Run ``jobs`` (callables without arguments) at once, one Python thread each, with the process's intra-op
    threads shared out among them (at least one each); return their results in order. A job that raises
    re-raises here, after every job has ended."""
    if not jobs:
        raise ValueError("side_by_side needs at least one job")
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException | None] = [None] * len(jobs)

    def run(i: int) -> None:
        try:
            results[i] = jobs[i]()
        except BaseException as error:  # handed to the caller below
            errors[i] = error

    with torch_threads(max(1, torch.get_num_threads() // len(jobs))):
        workers = [threading.Thread(target=run, args=(i,), name=f"side-by-side-{i}") for i in range(len(jobs))]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    for error in errors:
        if error is not None:
            raise error
    return results
