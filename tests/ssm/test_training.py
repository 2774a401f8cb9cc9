"""The helpers of the trained SSM claims, and each of those claims end to end on a tiny budget (the quick-scale
runs are in tests/test_claims.py)."""

import math

import pytest
import torch

from archlab.lab import Scale
from archlab.lab.registry import _REGISTRY
from archlab.ssm import recall_claims, selection_claims
from archlab.ssm.training import Budget, LTIStack, LTIStackConfig, SyntheticTask, accuracy

CLAIMS = ["ssm.selective-copying", "ssm.recall-gap", "ssm.hybrid-recovers-recall", "ssm.length-extrapolation"]


class Oracle(torch.nn.Module):
    """Logits with all mass on a fixed answer table; the input's first column is the row of the table."""

    def __init__(self, answers, vocab):
        super().__init__()
        self.answers, self.vocab = answers, vocab

    def forward(self, x, labels=None):
        return type("Out", (), {"logits": torch.nn.functional.one_hot(self.answers[x[:, 0]], self.vocab).float()})


def test_accuracy_counts_only_labelled_positions():
    labels = torch.tensor([[-100, 3, -100, 5], [-100, -100, 2, -100]])
    answers = torch.tensor([[0, 3, 0, 1], [1, 1, 2, 1]])  # 2 of 3 labelled positions right
    rows = torch.arange(2)[:, None].expand(2, 4)
    assert accuracy(Oracle(answers, 8), rows, labels) == pytest.approx(2 / 3)
    assert accuracy(Oracle(answers, 8), rows, labels, batch_size=1) == pytest.approx(2 / 3)


def test_synthetic_task_batches_are_pure_in_seed_and_step():
    def sample(n, g):
        return torch.randint(0, 9, (n, 4), generator=g), torch.zeros(n, 4, dtype=torch.long)

    task = SyntheticTask(torch.nn.Linear(1, 1), sample, batch_size=3, seed=1, eval_size=2)
    again = SyntheticTask(torch.nn.Linear(1, 1), sample, batch_size=3, seed=1, eval_size=2)
    assert torch.equal(task.train_batch(5)[0], again.train_batch(5)[0])
    assert not torch.equal(task.train_batch(5)[0], task.train_batch(6)[0])
    assert task.held_out()[0].shape == (2, 4)


def test_a_curriculum_draws_the_first_steps_from_its_own_sampler():
    def sample(n, g):
        return torch.randint(0, 9, (n, 8), generator=g), torch.zeros(n, 8, dtype=torch.long)

    def easy(n, g):
        return torch.randint(0, 9, (n, 2), generator=g), torch.zeros(n, 2, dtype=torch.long)

    task = SyntheticTask(torch.nn.Linear(1, 1), sample, batch_size=3, seed=1, eval_size=2, curriculum=(easy, 4))
    plain = SyntheticTask(torch.nn.Linear(1, 1), sample, batch_size=3, seed=1, eval_size=2)
    assert [task.train_batch(s)[0].shape[1] for s in (0, 3, 4, 9)] == [2, 2, 8, 8]
    assert torch.equal(task.train_batch(4)[0], plain.train_batch(4)[0])  # same stream once the curriculum ends
    assert task.held_out()[0].shape == (2, 8)  # the held-out set is the task's own


def test_lti_stack_is_causal():
    torch.manual_seed(0)
    model = LTIStack(LTIStackConfig(vocab_size=10, d_model=8, n_layers=2, d_state=4)).eval()
    x = torch.randint(0, 10, (1, 12))
    x2 = x.clone()
    x2[0, 7:] = (x2[0, 7:] + 1) % 10
    with torch.no_grad():
        a, b = model(x).logits, model(x2).logits
    torch.testing.assert_close(a[:, :7], b[:, :7], atol=1e-5, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", CLAIMS)
def test_claim_runs_end_to_end_on_a_tiny_budget(claim_id, monkeypatch):
    real_train = recall_claims.train

    def tiny_train(model, sample, budget, *, seed, curriculum=None):
        easy = None if curriculum is None else (curriculum[0], 1)
        return real_train(model, sample, Budget(steps=2, batch_size=6, lr=budget.lr), seed=seed, curriculum=easy)

    monkeypatch.setattr(recall_claims, "train", tiny_train)
    monkeypatch.setattr(selection_claims, "train", tiny_train)
    # the shared attention baseline is cached per process: neither take a real one nor leave a tiny one behind
    recall_claims._trained_attention.cache_clear()
    try:
        evidence = _REGISTRY[claim_id].measure(Scale.QUICK, seed=0)
    finally:
        recall_claims._trained_attention.cache_clear()
    assert evidence.figure is not None
    assert all(isinstance(v, float) and (math.isfinite(v) or math.isnan(v)) for v in evidence.metrics.values())
    assert not evidence.holds  # two steps of training cannot make any of these claims hold


def test_both_recall_claims_share_one_trained_attention_baseline(monkeypatch):
    trained = []
    real_train = recall_claims.train

    def tiny_train(model, sample, budget, *, seed, curriculum=None):
        trained.append(model)
        return real_train(model, sample, Budget(steps=1, batch_size=2, lr=budget.lr), seed=seed)

    monkeypatch.setattr(recall_claims, "train", tiny_train)
    recall_claims._trained_attention.cache_clear()
    try:
        first = recall_claims._trained_attention(Scale.QUICK, 0)
        assert recall_claims._trained_attention(Scale.QUICK, 0) is first
        assert recall_claims._trained_attention(Scale.QUICK, 1)[3] is not first[3]  # one per seed
        assert len(trained) == 2
    finally:
        recall_claims._trained_attention.cache_clear()
