import math

import pytest
import torch

from archlab.reward.best_of_n import (
    best_of_n,
    bon_kl,
    bon_probabilities,
    monte_carlo_bon_kl,
    quadratic_fit,
    sample_best_of_n,
)


def test_kl_formula_values():
    assert bon_kl(1) == 0.0
    assert bon_kl(2) == pytest.approx(0.193, abs=1e-3)
    assert bon_kl(10) == pytest.approx(1.403, abs=1e-3)
    assert bon_kl(1000) == pytest.approx(5.909, abs=1e-3)


@pytest.mark.parametrize("n", [2, 8, 64])
def test_monte_carlo_kl_of_best_of_n_matches_log_n_minus_n_minus_1_over_n(n):
    g = torch.Generator().manual_seed(n)
    scores = torch.randn(50_000, generator=g)  # continuous: no ties
    estimate = monte_carlo_bon_kl(scores, n, 100_000, g)
    assert estimate == pytest.approx(bon_kl(n), rel=0.03)
    assert abs(estimate - math.log(n)) > 0.3  # KL = log n would fail


def test_order_statistic_weights_match_simulation():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(5, generator=g)
    kept = sample_best_of_n(scores, 3, 200_000, g)
    rank = torch.argsort(torch.argsort(scores))  # item -> 0-based ascending rank
    frequency = torch.bincount(rank[kept], minlength=5).double() / 200_000
    torch.testing.assert_close(frequency, bon_probabilities(5, 3), atol=4e-3, rtol=0)
    assert bon_probabilities(5, 3).sum().item() == pytest.approx(1.0)


def test_exact_expectations_on_a_tiny_pool():
    proxy = torch.tensor([0.0, 1.0, 2.0])
    gold = torch.tensor([1.0, 5.0, -1.0])
    curve = best_of_n(proxy, gold, [1, 2])
    assert curve.proxy == pytest.approx([1.0, (1 * 3 + 2 * 5) / 9])  # P(rank) = 1/9, 3/9, 5/9 for n = 2
    assert curve.gold == pytest.approx([5 / 3, (1 + 5 * 3 - 5) / 9])
    assert curve.d[1] == pytest.approx(math.sqrt(math.log(2) - 0.5))


def test_quadratic_fit_recovers_its_coefficients():
    d = [0.5, 1.0, 1.5, 2.0, 2.5]
    alpha, beta, r2 = quadratic_fit(d, [x * (1.2 - 0.4 * x) for x in d])
    assert (alpha, beta, r2) == pytest.approx((1.2, 0.4, 1.0))
