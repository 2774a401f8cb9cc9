"""The ELBO's terms against closed forms: the Gaussian KL, the reparameterised sample's moments and gradient,
free bits per dimension, the annealing schedule, the IWAE bound (exact at the true posterior of a linear
Gaussian model, and >= the ELBO), and active units."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from archlab.core.gaussian import gaussian_kl, reparameterize
from archlab.vae.objectives import (
    active_units,
    bernoulli_log_likelihood,
    free_bits_kl,
    gaussian_log_density,
    gaussian_log_likelihood,
    iwae_bound,
    kl_anneal_weight,
    standard_normal_log_density,
)


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    expected = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(gaussian_kl(mean, logvar), expected)
    assert gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)).abs().max() == 0  # q = p


def test_densities_and_likelihoods_match_torch_distributions():
    g = torch.Generator().manual_seed(1)
    z, mean, logvar = (torch.randn(4, 3, generator=g) for _ in range(3))
    torch.testing.assert_close(gaussian_log_density(z, mean, logvar),
                               Normal(mean, (0.5 * logvar).exp()).log_prob(z).sum(-1))
    torch.testing.assert_close(standard_normal_log_density(z), Normal(0.0, 1.0).log_prob(z).sum(-1))
    x, mu = torch.randn(4, 1, 2, 2, generator=g), torch.randn(4, 1, 2, 2, generator=g)
    torch.testing.assert_close(gaussian_log_likelihood(x, mu, 0.3), Normal(mu, 0.3).log_prob(x).flatten(1).sum(-1))
    bits, logits = torch.randint(0, 2, (4, 6), generator=g).float(), torch.randn(4, 6, generator=g)
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(bits).sum(-1)
    torch.testing.assert_close(bernoulli_log_likelihood(bits, logits), expected)


def test_reparameterised_samples_have_the_posterior_moments_and_pathwise_gradients():
    mean = torch.tensor([1.5, -2.0, 0.0], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(0.25), math.log(4.0)], requires_grad=True)
    g = torch.Generator().manual_seed(0)
    z = reparameterize(mean.expand(200_000, 3), logvar.expand(200_000, 3), generator=g)  # (N, 3)
    torch.testing.assert_close(z.mean(0), mean.detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 0.5, 2.0]), atol=0.02, rtol=0)
    z.mean(0).sum().backward()  # d mean(z) / d mean = 1; d mean(z) / d logvar = mean(eps) sigma / 2 ~ 0
    torch.testing.assert_close(mean.grad, torch.ones(3))
    assert logvar.grad.abs().max() < 0.02


def test_free_bits_floor_each_dimension_not_the_sum():
    kl = torch.tensor([[0.0, 1.0, 0.1], [0.2, 3.0, 0.1]])  # batch means per dimension: 0.1, 2.0, 0.1
    assert free_bits_kl(kl, 0.0).item() == pytest.approx(kl.sum(-1).mean().item())
    assert free_bits_kl(kl, 0.5).item() == pytest.approx(0.5 + 2.0 + 0.5)
    kl.requires_grad_(True)
    free_bits_kl(kl, 0.5).backward()  # dimensions under the floor get no gradient
    torch.testing.assert_close(kl.grad, torch.tensor([[0.0, 0.5, 0.0], [0.0, 0.5, 0.0]]))


def test_kl_annealing_is_linear_then_one():
    assert [kl_anneal_weight(s, 4) for s in (0, 1, 2, 4, 9)] == [0.0, 0.25, 0.5, 1.0, 1.0]
    assert kl_anneal_weight(0, 0) == 1.0


def _linear_gaussian(seed: int = 0):
    """p(z) = N(0, I_2), p(x|z) = N(W z + b, s^2 I_3): p(x) and p(z|x) in closed form."""
    g = torch.Generator().manual_seed(seed)
    w, b, s = torch.randn(3, 2, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64), 0.5
    x = torch.randn(4, 3, generator=g, dtype=torch.float64)
    precision = torch.eye(2, dtype=torch.float64) + w.T @ w / s**2  # posterior precision (2, 2)
    cov = torch.linalg.inv(precision)
    post_mean = (x - b) @ w @ cov / s**2  # (4, 2): cov W^T (x - b) / s^2, row-wise (cov symmetric)
    log_px = MultivariateNormal(b, w @ w.T + s**2 * torch.eye(3, dtype=torch.float64)).log_prob(x)  # (4,)
    return w, b, s, x, post_mean, cov, log_px


def test_iwae_is_exact_at_the_true_posterior_of_a_linear_gaussian_model():
    w, b, s, x, post_mean, cov, log_px = _linear_gaussian()
    q = MultivariateNormal(post_mean, cov)
    z = q.sample((5,))  # (K=5, 4, 2)
    log_joint = gaussian_log_likelihood(x.expand(5, 4, 3).reshape(20, 3), (z @ w.T + b).reshape(20, 3), s).view(5, 4)
    log_joint = log_joint + standard_normal_log_density(z)
    torch.testing.assert_close(iwae_bound(log_joint, q.log_prob(z)), log_px)


def test_the_closed_form_elbo_of_the_true_posterior_is_log_px_in_expectation():
    torch.manual_seed(0)
    w, b, s, x, post_mean, cov, log_px = _linear_gaussian(1)
    # A diagonal posterior cannot be exact here, so use a decoder with orthogonal columns: diagonal posterior.
    w = torch.linalg.qr(w)[0] * torch.tensor([2.0, 0.7], dtype=torch.float64)  # W^T W diagonal
    precision = 1 + (w * w).sum(0) / s**2  # (2,)
    mean, logvar = (x - b) @ w / s**2 / precision, (-precision.log()).expand(4, 2)
    log_px = MultivariateNormal(b, w @ w.T + s**2 * torch.eye(3, dtype=torch.float64)).log_prob(x)
    z = reparameterize(mean.expand(100_000, 4, 2), logvar.expand(100_000, 4, 2))  # (N, 4, 2)
    recon = gaussian_log_likelihood(x.expand(100_000, 4, 3).reshape(-1, 3), (z @ w.T + b).reshape(-1, 3), s)
    elbo = recon.view(100_000, 4).mean(0) - gaussian_kl(mean, logvar).sum(-1)
    torch.testing.assert_close(elbo, log_px, atol=0.02, rtol=0)


def test_active_units_count_dimensions_whose_mean_varies():
    g = torch.Generator().manual_seed(0)
    means = torch.cat([torch.randn(500, 2, generator=g), 0.01 * torch.randn(500, 3, generator=g)], dim=1)
    assert active_units(means) == 2
