"""The ring experiment's pieces: the sampler is the shared ring of the GAN miniature, and the mode-collapse rule
reads coverage and quality separately."""

import pytest
import torch

from archlab.data.streams import step_generator
from archlab.gan.model import GAN, GANConfig
from archlab.gan.ring import N_EVAL, Condition, RingResult, mode_collapse_holds, ring_sampler, train_ring
from archlab.lab.ring_modes import ring_mode_stats


def test_the_ring_sampler_is_the_miniature_ring():
    points = ring_sampler(2500, torch.Generator().manual_seed(0))
    stats = ring_mode_stats(points, radius=1.0, std=0.02)
    assert stats.modes_covered == 8 and stats.high_quality_fraction >= 0.98
    torch.testing.assert_close(points.norm(dim=1).mean(), torch.tensor(1.0), atol=0.01, rtol=0)


def _runs(vanilla, fix):
    empty = torch.zeros(1, 2)
    return {"vanilla": [RingResult(m, q, empty) for m, q in vanilla],
            "pacgan2": [RingResult(m, q, empty) for m, q in fix]}


def test_the_mode_collapse_rule_is_two_sided():
    collapsed, good_fix = [(1, 0.99), (3, 0.9), (8, 0.8)], [(8, 0.8), (8, 0.75), (7, 0.7)]
    assert mode_collapse_holds(_runs(collapsed, good_fix))
    assert not mode_collapse_holds(_runs([(8, 0.5)] * 3, good_fix))  # no collapse
    assert not mode_collapse_holds(_runs(collapsed, [(8, 0.05)] * 3))  # the fix covers, but as a blob
    assert not mode_collapse_holds(_runs(collapsed, [(6, 0.9)] * 3))  # the fix misses modes


def _tiny(**config) -> Condition:
    return Condition(GANConfig(latent_dim=2, hidden_dim=8, n_layers=1, **config), d_lr=1e-3, g_lr=1e-3,
                     betas=(0.5, 0.999), steps=3)


def test_train_ring_is_a_function_of_the_seed():
    a, b, c = (train_ring(_tiny(), seed=s) for s in (0, 0, 1))
    assert a.samples.shape == (N_EVAL, 2)
    torch.testing.assert_close(a.samples, b.samples, rtol=0, atol=0)
    assert (a.modes, a.high_quality) == (b.modes, b.high_quality)
    assert not torch.equal(a.samples, c.samples)


def test_train_ring_updates_the_generator_with_packing_and_critic_steps():
    condition = _tiny(loss="wgan-gp", n_critic=2, pack=2)
    torch.manual_seed(0)  # train_ring's own initialisation
    untrained = GAN(condition.config).sample(N_EVAL, step_generator(0, "samples", 0))
    trained = train_ring(condition, seed=0).samples
    assert torch.isfinite(trained).all()
    assert not torch.allclose(untrained, trained)


@pytest.mark.parametrize("field, value", [("d_lr", 0.0), ("steps", 0), ("betas", (0.5, 1.0))])
def test_condition_rejects_bad_settings(field, value):
    settings = dict(config=GANConfig(), d_lr=1e-3, g_lr=1e-3, betas=(0.5, 0.999), steps=3)
    with pytest.raises(ValueError, match=field):
        Condition(**{**settings, field: value})
