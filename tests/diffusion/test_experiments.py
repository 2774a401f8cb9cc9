"""The claims' shared miniature: a trained ring denoiser is made once per process and arguments; the exact
denoiser of the ring is the autograd score of the noised mixture and samples the ring back."""

import math

import pytest
import torch

from archlab.data.toy2d import ring_means
from archlab.diffusion.ddpm import DDPMConfig, DDPMSampler
from archlab.diffusion.experiments import ExactRingDenoiser, train_ring_denoiser
from archlab.diffusion.sampling import sampling_loop
from archlab.diffusion.schedules import alphas_cumprod, make_betas


def test_trained_denoiser_is_shared_per_arguments():
    first = train_ring_denoiser("epsilon", seed=0, steps=2, batch=16)
    assert train_ring_denoiser("epsilon", seed=0, steps=2, batch=16) is first
    other = train_ring_denoiser("epsilon", seed=1, steps=2, batch=16)
    assert other is not first
    assert not first.training


def _log_density_at_t(x: torch.Tensor, alpha_bar: float, std: float = 0.1) -> torch.Tensor:
    # log p_t(x) up to a constant: the ring pushed through x_t = a x_0 + sqrt(1 - a^2) eps is the mixture of
    # N(a mu_k, (a^2 std^2 + 1 - a^2) I), written here as a log-sum-exp of Gaussian log densities
    a, var = math.sqrt(alpha_bar), alpha_bar * std**2 + 1 - alpha_bar
    squared = (x[:, None, :] - a * ring_means().double()[None]).pow(2).sum(dim=2)  # (B, K)
    return torch.logsumexp(-squared / (2 * var), dim=1) - math.log(var)


def test_exact_denoiser_is_minus_sigma_times_the_autograd_score_of_the_noised_ring():
    model = ExactRingDenoiser()
    abar = alphas_cumprod(make_betas("linear", 1000)).double()
    x = (2.5 * torch.randn(64, 2, generator=torch.Generator().manual_seed(0))).double()
    for t in (0, 20, 150, 400, 999):
        leaf = x.clone().requires_grad_(True)
        (score,) = torch.autograd.grad(_log_density_at_t(leaf, float(abar[t])).sum(), leaf)
        eps = model(x.float(), torch.full((64,), float(t)))
        assert eps.dtype == torch.float32
        torch.testing.assert_close(eps.double(), -(1 - abar[t]).sqrt() * score, atol=1e-5, rtol=1e-5)


def test_exact_denoiser_through_1000_ddpm_steps_gives_back_the_ring():
    noise = torch.randn(2048, 2, generator=torch.Generator().manual_seed(1))
    sampler = DDPMSampler(DDPMConfig(variance_type="fixed_large"))
    x = sampling_loop(ExactRingDenoiser(), sampler, noise, 1000, generator=torch.Generator().manual_seed(2)).sample
    mode = torch.cdist(x, ring_means()).argmin(dim=1)
    counts = torch.bincount(mode, minlength=8)
    assert counts.min() > 200 and counts.max() < 320  # 256 each on average
    assert (x - ring_means()[mode]).std().item() == pytest.approx(0.1, rel=0.1)
