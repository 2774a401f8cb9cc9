"""The VEEGAN mode metric's self-tests on the ring of 8 Gaussians (claims.md section 6: radius 1, std 0.02)."""

import torch

from archlab.data.toy2d import ring_means, ring_of_gaussians
from archlab.lab.ring_modes import mode_stats, ring_mode_stats

RING = dict(radius=1.0, std=0.02)


def test_a_point_mass_covers_one_mode_at_full_quality():
    samples = ring_means(radius=1.0)[3].expand(2500, 2) + 0.001
    stats = ring_mode_stats(samples, **RING)
    assert stats.modes_covered == 1 and stats.high_quality_fraction == 1.0
    assert stats.per_mode_counts.tolist() == [0, 0, 0, 2500, 0, 0, 0, 0]


def test_a_broad_blob_covers_every_mode_at_low_quality():
    samples = torch.randn(2500, 2, generator=torch.Generator().manual_seed(0))
    stats = ring_mode_stats(samples, **RING)
    assert stats.modes_covered == 8 and stats.high_quality_fraction < 0.05


def test_true_data_covers_every_mode_at_high_quality():
    samples, labels = ring_of_gaussians(2500, torch.Generator().manual_seed(0), **RING)
    stats = ring_mode_stats(samples, **RING)
    assert stats.modes_covered == 8 and stats.high_quality_fraction >= 0.98
    assert int(stats.per_mode_counts.sum()) == round(stats.high_quality_fraction * 2500)


def test_only_high_quality_samples_cover_modes():
    # one sample far from mode 0 yet nearest to it does not cover it
    means = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    stats = mode_stats(torch.tensor([[1.0, 0.0], [10.0, 0.0]]), means, std=0.1)
    assert stats.modes_covered == 1 and stats.high_quality_fraction == 0.5
    assert stats.per_mode_counts.tolist() == [0, 1]
