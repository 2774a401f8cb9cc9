"""The posterior-collapse experiment's rule, its free-bits floor and its probe on a sampled latent."""

import math

from archlab.vae.collapse import CollapseResult, collapse_holds, condition_configs, run_condition
from archlab.vae.sequence import SequenceVAEConfig


def _result(kl: float, probe: float, units: int) -> CollapseResult:
    return CollapseResult(kl=kl, probe=probe, active_units=units, reconstruction=0.0, probe_mean=1.0,
                          mean_variances=[])


def test_rule_is_two_sided():
    good = {"vanilla": _result(0.02, 0.14, 1), "annealing+word-dropout": _result(3.5, 0.85, 8),
            "free-bits": _result(4.7, 0.85, 8)}
    assert collapse_holds(good)
    assert not collapse_holds({**good, "vanilla": _result(0.02, 0.14, 2)})  # vanilla keeps 2 units
    assert not collapse_holds({**good, "vanilla": _result(0.3, 0.14, 0)})  # vanilla did not collapse
    assert not collapse_holds({**good, "free-bits": _result(2.03, 0.62, 8)})  # the fix's latent misses the topic


def test_conditions_anneal_over_half_the_steps_and_floor_free_bits_at_twice_the_topic_entropy():
    configs = condition_configs(steps=4)
    assert configs["annealing+word-dropout"].kl_anneal_steps == 2
    assert configs["free-bits"].free_bits * configs["free-bits"].latent_dim >= 2 * math.log(8)


def test_active_units_count_the_mean_variances_over_the_threshold():
    result = run_condition(SequenceVAEConfig(hidden_dim=8, embed_dim=4, latent_dim=2), steps=2, seed=0,
                           batch_size=8)
    assert result.kl >= 0 and 0 <= result.probe <= 1
    assert len(result.mean_variances) == 2
    assert result.active_units == sum(v > 0.01 for v in result.mean_variances)
