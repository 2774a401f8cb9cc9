"""The reward family's claim formulas on known inputs (the claims themselves run in tests/test_claims.py)."""

import torch

from archlab.reward.synthetic import GoldReward, PreferenceSetup


def test_gold_reward_is_standardised_and_zero_far_out():
    gold = GoldReward(8, seed=0)
    values = gold(torch.randn(50_000, 8, generator=torch.Generator().manual_seed(1)))
    assert abs(values.mean().item()) < 0.03 and abs(values.std().item() - 1) < 0.03
    assert gold(torch.full((1, 8), 1e3)).abs().item() < 1e-6


def test_deterministic_pairs_follow_the_gold_and_noise_flips_at_its_rate():
    gold = GoldReward(4, seed=0)
    clean = PreferenceSetup(in_features=4).pairs(4000, gold, torch.Generator().manual_seed(0))
    assert not clean.gold_rejected.any()
    assert (gold(clean.chosen) > gold(clean.rejected)).all()
    noisy = PreferenceSetup(in_features=4, noise=0.2).pairs(20_000, gold, torch.Generator().manual_seed(0))
    assert abs(noisy.gold_rejected.float().mean().item() - 0.2) < 0.01
    bt = PreferenceSetup(in_features=4, labelling="bradley-terry", beta=1.0).pairs(20_000, gold,
                                                                                 torch.Generator().manual_seed(0))
    assert 0.15 < bt.gold_rejected.float().mean().item() < 0.45  # sampled labels disagree with gold sometimes


def test_student_t_items_have_heavy_tails():
    g = torch.Generator().manual_seed(0)
    gaussian = PreferenceSetup(in_features=4).items(100_000, g)
    heavy = PreferenceSetup(in_features=4, tails=3).items(100_000, g)
    assert heavy.abs().max() > 3 * gaussian.abs().max()


def test_swapping_chosen_and_rejected_flips_the_learned_ordering():
    from archlab.data.streams import step_generator
    from archlab.lab.experiment import quick_fit
    from archlab.reward.features import FeatureReward, FeatureRewardConfig
    from archlab.reward.recovery import spearman
    from archlab.reward.synthetic import PairBatch
    from archlab.reward.task import FeaturePairTask

    setup, gold = PreferenceSetup(in_features=4), GoldReward(4, seed=0)
    pairs = setup.pairs(1000, gold, step_generator(0, "pairs", 0))
    items = setup.items(500, step_generator(0, "items", 0))
    rho = {}
    for name, train in (("as labelled", pairs), ("swapped", PairBatch(pairs.rejected, pairs.chosen, ~pairs.gold_rejected))):
        torch.manual_seed(0)
        model = FeatureReward(FeatureRewardConfig(in_features=4, hidden=16, n_layers=1))
        quick_fit(FeaturePairTask(model, train, pairs, batch_size=64, seed=0), steps=150, lr=1e-2, batch_size=64, seed=0)
        with torch.no_grad():
            rho[name] = spearman(model(items), gold(items))
    assert rho["as labelled"] > 0.7 and rho["swapped"] < -0.7
