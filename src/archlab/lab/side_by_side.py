"""Independent jobs run at the same time, each on its share of the threads (a claim's trainings, the arena's recalls).

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


def side_by_side(*jobs: Callable[[], Any], at_once: int | None = None) -> list[Any]:
    """Run ``jobs`` (callables without arguments) at once, one Python thread each, with the process's intra-op
    threads shared out among them (at least one each); return their results in order. With ``at_once``, that
    many worker threads take the jobs in order, each starting the next job as soon as its last one ends. A job
    that raises re-raises here, after every job has ended."""
    if not jobs:
        raise ValueError("side_by_side needs at least one job")
    workers_wanted = len(jobs) if at_once is None else at_once
    if workers_wanted < 1:
        raise ValueError(f"at_once={at_once} must be >= 1")
    workers_wanted = min(workers_wanted, len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException | None] = [None] * len(jobs)
    queue = iter(range(len(jobs)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                i = next(queue, None)
            if i is None:
                return
            try:
                results[i] = jobs[i]()
            except BaseException as error:  # handed to the caller below
                errors[i] = error

    with torch_threads(max(1, torch.get_num_threads() // workers_wanted)):
        workers = [threading.Thread(target=work, name=f"side-by-side-{n}") for n in range(workers_wanted)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    for error in errors:
        if error is not None:
            raise error
    return results
