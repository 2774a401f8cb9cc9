"""Spectral normalisation against torch.linalg.matrix_norm: the estimate converges to the largest singular
value, the normalised weight has spectral norm 1, and gradients flow to the raw weight."""

import pytest
import torch
from torch import nn

from archlab.gan.spectral_norm import SpectralNorm, spectral_norm


def test_power_iteration_estimates_the_largest_singular_value():
    torch.manual_seed(0)
    w = torch.randn(20, 30, dtype=torch.float64)
    sn = SpectralNorm(w).double()
    sn.power_iteration(w, 200)
    exact = torch.linalg.matrix_norm(w, ord=2)
    torch.testing.assert_close(sn.sigma(w), exact, rtol=1e-6, atol=0)
    assert torch.linalg.matrix_norm(sn(w), ord=2).item() == pytest.approx(1.0, abs=1e-6)


def test_a_normalised_linear_layer_has_spectral_norm_one_after_training_steps():
    torch.manual_seed(0)
    layer = spectral_norm(nn.Linear(16, 8))
    for _ in range(30):  # one power step per training forward, the vectors carried over
        layer(torch.randn(4, 16))
    assert torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item() == pytest.approx(1.0, abs=1e-3)
    raw = layer.parametrizations.weight.original
    torch.testing.assert_close(layer.weight.detach() * torch.linalg.matrix_norm(raw.detach(), ord=2), raw.detach(),
                               rtol=1e-3, atol=1e-5)


def test_a_convolution_is_normalised_as_its_out_by_rest_matrix():
    torch.manual_seed(0)
    conv = spectral_norm(nn.Conv2d(3, 5, 4))
    for _ in range(30):
        conv(torch.randn(1, 3, 8, 8))
    assert torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2).item() == pytest.approx(1.0, abs=1e-3)


def test_eval_mode_freezes_the_vectors_and_gradients_reach_the_raw_weight():
    torch.manual_seed(0)
    layer = spectral_norm(nn.Linear(6, 4)).eval()
    u = layer.parametrizations.weight[0]._u.clone()
    layer(torch.randn(2, 6)).sum().backward()
    torch.testing.assert_close(layer.parametrizations.weight[0]._u, u)
    assert layer.parametrizations.weight.original.grad.abs().sum() > 0
