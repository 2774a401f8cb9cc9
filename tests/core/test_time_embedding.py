"""The sinusoidal time-step embedding against its formula and diffusers' get_timestep_embedding."""

import math

import pytest
import torch

from archlab.core.time_embedding import timestep_embedding


def test_formula_at_default_settings():
    emb = timestep_embedding(torch.tensor([0.0, 3.0]), 8)
    assert emb.shape == (2, 8)
    assert torch.equal(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    freqs = torch.tensor([math.exp(-math.log(10000) * i / 3) for i in range(4)])
    assert torch.allclose(emb[1, :4], torch.sin(3 * freqs), atol=1e-6)
    assert torch.allclose(emb[1, 4:], torch.cos(3 * freqs), atol=1e-6)


@pytest.mark.parametrize("dim", [16, 33])
@pytest.mark.parametrize("flip,shift,scale", [(False, 1.0, 1.0), (True, 0.0, 1.0), (True, 1.0, 1000.0)])
def test_matches_diffusers(dim, flip, shift, scale):
    embeddings = pytest.importorskip("diffusers.models.embeddings")
    t = torch.tensor([0, 1, 17, 999, 0.25])
    ours = timestep_embedding(t, dim, flip_sin_to_cos=flip, downscale_freq_shift=shift, scale=scale)
    theirs = embeddings.get_timestep_embedding(t, dim, flip_sin_to_cos=flip, downscale_freq_shift=shift,
                                               scale=scale)
    assert torch.equal(ours, theirs)


def test_too_small_dim_raises():
    with pytest.raises(ValueError, match="dim=2"):
        timestep_embedding(torch.tensor([1.0]), 2)
