"""Scatter reductions against their dense one-hot references, on values, gradients and empty rows."""

import pytest
import torch

from archlab.core.scatter import (scatter, scatter_max, scatter_max_ref, scatter_mean, scatter_mean_ref,
                                  scatter_softmax, scatter_softmax_ref, scatter_sum, scatter_sum_ref,
                                  segment_sum_csr)

PAIRS = [(scatter_sum, scatter_sum_ref), (scatter_mean, scatter_mean_ref), (scatter_max, scatter_max_ref),
         (scatter_softmax, scatter_softmax_ref)]


@pytest.mark.parametrize("fast, ref", PAIRS)
@pytest.mark.parametrize("features", [(), (3,), (2, 3)])
def test_fast_equals_the_dense_reference_values_and_gradients(fast, ref, features):
    g = torch.Generator().manual_seed(0)
    index = torch.tensor([0, 2, 2, 4, 0, 2, 4, 4, 4])  # rows 1, 3 and 5 receive nothing
    src = torch.randn(9, *features, generator=g, dtype=torch.float64)
    a, b = src.clone().requires_grad_(), src.clone().requires_grad_()
    out_fast, out_ref = fast(a, index, 6), ref(b, index, 6)
    torch.testing.assert_close(out_fast, out_ref)
    weights = torch.randn(out_fast.shape, generator=g, dtype=torch.float64)
    (out_fast * weights).sum().backward()
    (out_ref * weights).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_values_by_hand():
    src = torch.tensor([[1.0], [5.0], [2.0], [-3.0]])
    index = torch.tensor([1, 1, 3, 1])
    assert scatter_sum(src, index, 4).flatten().tolist() == [0.0, 3.0, 0.0, 2.0]
    assert scatter_mean(src, index, 4).flatten().tolist() == [0.0, 1.0, 0.0, 2.0]
    assert scatter_max(src, index, 4).flatten().tolist() == [0.0, 5.0, 0.0, 2.0]
    soft = scatter_softmax(src, index, 4).flatten()
    assert soft[2] == 1.0 and abs(float(soft[[0, 1, 3]].sum()) - 1.0) < 1e-6
    assert torch.equal(scatter(src, index, 4, reduce="max"), scatter_max(src, index, 4))


def test_dim_size_defaults_to_the_largest_index_plus_one():
    assert scatter_sum(torch.ones(3, 2), torch.tensor([0, 4, 4])).shape == (5, 2)


def test_softmax_is_stable_for_large_logits():
    out = scatter_softmax(torch.tensor([1000.0, 1000.0, -1000.0]), torch.tensor([0, 0, 1]))
    assert torch.allclose(out, torch.tensor([0.5, 0.5, 1.0]))


def test_segment_sum_csr_equals_scatter_sum_on_sorted_rows():
    index = torch.tensor([0, 0, 2, 2, 2, 3])
    src = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    indptr = torch.tensor([0, 2, 2, 5, 6])
    torch.testing.assert_close(segment_sum_csr(src, indptr), scatter_sum(src, index, 4))
    with pytest.raises(ValueError, match="indptr"):
        segment_sum_csr(src, torch.tensor([0, 2, 5]))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="reduce='min' is not one of 'sum', 'mean', 'max'"):
        scatter(torch.ones(2), torch.tensor([0, 1]), reduce="min")
    with pytest.raises(ValueError, match="one entry per row"):
        scatter_sum(torch.ones(3), torch.tensor([0, 1]))
