"""The ring experiment's pieces: the sampler is the shared ring of the GAN miniature, and the mode-collapse rule
reads coverage and quality separately."""

import torch

from archlab.gan.ring import RingResult, mode_collapse_holds, ring_sampler
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
