"""The sliced Wasserstein distance: zero on itself, the closed form under a shift, symmetry, unequal sizes
(exact transport between step quantile functions)."""

import math

import pytest
import torch

from archlab.lab.distances import random_directions, sliced_wasserstein, wasserstein_1d


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_a_sample_against_itself_is_zero():
    x = torch.randn(1000, 2, generator=gen(1))
    assert sliced_wasserstein(x, x, generator=gen()) < 1e-12
    assert sliced_wasserstein(x, x[torch.randperm(1000, generator=gen(2))], generator=gen()) < 1e-12


@pytest.mark.parametrize("dim", [2, 5])
def test_a_shifted_copy_gives_the_closed_form(dim):
    # W_p of each projection is |theta . s| exactly; SW_2 = |s| / sqrt(d) in expectation over theta.
    x = torch.randn(800, dim, generator=gen(1))
    direction = random_directions(1, dim, gen(7))[0].float()
    for size in (0.5, 3.0):
        s = size * direction
        sw2 = sliced_wasserstein(x, x + s, n_projections=4000, generator=gen(3))
        assert sw2 == pytest.approx(size / math.sqrt(dim), rel=0.03)
    if dim == 2:
        sw1 = sliced_wasserstein(x, x + 3.0 * direction, n_projections=4000, p=1, generator=gen(3))
        assert sw1 == pytest.approx(2 * 3.0 / math.pi, rel=0.03)


def test_shift_per_projection_is_exact():
    x = torch.randn(300, 1, dtype=torch.float64, generator=gen(1))
    assert wasserstein_1d(x, x + 0.7)[0].item() == pytest.approx(0.7, abs=1e-12)


def test_symmetric_and_deterministic_in_the_generator():
    x, y = torch.randn(500, 2, generator=gen(1)), torch.randn(500, 2, generator=gen(2)) * 2
    assert sliced_wasserstein(x, y, generator=gen(5)) == pytest.approx(sliced_wasserstein(y, x, generator=gen(5)))
    assert sliced_wasserstein(x, y, generator=gen(5)) == sliced_wasserstein(x, y, generator=gen(5))


def test_unequal_sizes_by_quantiles():
    x = torch.randn(1000, 2, generator=gen(1))
    # the same empirical measure with every point twice is at distance 0
    assert sliced_wasserstein(x, x.repeat(2, 1), generator=gen()) < 1e-12
    y = torch.randn(400, 2, generator=gen(2)) + torch.tensor([2.0, 0.0])
    assert sliced_wasserstein(x, y, n_projections=2000, generator=gen()) == pytest.approx(2 / math.sqrt(2), rel=0.1)
    one_d_small = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    one_d_large = torch.tensor([[0.0], [0.0], [1.0], [1.0]], dtype=torch.float64)
    assert wasserstein_1d(one_d_small, one_d_large)[0].item() == pytest.approx(0.0, abs=1e-12)
    # {0, 1} against {0, 0, 1}: mass 1/6 moves from 1 to 0, so W_1 = 1/6 and W_2 = sqrt(1/6)
    three = torch.tensor([[0.0], [0.0], [1.0]], dtype=torch.float64)
    assert wasserstein_1d(one_d_small, three, p=1)[0].item() == pytest.approx(1 / 6)
    assert wasserstein_1d(three, one_d_small, p=2)[0].item() == pytest.approx(math.sqrt(1 / 6))


def test_different_widths_raise():
    with pytest.raises(ValueError, match="one d"):
        sliced_wasserstein(torch.zeros(3, 2), torch.zeros(3, 3))
