"""Tiny tensors gain nothing from intra-op threads; on a busy 2-core machine they cost several times over."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
