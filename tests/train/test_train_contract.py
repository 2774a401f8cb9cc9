"""The task contract beyond a bare loss: ``LossOutput`` logs, ``after_step``, optimisers and schedules per
player, ``steps_per_step``, task-defined batch splitting, the EMA of the weights, a config-free run."""

from __future__ import annotations

import io

import pytest
import torch

from archlab.train.loop import fit
from archlab.train.progress import read_metrics
from train_toys import LoggingToyTask, make_toy, toy_config


def test_logged_scalars_are_averaged_like_the_loss_and_written_everywhere(tmp_path):
    task = make_toy(task_class=LoggingToyTask, batch_size=8)
    result = fit(task, toy_config(steps=3, grad_accum=4, eval_every=3), tmp_path)
    for record in result.history:
        _, target = task.train_batch(record["step"] - 1)
        assert record["mean_target"] == pytest.approx(float(target.mean()), abs=1e-7)  # 4 micro-means, weighted
        assert record["abs_error"] > 0
    assert read_metrics(tmp_path) == result.history
    assert "val_mean_target" in result.history[-1] and "val_loss" in result.history[-1]
    assert result.history[-1]["val_mean_target"] == pytest.approx(
        float(torch.cat([t for _, t in task.eval_batches()]).mean()), abs=1e-7)


def test_after_step_runs_once_after_every_step_once_all_players_are_done():
    task = make_toy(task_class=LoggingToyTask, batch_size=8)
    fit(task, toy_config(steps=3, grad_accum=2))
    per_step = [("loss", "model", 4), ("loss", "model", 4)]
    assert task.events[:9] == [*per_step, ("after_step", 0), *per_step, ("after_step", 1), *per_step, ("after_step", 2)]
    assert ("after_step", 3) not in task.events  # the final evaluation is no step


def test_progress_bar_shows_the_logged_scalars():
    from rich.console import Console

    from archlab.train.progress import ProgressBar

    terminal = Console(file=io.StringIO(), force_terminal=True, width=160)
    bar = ProgressBar(10, console=terminal)
    bar.update(5, loss=1.0, logs={"kl": 0.125, "recon": 2.5})
    bar.close()
    assert "kl 0.125 recon 2.5" in terminal.file.getvalue()
