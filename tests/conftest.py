"""Every test runs with one intra-op thread (the previous count is restored afterwards) and closes the
matplotlib figures it left open (a claim's figure lives in its ``Evidence``).

Test tensors are tiny: threads gain nothing on them, and on a busy 2-core machine the thread pool's waiting
makes them several times slower. Claims that compare timings set their own thread count inside.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
