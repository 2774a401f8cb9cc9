import torch
from torch import nn

from archlab.arena.recall import PAIRS, SEQ_LEN, RecallTask, accuracy, held_out, recall_batch
from archlab.core.outputs import LMOutput


class _Oracle(nn.Module):
    """Answers a repeated key with the id that followed its first occurrence; everything else with id 0."""

    def forward(self, ids):
        b, length = ids.shape
        logits = torch.zeros(b, length, 256)
        for i in range(b):
            for t in range(length):
                first = (ids[i, :t] == ids[i, t]).nonzero()
                answer = ids[i, first[0, 0] + 1] if ids[i, t] != 0 and len(first) else 0
                logits[i, t, answer] = 50.0
        return LMOutput(logits=logits)


def test_batch_mixes_every_pair_count_with_one_label_per_query():
    inputs, labels = recall_batch(6, torch.Generator().manual_seed(0))
    assert inputs.shape == labels.shape == (6, SEQ_LEN)
    assert [(labels[i] != -100).sum().item() for i in range(6)] == [4, 4, 8, 8, 16, 16]


def test_oracle_recalls_everything_and_its_loss_is_zero():
    tests = held_out(0)
    assert sorted(tests) == list(PAIRS)
    assert all(accuracy(_Oracle(), x[:5], y[:5]) == 1.0 for x, y in tests.values())
    batch = RecallTask(_Oracle(), batch_size=6, seed=0).train_batch(0)
    assert RecallTask(_Oracle(), batch_size=6, seed=0).loss(batch, "model").loss < 1e-6  # only queries scored


def test_a_model_that_ignores_the_context_is_at_chance():
    class Constant(nn.Module):
        def forward(self, ids):
            return LMOutput(logits=torch.zeros(*ids.shape, 256).index_fill_(-1, torch.tensor([200]), 1.0))

    inputs, labels = held_out(0)[16]
    assert accuracy(Constant(), inputs, labels) < 0.05
    assert held_out(0)[4][0].equal(held_out(0)[4][0]) and not held_out(1)[4][0].equal(held_out(0)[4][0])
