"""Schedules against their closed forms; the forward process; the prediction types converted both ways."""

import math

import pytest
import torch

from archlab.diffusion.schedules import (
    add_noise,
    alphas_cumprod,
    convert_prediction,
    cosine_alpha_bar,
    make_betas,
    predict_epsilon,
    predict_x0,
    sigmas_from_alphas_cumprod,
    velocity,
)


def test_linear_betas_closed_form():
    betas = make_betas("linear", 1000)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    assert betas[500].item() == pytest.approx(1e-4 + 500 / 999 * (0.02 - 1e-4), rel=1e-5)
    # alpha_bar_t = prod (1 - beta_s): log alpha_bar ~ -sum beta for small beta
    a = alphas_cumprod(betas.double())
    assert a[-1].item() == pytest.approx(math.prod(1 - b for b in betas.double().tolist()), rel=1e-10)
    assert a[-1].item() < 1e-4  # pure noise at T (Ho et al.: x_T ~ N(0, I))


def test_scaled_linear_is_squared_linear_in_sqrt_beta():
    betas = make_betas("scaled_linear", 11, beta_start=0.01, beta_end=0.09)
    assert torch.allclose(betas.sqrt(), torch.linspace(0.1, 0.3, 11), atol=1e-6)


def test_cosine_alphas_cumprod_follow_the_cosine_law():
    T = 1000
    a = alphas_cumprod(make_betas("cosine", T).double())
    for t in (0, 100, 500, 900):
        expected = cosine_alpha_bar((t + 1) / T) / cosine_alpha_bar(0)
        assert a[t].item() == pytest.approx(expected, rel=1e-4)
    assert make_betas("cosine", T).max().item() == pytest.approx(0.999)


def test_add_noise_and_velocity_closed_forms():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    a = torch.tensor([0.9, 0.5, 0.1, 0.99, 0.3])
    x_t = add_noise(x0, eps, a)
    assert torch.allclose(x_t, a.sqrt()[:, None] * x0 + (1 - a).sqrt()[:, None] * eps)
    v = velocity(x0, eps, a)
    assert torch.allclose(v, a.sqrt()[:, None] * eps - (1 - a).sqrt()[:, None] * x0)
    # each true target recovers x_0 and eps exactly
    for kind, out in (("epsilon", eps), ("v", v), ("sample", x0)):
        assert torch.allclose(predict_x0(out, x_t, a, kind), x0, atol=1e-5)
        assert torch.allclose(predict_epsilon(out, x_t, a, kind), eps, atol=1e-4)


@pytest.mark.parametrize("source", ["epsilon", "v", "sample"])
@pytest.mark.parametrize("target", ["epsilon", "v", "sample"])
def test_conversions_map_true_targets_to_true_targets(source, target):
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(4, 3, dtype=torch.float64, generator=g), torch.randn(4, 3, dtype=torch.float64, generator=g)
    a = torch.tensor([0.95, 0.6, 0.2, 0.05], dtype=torch.float64)
    x_t = add_noise(x0, eps, a)
    truth = {"epsilon": eps, "v": velocity(x0, eps, a), "sample": x0}
    converted = convert_prediction(truth[source], x_t, a, source=source, target=target)
    assert torch.allclose(converted, truth[target], atol=1e-10)


def test_sigmas_are_the_variance_exploding_levels():
    a = torch.tensor([0.5, 0.2])
    assert torch.allclose(sigmas_from_alphas_cumprod(a), torch.tensor([1.0, 2.0]))


def test_bad_choices_raise():
    with pytest.raises(ValueError, match="beta_schedule='sigmoid'"):
        make_betas("sigmoid", 10)
    with pytest.raises(ValueError, match="prediction_type='v_prediction'"):
        predict_x0(torch.zeros(1), torch.zeros(1), torch.tensor(0.5), "v_prediction")
