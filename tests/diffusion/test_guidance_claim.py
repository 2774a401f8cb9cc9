"""``diffusion.guidance-tradeoff``: the in-mode fraction (nearest mode) and spread on constructed points, the
per-class distance, the U-shape test, the rule on crafted inputs, and the registered claim's verdict at seed 0."""

import math

import pytest
import torch

from archlab.data.toy2d import ring_means
from archlab.diffusion.guidance_claim import class_distance, class_stats, guidance_rule, is_u_shaped
from archlab.lab import Scale
from archlab.lab.runner import run_claim

MEANS = ring_means()


def _points(offsets_per_class: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    points = torch.cat([MEANS[c] + o for c, o in enumerate(offsets_per_class)])
    labels = torch.cat([torch.full((o.shape[0],), c) for c, o in enumerate(offsets_per_class)])
    return points, labels


def test_in_mode_counts_a_sample_whose_nearest_mode_is_its_class_however_far_out():
    direction = MEANS / MEANS.norm(dim=1, keepdim=True)
    beyond = MEANS + 0.6 * direction  # radially past its own mode, 6 std away: still nearest to it
    midpoint = (MEANS[0] + MEANS[1]) / 2
    past_bisector = midpoint + 0.01 * (MEANS[1] - MEANS[0])  # just nearer mode 1 than mode 0
    assert (past_bisector - MEANS[1]).norm() < (past_bisector - MEANS[0]).norm()
    points = torch.cat([beyond, past_bisector[None]])
    labels = torch.cat([torch.arange(8), torch.tensor([0])])
    fraction, _ = class_stats(points, labels, MEANS)
    assert fraction == pytest.approx((7 * 1.0 + 0.5) / 8)  # class 0: one of its two samples is in-mode


def test_a_sample_on_another_class_mode_is_not_in_its_own():
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
    assert spread == pytest.approx(0.1, rel=0.03)


def test_spread_leaves_out_samples_in_another_mode_and_is_nan_without_any():
    # two classes, modes 0 and 4: class 0 has two points +-0.1 along x around mode 0 and one on mode 4 (which
    # would raise its spread to ~1.3 if counted); class 1 has one point on mode 4
    points = torch.cat([MEANS[0] + torch.tensor([[-0.1, 0.0], [0.1, 0.0]]), MEANS[[4, 4]]])
    fraction, spread = class_stats(points, torch.tensor([0, 0, 0, 1]), MEANS[[0, 4]])
    assert fraction == pytest.approx((2 / 3 + 1) / 2)
    assert spread == pytest.approx((0.1 / math.sqrt(2) + 0.0) / 2, rel=1e-5)
    offsets = [torch.zeros(2, 2)] * 7 + [MEANS[6] - MEANS[7] + torch.zeros(2, 2)]  # class 7 sits on mode 6
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


@pytest.mark.slow
def test_the_registered_claim_holds_at_seed_0_with_guidance_helping(tmp_path):
    result = run_claim("diffusion.guidance-tradeoff", scale=Scale.QUICK, seed=0, out=tmp_path)
    assert result.error is None, result.traceback
    assert result.holds, result.metrics
    metrics = result.metrics
    assert metrics["in_mode_w0"] < metrics["in_mode_w4"] == 1.0  # a real rise, not only ties
    assert metrics["sw_conditional_w0"] > metrics[f"sw_conditional_w{metrics['best_w']:g}"]
    assert metrics["spread_w0"] > metrics["true_spread"] > metrics["spread_w4"]
