"""The task contract beyond a bare loss: ``LossOutput`` logs, ``after_step``, optimisers and schedules per
player, ``steps_per_step``, task-defined batch splitting, the EMA of the weights, a config-free run."""

from __future__ import annotations

import io

import pytest
import torch
from safetensors.torch import load_file

from archlab.errors import UserError
from archlab.train.config import OptimConfig, RunConfig
from archlab.train.loop import fit
from archlab.train.optim import build_optimizer, lr_factor
from archlab.train.progress import read_metrics
from archlab.train.task import Player
from train_toys import (CriticTask, GraphTask, LoggingToyTask, SimulatedKill, ToyModel, make_toy, params_of,
                        toy_config)


def without_speed(records: list[dict]) -> list[dict]:
    """Metric records without ``tokens_per_s``, the one number that differs between equal runs."""
    return [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in records]


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


@pytest.mark.parametrize("grad_accum", [2, 5])
def test_a_graph_batch_accumulates_over_seed_parts_like_the_whole_batch(grad_accum):
    whole, parts = make_toy(task_class=GraphTask), make_toy(task_class=GraphTask)
    batch = whole.train_batch(0)
    pieces = whole.split(batch, grad_accum)
    assert [whole.batch_size(p) for p in pieces] == [10 // grad_accum] * grad_accum
    assert all(p["x"] is batch["x"] and p["edge_index"] is batch["edge_index"] for p in pieces)  # the whole graph
    assert torch.equal(torch.cat([p["seeds"] for p in pieces]), batch["seeds"])
    a = fit(whole, toy_config(steps=4, batch_size=10, grad_accum=1))
    b = fit(parts, toy_config(steps=4, batch_size=10, grad_accum=grad_accum))
    assert [r["loss"] for r in a.history] == pytest.approx([r["loss"] for r in b.history], abs=1e-6)
    assert a.history[0]["loss"] != a.history[-1]["loss"]
    for k, v in params_of(whole.model).items():
        assert torch.allclose(v, params_of(parts.model)[k], atol=1e-6, rtol=0), k


def test_schedules_after_warmup():
    kw = dict(total_steps=12, warmup_steps=2, min_lr_ratio=0.2)
    assert [lr_factor(s, schedule="constant", **kw) for s in (0, 1, 2, 11)] == pytest.approx([0.5, 1, 1, 1])
    linear = [lr_factor(s, schedule="linear", **kw) for s in range(2, 12)]
    assert linear[0] == pytest.approx(1.0) and linear[-1] == pytest.approx(0.2)
    assert linear[5] == pytest.approx(1 - 0.8 * 5 / 9)  # a straight line from 1 to min_lr_ratio
    with pytest.raises(ValueError, match="schedule='step'"):
        OptimConfig(schedule="step")


def test_optimizer_names_build_torch_optimizers_with_their_settings():
    sgd = build_optimizer(ToyModel(), OptimConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True))
    assert type(sgd) is torch.optim.SGD
    assert all(g["momentum"] == 0.9 and g["nesterov"] for g in sgd.param_groups)
    adam = build_optimizer(ToyModel(), OptimConfig(name="adam", betas=(0.5, 0.9), weight_decay=0.01))
    assert type(adam) is torch.optim.Adam and adam.param_groups[0]["betas"] == (0.5, 0.9)
    assert type(build_optimizer(ToyModel(), OptimConfig())) is torch.optim.AdamW
    with pytest.raises(ValueError, match="name='lion'"):
        OptimConfig(name="lion")
    with pytest.raises(ValueError, match="momentum=0.9 and nesterov=False apply to name='sgd' only"):
        OptimConfig(name="adamw", momentum=0.9)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        OptimConfig(name="sgd", nesterov=True)
    with pytest.raises(ValueError, match="steps_per_step=0"):
        Player("critic", ToyModel(), steps_per_step=0)


def test_a_player_with_several_steps_per_step_takes_them_on_their_own_batches():
    task = make_toy(task_class=CriticTask)
    result = fit(task, toy_config(steps=2))
    assert task.calls == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    optimizers = result.history[-1]
    assert {"loss_discriminator", "loss_generator", "lr_discriminator", "lr_generator"} <= set(optimizers)
    first = result.history[0]
    assert first["lr_discriminator"] == pytest.approx(5e-2) and first["lr_generator"] == pytest.approx(5e-3)
    assert result.history[-1]["lr_discriminator"] == pytest.approx(5e-2 * 0.1)  # linear to min_lr_ratio


def test_several_steps_per_step_and_other_optimizers_resume_exactly(tmp_path):
    straight = make_toy(task_class=CriticTask)
    fit(straight, toy_config(steps=6, checkpoint_every=2), tmp_path / "a")
    with pytest.raises(SimulatedKill):
        fit(make_toy(task_class=CriticTask, crash_at_step=4), toy_config(steps=6, checkpoint_every=2), tmp_path / "b")
    resumed = make_toy(task_class=CriticTask, init_seed=3)
    fit(resumed, toy_config(steps=6, checkpoint_every=2), tmp_path / "b", resume=True)
    assert resumed.calls[0] == (2, 0)  # continued after the checkpoint of step 2
    for k, v in params_of(straight.model).items():
        assert torch.equal(v, params_of(resumed.model)[k]), k
    assert without_speed(read_metrics(tmp_path / "a")) == without_speed(read_metrics(tmp_path / "b"))


def test_ema_follows_its_formula_and_is_written_beside_final(tmp_path):
    decay = 0.5
    task = make_toy(task_class=LoggingToyTask)
    start = params_of(task.model)
    trajectory = []
    task.after_step = lambda step: trajectory.append(params_of(task.model))  # weights after each step
    result = fit(task, toy_config(steps=3, ema_decay=decay), tmp_path)
    expected = start
    for weights in trajectory:
        expected = {k: decay * expected[k] + (1 - decay) * weights[k] for k in expected}
    ema = load_file(str(result.final_dir / "ema" / "model.safetensors"))
    final = load_file(str(result.final_dir / "model.safetensors"))
    assert set(ema) == set(final) == set(expected)
    for k in expected:
        assert torch.allclose(ema[k], expected[k], atol=1e-6, rtol=0), k
        assert torch.equal(final[k], trajectory[-1][k])  # the model itself is not the average
    assert any(not torch.equal(ema[k], final[k]) for k in ema)
    assert torch.equal(params_of(task.model)["head.weight"], trajectory[-1]["head.weight"])  # swapped back


def test_ema_resumes_exactly(tmp_path):
    straight = make_toy()
    fit(straight, toy_config(steps=7, checkpoint_every=3, ema_decay=0.9), tmp_path / "a")
    with pytest.raises(SimulatedKill):
        fit(make_toy(crash_at_step=5), toy_config(steps=7, checkpoint_every=3, ema_decay=0.9), tmp_path / "b")
    assert (tmp_path / "b" / "checkpoints" / "step-0000003" / "ema.safetensors").exists()
    resumed = make_toy(init_seed=4)
    fit(resumed, toy_config(steps=7, checkpoint_every=3, ema_decay=0.9), tmp_path / "b", resume=True)
    for name in ("model.safetensors", "ema/model.safetensors"):
        a, b = (load_file(str(tmp_path / run / "final" / name)) for run in ("a", "b"))
        assert all(torch.equal(a[k], b[k]) for k in a), name
    fit(make_toy(), toy_config(steps=4, checkpoint_every=2), tmp_path / "c")
    with pytest.raises(UserError, match="holds no EMA weights"):
        fit(make_toy(), toy_config(steps=5, checkpoint_every=2, ema_decay=0.9), tmp_path / "c", resume=True,
            allow_changes=True)


@pytest.mark.parametrize("model", [None, {"layers": 2}])
def test_a_run_needs_no_model_dataclass(tmp_path, model):
    config = toy_config(steps=2, checkpoint_every=1)
    config = RunConfig(model=model, optim=config.optim, train=config.train)
    fit(make_toy(), config, tmp_path)
    assert fit(make_toy(), config, tmp_path, resume=True).step == 2
    other = RunConfig(model={"layers": 3}, optim=config.optim, train=config.train)
    if model is not None:
        with pytest.raises(UserError, match="another model config"):
            fit(make_toy(), other, tmp_path, resume=True)
