"""SampledTask draws per (seed, stream, step); quick_fit trains through the one loop and writes nothing."""

import pytest
import torch

from archlab.data.streams import step_generator
from archlab.lab.experiment import SampledTask, quick_fit


class LineTask(SampledTask):
    """y = 3x - 1 from noisy-free draws x ~ N(0, 1); a linear model learns it."""

    def __init__(self, *, seed: int, batch_size: int = 16, eval_size: int = 64) -> None:
        super().__init__(batch_size=batch_size, seed=seed, eval_size=eval_size)
        self.model = torch.nn.Linear(1, 1)

    def sample(self, size, generator):
        x = torch.randn(size, 1, generator=generator)
        return x, 3 * x - 1

    def loss(self, batch, player):
        x, y = batch
        return (self.model(x) - y).pow(2).mean()


def test_the_batch_of_a_step_is_the_train_stream_of_that_step():
    task = LineTask(seed=4)
    expected = torch.randn(16, 1, generator=step_generator(4, "train", 9))
    assert torch.equal(task.train_batch(9)[0], expected)
    assert torch.equal(LineTask(seed=4).train_batch(9)[0], task.train_batch(9)[0])
    assert not torch.equal(task.train_batch(9)[0], task.train_batch(10)[0])
    assert not torch.equal(task.train_batch(9)[0], LineTask(seed=5).train_batch(9)[0])


def test_the_held_out_set_is_fixed_and_from_its_own_stream():
    task = LineTask(seed=4)
    held_out = task.held_out()[0]
    assert held_out.shape == (64, 1)
    assert torch.equal(held_out, torch.randn(64, 1, generator=step_generator(4, "eval", 0)))
    assert not torch.equal(held_out[:16], task.train_batch(0)[0])
    assert torch.equal(next(iter(task.eval_batches()))[0], held_out)


def test_bad_sizes_and_substeps_are_refused():
    with pytest.raises(ValueError, match="batch_size=0"):
        LineTask(seed=0, batch_size=0)
    with pytest.raises(ValueError, match="eval_size=0"):
        LineTask(seed=0, eval_size=0)
    with pytest.raises(ValueError, match="substep=1"):
        LineTask(seed=0).train_batch(0, substep=1)


def test_quick_fit_learns_quietly_and_repeats(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def run():
        torch.manual_seed(0)
        task = LineTask(seed=1)
        return task, quick_fit(task, steps=150, lr=0.05, batch_size=16, seed=1, log_every=50)

    task, result = run()
    final = result.history[-1]
    assert final["val_loss"] < 1e-3  # the line is learnt (the start is ~10)
    assert [r["step"] for r in result.history if "loss" in r] == [50, 100, 150]
    assert result.final_dir is None and list(tmp_path.iterdir()) == []
    assert capsys.readouterr().out == ""
    losses = [(r["step"], r.get("loss"), r.get("val_loss")) for r in result.history]
    assert [(r["step"], r.get("loss"), r.get("val_loss")) for r in run()[1].history] == losses  # seconds differ
    torch.testing.assert_close(task.model.weight, torch.tensor([[3.0]]), atol=0.05, rtol=0)
