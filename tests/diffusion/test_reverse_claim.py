"""The pieces of ``diffusion.reverse-denoises``: the rank correlation, the rule at its edges, and the DDIM loop
that keeps each step's x0-prediction (the claim itself runs in tests/test_claims.py once registered)."""

import pytest
import torch

from archlab.diffusion.image_model import ImageDenoiser, ImageDenoiserConfig
from archlab.diffusion.reverse_claim import _figure, denoise_with_predictions, reverse_rule, spearman
from archlab.diffusion.schedules import velocity


def test_spearman_is_one_for_any_increasing_relation_and_minus_one_for_decreasing():
    t = torch.arange(10.0)
    assert spearman(t, t.exp()) == pytest.approx(1.0)
    assert spearman(t, -t**3) == pytest.approx(-1.0)


def test_spearman_matches_the_rank_formula():
    # ranks of b: 1, 3, 2, 5, 4 -> sum d^2 = 0 + 1 + 1 + 1 + 1 = 4; rho = 1 - 6 * 4 / (5 * 24) = 0.8
    a = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    b = torch.tensor([0.1, 0.5, 0.3, 0.9, 0.7])
    assert spearman(a, b) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="1-D"):
        spearman(a, b[:4])


def test_rule_needs_both_the_correlation_and_the_halved_distance():
    assert reverse_rule(0.9, 50.0, 100.0)
    assert not reverse_rule(0.89, 10.0, 100.0)
    assert not reverse_rule(1.0, 50.1, 100.0)


def _model() -> ImageDenoiser:
    torch.manual_seed(0)
    return ImageDenoiser(ImageDenoiserConfig(denoiser="dit", width=16, dit_layers=1, patch_size=4,
                                             prediction_type="v")).eval()


def test_the_loop_keeps_one_prediction_per_step_and_ends_on_the_last_prediction():
    model = _model()
    noise = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    timesteps, path, predictions = denoise_with_predictions(model, noise, 5)
    assert timesteps.tolist() == sorted(timesteps.tolist(), reverse=True) and timesteps[0] == 999
    assert len(path) == 6 and len(predictions) == 5
    assert torch.equal(path[0], noise)
    # DDIM's last step goes to alpha_bar = 1, so the final sample is the last (clipped) x0-prediction
    torch.testing.assert_close(path[-1], predictions[-1])
    assert all(p.abs().max() <= 1 for p in predictions)


def test_an_oracle_denoiser_predicts_the_final_sample_at_every_step():
    model = _model()
    target = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    a_bar = model.alphas_cumprod

    def oracle(x, t, cond=None):
        a = a_bar[t.long()].view(-1, 1, 1, 1)
        eps = (x - a.sqrt() * target) / (1 - a).sqrt()
        return velocity(target, eps, a)

    oracle.config = model.config
    noise = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    _, path, predictions = denoise_with_predictions(oracle, noise, 4)
    for p in predictions:
        torch.testing.assert_close(p, target, atol=1e-4, rtol=0)
    torch.testing.assert_close(path[-1], target, atol=1e-4, rtol=0)


def test_figure_has_a_panel_per_sample_and_column_plus_the_error_curve():
    path = [torch.rand(6, 1, 16, 16) * 2 - 1 for _ in range(5)]
    fig = _figure(path, torch.tensor([999, 749, 499, 249]), torch.tensor([0.4, 0.3, 0.1, 0.0]), rows=2)
    assert len(fig.axes) == 2 * 5 + 1
