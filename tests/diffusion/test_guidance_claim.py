"""The pieces of ``diffusion.guidance-tradeoff`` (not registered yet: it does not hold at every seed): the
in-mode fraction and spread on constructed points, the per-class distance, the U-shape test and the rule."""

import math

import pytest
import torch

from archlab.data.toy2d import ring_means
from archlab.diffusion.guidance_claim import class_distance, class_stats, guidance_rule, is_u_shaped

MEANS = ring_means()


def _points(offsets_per_class: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    points = torch.cat([MEANS[c] + o for c, o in enumerate(offsets_per_class)])
    labels = torch.cat([torch.full((o.shape[0],), c) for c, o in enumerate(offsets_per_class)])
    return points, labels


def test_in_mode_fraction_counts_points_within_three_std_of_their_own_class_mean():
    inside, outside = torch.tensor([[0.29, 0.0]]), torch.tensor([[0.31, 0.0]])
    offsets = [torch.cat([inside, inside, inside, outside])] * 8  # 3 of 4 in every class
    fraction, _ = class_stats(*_points(offsets), MEANS)
    assert fraction == pytest.approx(0.75)
    # a point sitting on another class's mode is not in its own class's mode
    points, labels = MEANS[[1, 2]], torch.tensor([0, 2])
    fraction, _ = class_stats(points, labels, MEANS[:3])
    assert fraction == pytest.approx((0 + 0 + 1) / 3)


def test_spread_is_the_std_around_the_samples_own_mean_not_the_mode():
    # in every class: two points at +-0.1 along x around a centre shifted by 0.15 from the mode
    pair = torch.tensor([[0.05, 0.0], [0.25, 0.0]])
    _, spread = class_stats(*_points([pair] * 8), MEANS)
    # per coordinate: x has std 0.1, y 0 -> root mean square over the two coordinates 0.1 / sqrt(2)
    assert spread == pytest.approx(0.1 / math.sqrt(2), rel=1e-5)
    gaussian = torch.randn(8 * 4000, 2, generator=torch.Generator().manual_seed(0)) * 0.1
    _, spread = class_stats(*_points(list(gaussian.chunk(8))), MEANS)
    assert spread == pytest.approx(0.1, rel=0.03)  # 3-std truncation removes ~1 % of the mass


def test_spread_is_nan_when_a_class_has_no_in_mode_sample():
    offsets = [torch.zeros(2, 2)] * 7 + [torch.full((2, 2), 1.0)]
    fraction, spread = class_stats(*_points(offsets), MEANS)
    assert fraction == pytest.approx(7 / 8)
    assert math.isnan(spread)


def test_class_distance_is_zero_for_the_reference_and_the_shift_for_shifted_classes():
    generator = torch.Generator().manual_seed(1)
    points, labels = _points(list((0.1 * torch.randn(8 * 64, 2, generator=generator)).chunk(8)))
    assert class_distance(points, labels, points) == pytest.approx(0.0, abs=1e-9)
    shift = torch.tensor([0.3, 0.4])  # |s| = 0.5 -> SW_2 = 0.5 / sqrt(2) in 2-D
    assert class_distance(points + shift, labels, points) == pytest.approx(0.5 / math.sqrt(2), rel=0.1)


def test_u_shape_needs_the_minimum_inside_zero_to_two_and_a_higher_end():
    assert is_u_shaped([0.2, 0.1, 0.12, 0.15, 0.3])
    assert is_u_shaped([0.2, 0.15, 0.14, 0.1, 0.3])  # minimum at w = 2 is allowed
    assert not is_u_shaped([0.1, 0.2, 0.3, 0.4, 0.5])  # minimum at w = 0
    assert not is_u_shaped([0.5, 0.4, 0.3, 0.2, 0.1])  # minimum at w = 4
    assert not is_u_shaped([0.3, 0.1, 0.2, 0.2, 0.1])  # ties at the minimum: the first, but w = 4 not above


def test_rule_needs_monotone_in_mode_shrunk_spread_and_u_shape():
    in_mode, distances = [0.7, 0.9, 0.95, 1.0, 1.0], [0.12, 0.08, 0.1, 0.11, 0.12]
    assert guidance_rule(in_mode, 0.08, 0.1, distances)
    assert not guidance_rule([0.7, 0.9, 0.95, 1.0, 0.99], 0.01, 0.1, distances)  # in-mode falls at w = 4
    assert not guidance_rule(in_mode, 0.0801, 0.1, distances)  # spread above 0.8 x true
    assert not guidance_rule(in_mode, math.nan, 0.1, distances)
    assert not guidance_rule(in_mode, 0.01, 0.1, [0.07, 0.08, 0.1, 0.11, 0.12])  # best at w = 0
