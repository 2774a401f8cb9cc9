"""``archlab.lab.side_by_side``: jobs run at once, each on its share of the threads, with their results in order."""

import threading

import pytest
import torch

from archlab.lab.measure import torch_threads
from archlab.lab.side_by_side import side_by_side


def test_jobs_run_at_the_same_time_and_results_keep_their_order():
    barrier = threading.Barrier(2, timeout=10)  # breaks (BrokenBarrierError) if the jobs ran one after the other

    def job(value):
        def run():
            barrier.wait()
            return value
        return run

    assert side_by_side(job("first"), job("second")) == ["first", "second"]


def test_threads_are_shared_out_and_restored():
    with torch_threads(2):
        assert side_by_side(torch.get_num_threads, torch.get_num_threads) == [1, 1]
        assert torch.get_num_threads() == 2
        assert side_by_side(torch.get_num_threads) == [2]


def test_a_failing_job_raises_after_the_others_finish():
    finished = []

    def fails():
        raise RuntimeError("job broke")

    def works():
        finished.append(True)
        return 1

    with pytest.raises(RuntimeError, match="job broke"):
        side_by_side(fails, works)
    assert finished == [True]


def test_no_jobs_is_an_error():
    with pytest.raises(ValueError, match="at least one job"):
        side_by_side()
    with pytest.raises(ValueError, match="at_once=0"):
        side_by_side(int, at_once=0)


def test_at_once_runs_that_many_workers_each_taking_the_next_job():
    running, most, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def job(value, wait):
        def run():
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            if wait:
                release.wait(10)  # the first job holds its worker while the other worker runs jobs 1-3
            with lock:
                running[0] -= 1
            if value == 3:
                release.set()
            return value
        return run

    with torch_threads(2):
        assert side_by_side(*(job(v, v == 0) for v in range(5)), at_once=2) == [0, 1, 2, 3, 4]
        assert side_by_side(torch.get_num_threads, torch.get_num_threads, torch.get_num_threads, at_once=2) == [1] * 3
    assert most[0] == 2


def test_training_side_by_side_equals_training_alone():
    def fit(model, data):
        def run():
            opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
            for x in data:
                loss = model(x).square().mean()
                loss.backward()
                opt.step()
                opt.zero_grad()
            return [p.detach().clone() for p in model.parameters()]
        return run

    def setup(seed):
        g = torch.Generator().manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 4))
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        return model, [torch.randn(8, 16, generator=g) for _ in range(20)]

    with torch_threads(1):
        alone = [fit(*setup(seed))() for seed in (0, 1)]
    with torch_threads(2):
        together = side_by_side(fit(*setup(0)), fit(*setup(1)))
    for a, b in zip(alone, together):
        for pa, pb in zip(a, b):
            assert torch.equal(pa, pb)
