"""Train proxy reward models on gold-labelled pairs: the shared step of the reward family's claims.

Gao et al. 2023 (arXiv 2210.10760) train each proxy on comparisons labelled by the gold reward. Here a proxy is
a ``FeatureReward`` MLP (2 x 64 GELU) trained with the Bradley-Terry loss through the one loop
(``archlab.lab.experiment.quick_fit``) on ``n_pairs`` pairs drawn from the ``"pairs"`` stream of the seed, batches
of ``batch_size`` pairs (128 unless asked) sampled with replacement, AdamW at 3e-3 for ``steps`` steps.
"""

from __future__ import annotations

import torch

from archlab.data.streams import step_generator
from archlab.lab.experiment import quick_fit
from archlab.reward.features import FeatureReward, FeatureRewardConfig
from archlab.reward.synthetic import GoldReward, PairBatch, PreferenceSetup
from archlab.reward.task import FeaturePairTask


def train_proxy(setup: PreferenceSetup, gold: GoldReward, n_pairs: int, held_out: PairBatch, *, seed: int,
                steps: int = 500, batch_size: int = 128, stream: str = "pairs") -> FeatureReward:
    """A proxy trained on ``n_pairs`` pairs of ``setup`` labelled by ``gold``; its weights seeded by ``seed``."""
    pairs = setup.pairs(n_pairs, gold, step_generator(seed, stream, n_pairs))
    torch.manual_seed(seed)
    model = FeatureReward(FeatureRewardConfig(in_features=setup.in_features, hidden=64, n_layers=2))
    task = FeaturePairTask(model, pairs, held_out, batch_size=batch_size, seed=seed)
    quick_fit(task, steps=steps, lr=3e-3, batch_size=batch_size, seed=seed)
    return model.eval()
