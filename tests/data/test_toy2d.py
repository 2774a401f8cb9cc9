"""The 2-D toy distributions: shapes, determinism, and the statistics each one is defined by."""

import math

import pytest
import torch

from archlab.data.toy2d import ring_means, ring_of_gaussians, swiss_roll, two_moons


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("make", [ring_of_gaussians, two_moons, swiss_roll])
def test_shapes_dtypes_and_determinism(make):
    points, labels = make(500, gen(3))
    assert points.shape == (500, 2) and points.dtype == torch.float32
    assert labels.shape == (500,) and labels.dtype == torch.long
    again, again_labels = make(500, gen(3))
    assert torch.equal(points, again) and torch.equal(labels, again_labels)
    other, _ = make(500, gen(4))
    assert not torch.equal(points, other)


def test_ring_means_on_the_circle_at_equal_angles():
    means = ring_means(radius=1.5, n_modes=8)
    assert torch.allclose(means.norm(dim=1), torch.full((8,), 1.5))
    assert torch.allclose(means[2], torch.tensor([0.0, 1.5]), atol=1e-6)  # k = 2: angle pi / 2


@pytest.mark.parametrize("radius,std", [(2.0, 0.1), (1.0, 0.02)])
def test_ring_points_sit_around_their_labelled_mode_with_the_given_std(radius, std):
    points, labels = ring_of_gaussians(20000, gen(), radius=radius, std=std)
    offsets = points - ring_means(radius=radius)[labels]
    assert offsets.mean(dim=0).abs().max() < 4 * std / math.sqrt(20000) * 2
    assert torch.allclose(offsets.std(dim=0), torch.full((2,), std), rtol=0.03)
    counts = torch.bincount(labels, minlength=8).float()
    assert counts.min() > 0.9 * 20000 / 8 and labels.max() == 7


def test_two_moons_noiseless_points_lie_on_their_arcs():
    points, labels = two_moons(2000, gen(), noise=0.0)
    upper, lower = points[labels == 0], points[labels == 1]
    assert torch.allclose(upper.norm(dim=1), torch.ones(len(upper)), atol=1e-5) and (upper[:, 1] >= 0).all()
    centre = torch.tensor([1.0, 0.5])
    assert torch.allclose((lower - centre).norm(dim=1), torch.ones(len(lower)), atol=1e-5)
    assert (lower[:, 1] <= 0.5 + 1e-6).all()


def test_swiss_roll_noiseless_radius_equals_scaled_angle_and_segments_follow_it():
    points, labels = swiss_roll(2000, gen(), noise=0.0, scale=0.2, n_segments=4)
    radius = points.norm(dim=1) / 0.2  # = angle, in [1.5 pi, 4.5 pi)
    assert radius.min() >= 1.5 * math.pi - 1e-4 and radius.max() <= 4.5 * math.pi + 1e-4
    u = (radius / (1.5 * math.pi) - 1) / 2
    assert (labels == torch.clamp((u * 4).long(), max=3)).float().mean() > 0.99
    assert set(labels.tolist()) == {0, 1, 2, 3}


def test_bad_arguments_name_the_field():
    with pytest.raises(ValueError, match="std=0"):
        ring_of_gaussians(10, gen(), std=0)
    with pytest.raises(ValueError, match="n=0"):
        two_moons(0, gen())
