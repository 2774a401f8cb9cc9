"""MKL's packed GEMM taken from PyTorch's library: the product it gives against torch.mm, and its absence."""

import pytest
import torch

from archlab.core import blas


@pytest.fixture
def packed():
    found = blas.packed_sgemm()
    if found is None:
        pytest.skip("this build of PyTorch carries no MKL")
    return found


@pytest.mark.parametrize("rows", [1, 3, 16, 33])
def test_packed_product_equals_torch_for_any_row_count(packed, rows):
    g = torch.Generator().manual_seed(rows)
    weight, x = torch.randn(40, 24, generator=g), torch.randn(rows, 24, generator=g)  # (M, K), (n, K)
    out = torch.full((rows, 40), 0.5)
    buffer = packed.pack(weight)  # packed once, used for any n
    packed.library.cblas_sgemm_compute(102, 151, 111, 40, rows, 24, buffer.data_ptr(), 24, x.data_ptr(), 24, 1.0,
                                       out.data_ptr(), 40)  # beta 1: adds to what is there
    torch.testing.assert_close(out, 0.5 + x @ weight.T, rtol=0, atol=1e-5)


def test_pack_reads_a_transposed_weight_as_its_values(packed):
    weight = torch.randn(24, 40).T  # (40, 24), not contiguous
    x = torch.randn(2, 24)
    out = torch.zeros(2, 40)
    packed.library.cblas_sgemm_compute(102, 151, 111, 40, 2, 24, packed.pack(weight).data_ptr(), 24, x.data_ptr(), 24,
                                       0.0, out.data_ptr(), 40)
    torch.testing.assert_close(out, x @ weight.T, rtol=0, atol=1e-5)


def test_no_kernel_switch_turns_it_off(monkeypatch):
    monkeypatch.setenv("ARCHLAB_NO_KERNEL", "1")
    blas.packed_sgemm.cache_clear()
    try:
        assert blas.packed_sgemm() is None
    finally:
        monkeypatch.delenv("ARCHLAB_NO_KERNEL")
        blas.packed_sgemm.cache_clear()
