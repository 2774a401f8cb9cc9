"""The adding-problem generator against its definition (Hochreiter and Schmidhuber 1997, Experiment 4), the
model's read-out at each sequence's last pair, the task's seeded batches."""

import pytest
import torch

from archlab.rnn.adding import AddingModel, AddingTask, adding_problem, solved_fraction


@pytest.mark.parametrize("t_min", [24, 50, 100])
def test_generator_follows_the_definition(t_min):
    batch = adding_problem(2000, t_min, generator=torch.Generator().manual_seed(0))
    x, lengths, target = batch.x, batch.lengths, batch.target
    assert x.shape == (2000, int(lengths.max()), 2)
    assert int(lengths.min()) >= t_min and int(lengths.max()) <= t_min + t_min // 10
    assert set(lengths.tolist()) == set(range(t_min, t_min + t_min // 10 + 1))
    for b in range(2000):
        n = int(lengths[b])
        values, markers = x[b, :n, 0], x[b, :n, 1]
        assert torch.all(x[b, n:] == 0)  # padding
        assert torch.all(values.abs() <= 1)
        marked = torch.nonzero(markers == 1).flatten().tolist()
        assert len(marked) == 2
        first, second = marked if marked[0] < 10 else (marked[1], marked[0])
        assert first < 10 and second <= t_min // 2 - 1  # among the first T/2 - 1 pairs not already marked
        assert markers[n - 1] == -1
        assert markers[0] == (1 if 0 in marked else -1)
        if 0 in marked:
            assert values[0] == 0
        assert set(torch.nonzero(markers == -1).flatten().tolist()) <= {0, n - 1}
        assert target[b] == pytest.approx(0.5 + float(values[first] + values[second]) / 4, abs=1e-6)
    assert 0 <= float(target.min()) and float(target.max()) <= 1


def test_generator_statistics():
    batch = adding_problem(20000, 50, generator=torch.Generator().manual_seed(1))
    positions = torch.nonzero(batch.x[..., 1] == 1)[:, 1]  # (2 * B,) marked positions
    counts = torch.bincount(positions, minlength=25).float()
    assert counts[:25].min() > 0 and counts[25:].sum() == 0
    assert solved_fraction(torch.full_like(batch.target, 0.5), batch.target) == pytest.approx(0.155, abs=0.01)
    # Var(target) = (Var X1 + Var X2) / 16 with Var U[-1, 1] = 1/3, except that a marked first pair is zeroed:
    # X1 is there with probability 1/10, X2 with probability 9/10 * 1/24
    expected = ((1 - 0.1) / 3 + (1 - 0.9 / 24) / 3) / 16
    assert float(batch.target.var()) == pytest.approx(expected, rel=0.03)


def test_generator_is_seeded_and_checks_its_arguments():
    a = adding_problem(8, 50, generator=torch.Generator().manual_seed(3))
    b = adding_problem(8, 50, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.x, b.x) and torch.equal(a.target, b.target)
    with pytest.raises(ValueError, match="min_length=10"):
        adding_problem(4, 10)


def test_model_reads_the_last_real_pair():
    torch.manual_seed(0)
    model = AddingModel(kind="gru", hidden_size=8).eval()
    batch = adding_problem(4, 50, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pred = model(batch.x, batch.lengths)
    for b in range(4):
        n = int(batch.lengths[b])
        with torch.no_grad():
            alone = model(batch.x[b:b + 1, :n], batch.lengths[b:b + 1])  # no padding at all
        assert float(pred[b]) == pytest.approx(float(alone), abs=1e-6)


def test_task_batches_are_a_function_of_seed_and_step():
    model = AddingModel(kind="rnn", hidden_size=4)
    task = AddingTask(model, min_length=50, batch_size=8, seed=5, eval_size=16)
    again = AddingTask(model, min_length=50, batch_size=8, seed=5, eval_size=16)
    assert torch.equal(task.train_batch(3)[0], again.train_batch(3)[0])
    assert not torch.equal(task.train_batch(3)[2], task.train_batch(4)[2])
    metrics = task.evaluate(next(iter(task.eval_batches())))
    assert set(metrics) == {"val_mse", "solved"} and 0 <= float(metrics["solved"]) <= 1
