"""The two MQAR recall claims (``archlab.ssm.recall_claims``): their shared attention baseline and their state sweep.
Their verdicts at seeds 1 and 2 are checked by ``archlab run ID --seeds 1,2`` (about four minutes together), not
in the suite, which keeps its 30 minutes for the two claims issue 20 repaired; seed 0 is ``tests/test_claims.py``."""

import pytest

from archlab.lab import Scale
from archlab.ssm import recall_claims
from archlab.ssm.linear_attention import LinearAttentionLMConfig
from archlab.ssm.training import Budget


@pytest.fixture
def tiny_budgets(monkeypatch):
    """Two-step budgets for every model of both claims, and a fresh attention cache before and after."""
    tiny = Budget(steps=2, batch_size=4, lr=1e-3)
    monkeypatch.setattr(recall_claims, "_mqar_budgets", lambda scale: (tiny, tiny))
    monkeypatch.setattr(recall_claims, "_hybrid_budget", lambda scale: tiny)
    recall_claims._trained_attention.cache_clear()
    yield
    recall_claims._trained_attention.cache_clear()


def test_attention_baseline_is_trained_once_per_seed_for_both_claims(tiny_budgets, monkeypatch):
    trained = []

    def counting_train(model, sample, budget, *, seed):
        trained.append((type(model).__name__, getattr(model.config, "layers", None), seed))
        return []

    monkeypatch.setattr(recall_claims, "train", counting_train)
    gap = recall_claims.recall_gap(Scale.QUICK, 1)
    hybrid = recall_claims.hybrid_recovers_recall(Scale.QUICK, 1)
    recall_claims.recall_gap(Scale.QUICK, 2)
    attention_runs = [t for t in trained if t[1] == ("attention", "attention")]
    assert attention_runs == [("MambaLM", ("attention", "attention"), 1), ("MambaLM", ("attention", "attention"), 2)]
    # per seed of recall-gap: one linear attention per feature dimension; the hybrid claim adds two 4-layer stacks
    assert sum(t[0] == "LinearAttentionLM" for t in trained) == 2 * len(recall_claims.FEATURE_DIMS)
    assert sum(t[1] is not None and len(t[1]) == 4 for t in trained) == 2
    # both claims scored the same cached model: their attention accuracy at 16 pairs is one number
    assert gap.metrics["attention_acc_16"] == hybrid.metrics["acc_attention"]


def test_state_sweep_stays_below_attention_cache_and_grows():
    """The swept recurrent states grow with ``f`` and stay below attention's key-value cache at L=64 (keys and
    values of width 64, two layers), so the sweep compares fixed states smaller than what attention keeps."""
    sizes = [LinearAttentionLMConfig(vocab_size=256, d_model=64, n_layers=2, feature_dim=f,
                                     conv_kernel=recall_claims.ATTN_CONV).state_size
             for f in recall_claims.FEATURE_DIMS]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes) == 3
    assert sizes == [(1 + f + f * f) * 65 + 64 * (recall_claims.ATTN_CONV - 1) for f in recall_claims.FEATURE_DIMS]
    assert max(sizes) < 2 * 64 * 64

