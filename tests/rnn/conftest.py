"""Tiny tensors gain nothing from intra-op threads, and on a busy 2-core machine the thread pool's waiting
makes them many times slower; each test here runs single-threaded and restores the setting afterwards."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
