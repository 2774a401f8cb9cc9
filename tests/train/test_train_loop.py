"""The loop on toy tasks: accumulation, checkpoints, exact resume, atomic saves, non-finite losses, players."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import random

import numpy as np
import pytest
import torch

from archlab.errors import UserError
from archlab.train import checkpoint as ckpt
from archlab.train.distributed import DistContext
from archlab.train.loop import NonFiniteLossError, Trainer, exactness_changes, fit
from archlab.train.progress import read_metrics
from train_toys import CountingToyTask, SimulatedKill, TwoPlayerTask, make_toy, params_of, toy_config


def assert_same_params(a: dict, b: dict, atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=atol, rtol=0), f"{k} differs by {(a[k] - b[k]).abs().max()}"


def test_training_reduces_the_loss():
    result = fit(make_toy(), toy_config(steps=30, eval_every=10))
    losses = [r["loss"] for r in result.history]
    assert result.step == 30 and len(losses) == 30
    assert sum(losses[-5:]) < sum(losses[:5])
    assert [r["step"] for r in result.history if "val_loss" in r] == [10, 20, 30]


@pytest.mark.parametrize("rows", [8, 7])  # a task batch of 7 rows is cut 4 + 3: micro-batches weigh by size
def test_gradient_accumulation_equals_one_big_batch(rows):
    whole, accumulated = make_toy(batch_size=rows), make_toy(batch_size=rows)
    whole.model.drop.p = accumulated.model.drop.p = 0.0  # dropout masks depend on micro-batch shapes
    a = fit(whole, toy_config(steps=4, grad_accum=1))
    b = fit(accumulated, toy_config(steps=4, grad_accum=2))
    assert [r["loss"] for r in a.history] == pytest.approx([r["loss"] for r in b.history], abs=1e-6)
    assert_same_params(params_of(whole.model), params_of(accumulated.model), atol=1e-6)


def test_lr_follows_the_schedule():
    result = fit(make_toy(), toy_config(steps=6))
    lrs = [r["lr"] for r in result.history]
    assert lrs[0] == pytest.approx(0.5e-2) and lrs[1] == pytest.approx(1e-2)  # warmup of 2 steps, peak 1e-2
    assert lrs[-1] == pytest.approx(1e-3)  # min_lr_ratio 0.1 at the last step


def test_checkpoint_round_trip_is_exact(tmp_path):
    task = make_toy(task_class=CountingToyTask)
    trainer = Trainer(task, toy_config(steps=4, checkpoint_every=2), tmp_path, DistContext())
    trainer.fit()
    folder = tmp_path / "checkpoints" / "step-0000004"
    assert sorted(p.name for p in folder.iterdir()) == [
        "COMPLETE", "model.safetensors", "optimizer.safetensors", "task_state.safetensors", "trainer_state.json"]
    state = json.loads((folder / "trainer_state.json").read_text())
    assert state["step"] == 4 and state["data"]["next_step"] == 4 and state["seed"] == 0

    fresh = make_toy(init_seed=1, task_class=CountingToyTask)  # different initial weights, no optimiser state
    fresh_trainer = Trainer(fresh, toy_config(steps=4), None, DistContext())
    loaded_state, task_state = ckpt.load_checkpoint(folder, model=fresh.model, optimizers=fresh_trainer.optimizers)
    assert_same_params(params_of(task.model), params_of(fresh.model))
    original, restored = trainer.optimizers["model"].state_dict(), fresh_trainer.optimizers["model"].state_dict()
    assert restored["param_groups"] == original["param_groups"]
    assert restored["state"].keys() == original["state"].keys()
    for index, entries in original["state"].items():
        for key, value in entries.items():
            assert torch.equal(restored["state"][index][key], value), (index, key)
    assert int(task_state["steps_seen"]) == 4
    # RNG states come back exactly: what is drawn after a restore repeats
    ckpt.restore_rng_state(loaded_state["rng"])
    first = (random.random(), np.random.rand(), torch.rand(3))
    ckpt.restore_rng_state(loaded_state["rng"])
    assert (random.random(), np.random.rand()) == first[:2] and torch.equal(torch.rand(3), first[2])


def test_optimizer_state_round_trips_through_flat_tensors():
    task = make_toy()
    trainer = Trainer(task, toy_config(), None, DistContext())
    trainer.train_step(0)
    trainer.train_step(1)
    opt = trainer.optimizers["model"]
    tensors, structure = ckpt.flatten_optimizer("model", opt)
    restored = ckpt.unflatten_optimizer(json.loads(json.dumps(structure)), tensors)
    original = opt.state_dict()
    assert restored["param_groups"] == original["param_groups"]
    for index, entries in original["state"].items():
        for key, value in entries.items():
            assert torch.equal(restored["state"][index][key], value)


def test_resume_continues_exactly(tmp_path):
    straight = make_toy(task_class=CountingToyTask)
    fit(straight, toy_config(steps=7, checkpoint_every=3), tmp_path / "a")

    interrupted = make_toy(task_class=CountingToyTask, crash_at_step=6)
    with pytest.raises(SimulatedKill):
        fit(interrupted, toy_config(steps=7, checkpoint_every=3), tmp_path / "b")  # checkpoint 3 only
    # a new process would start from a fresh model: resume must overwrite it from the checkpoint
    resumed = make_toy(init_seed=5, task_class=CountingToyTask)
    torch.rand(10)  # disturb the global RNG; the checkpoint restores it
    result = fit(resumed, toy_config(steps=7, checkpoint_every=3), tmp_path / "b", resume=True)
    assert result.step == 7 and int(resumed.steps_seen) == 7
    assert_same_params(params_of(straight.model), params_of(resumed.model))
    a, b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert [r["step"] for r in b] == list(range(1, 8))  # lines of steps 4, 5 from before the kill are replaced
    assert [r["loss"] for r in a] == [r["loss"] for r in b]


def test_a_partial_save_is_ignored_and_resume_picks_the_newest_complete(tmp_path, monkeypatch):
    task = make_toy(crash_at_step=5)
    with pytest.raises(SimulatedKill):
        fit(task, toy_config(steps=6, checkpoint_every=2), tmp_path)
    root = tmp_path / "checkpoints"
    # a save killed before its rename leaves a temporary folder ...
    real_rename = os.rename

    def crash(src, dst):
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(ckpt.os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(root, 6, write_model=task.save_model, optimizers={}, task_state={}, extra={})
    monkeypatch.setattr(ckpt.os, "rename", real_rename)
    assert any(p.name.startswith(".tmp-step-0000006") for p in root.iterdir())
    # ... and a file system without atomic rename could leave a folder with truncated files
    torn = root / "step-0000008"
    torn.mkdir()
    for name in ("COMPLETE", "model.safetensors"):
        (torn / name).write_bytes((root / "step-0000004" / name).read_bytes()[:20])
    # a folder whose marker lists a file at another size is incomplete too
    shrunk = root / "step-0000007"
    real = root / "step-0000004"
    shrunk.mkdir()
    for p in real.iterdir():
        (shrunk / p.name).write_bytes(p.read_bytes())
    (shrunk / "optimizer.safetensors").write_bytes(b"{}")
    assert ckpt.latest_checkpoint(root) == real
    with pytest.raises(UserError, match="incomplete or corrupt"):
        ckpt.read_trainer_state(shrunk)

    resumed = make_toy(init_seed=3)
    fit(resumed, toy_config(steps=6, checkpoint_every=2), tmp_path, resume=True)
    straight = make_toy()
    fit(straight, toy_config(steps=6), None)
    assert_same_params(params_of(straight.model), params_of(resumed.model))
    assert not any(p.name.startswith(".tmp-") for p in root.iterdir())  # the debris is cleaned up


def test_corrupt_or_missing_checkpoints_are_user_errors(tmp_path):
    fit(make_toy(), toy_config(steps=2, checkpoint_every=2), tmp_path)
    folder = tmp_path / "checkpoints" / "step-0000002"
    with pytest.raises(UserError, match="does not exist"):
        fit(make_toy(), toy_config(steps=4), tmp_path, resume=tmp_path / "nope")
    state = (folder / "trainer_state.json").read_bytes()
    (folder / "trainer_state.json").write_bytes(b"#" * len(state))  # same size, garbage inside
    with pytest.raises(UserError, match=r"step-0000002 is incomplete or corrupt: trainer_state.json does not match the SHA-256"):
        fit(make_toy(), toy_config(steps=4), tmp_path, resume=folder)
    (folder / "trainer_state.json").write_bytes(state)
    weights = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(b"\0" * len(weights))
    with pytest.raises(UserError, match=r"step-0000002 is incomplete or corrupt: model.safetensors does not match the SHA-256"):
        fit(make_toy(), toy_config(steps=4), tmp_path, resume=folder)


def test_a_new_run_refuses_an_output_folder_with_checkpoints(tmp_path):
    fit(make_toy(), toy_config(steps=2, checkpoint_every=1), tmp_path)
    with pytest.raises(UserError, match="already holds a run.*--resume.*--overwrite"):
        fit(make_toy(), toy_config(steps=2), tmp_path)
    with pytest.raises(UserError, match="seed 0, not 1"):
        fit(make_toy(), toy_config(steps=4, seed=1), tmp_path, resume=True)


def test_resume_without_checkpoints_starts_from_step_zero(tmp_path):
    result = fit(make_toy(), toy_config(steps=3), tmp_path, resume=True)
    assert result.step == 3 and [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3]


def test_non_finite_loss_stops_naming_the_step_and_keeps_the_last_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLossError) as info:
        fit(make_toy(nan_at_step=5), toy_config(steps=8, checkpoint_every=2), tmp_path)
    message = str(info.value)
    assert "loss is nan at step 5" in message and "step-0000004" in message and "\n" not in message
    assert isinstance(info.value, UserError)  # the CLI prints it as one line and exits 2
    assert ckpt.latest_checkpoint(tmp_path / "checkpoints").name == "step-0000004"
    assert not (tmp_path / "final").exists()
    # the last good checkpoint loads and resumes
    result = fit(make_toy(), toy_config(steps=6, checkpoint_every=2), tmp_path, resume=True, allow_changes=True)
    assert result.step == 6 and all(math.isfinite(r["loss"]) for r in result.history)


def test_two_players_each_step_with_their_own_optimizer(tmp_path):
    torch.manual_seed(0)
    task = TwoPlayerTask()
    before = params_of(task.model)
    result = fit(task, toy_config(steps=4, checkpoint_every=2), tmp_path)
    record = result.history[-1]
    assert {"loss_discriminator", "loss_generator", "lr_discriminator", "lr_generator"} <= record.keys()
    assert record["lr_discriminator"] == pytest.approx(1e-3) and record["lr_generator"] == pytest.approx(5e-4)
    after = params_of(task.model)
    assert all(not torch.equal(before[k], after[k]) for k in before)
    state = json.loads((tmp_path / "checkpoints" / "step-0000004" / "trainer_state.json").read_text())
    assert sorted(state["optimizers"]) == ["discriminator", "generator"]
    # resuming the game from step 2 reproduces step 4 exactly
    torch.manual_seed(1)
    resumed = TwoPlayerTask()
    fit(resumed, toy_config(steps=4, checkpoint_every=2), tmp_path,
        resume=tmp_path / "checkpoints" / "step-0000002")
    assert_same_params(after, params_of(resumed.model))


def test_metrics_file_records_every_log_and_evaluation(tmp_path):
    fit(make_toy(), toy_config(steps=6, log_every=2, eval_every=3), tmp_path)
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == [2, 3, 4, 6]
    assert {"loss", "lr", "grad_norm", "tokens_per_s"} <= records[0].keys()
    assert "val_loss" in records[1] and "loss" not in records[1]
    assert {"loss", "val_loss"} <= records[3].keys()
    assert all(r["tokens_per_s"] > 0 for r in records if "tokens_per_s" in r)
    assert (tmp_path / "final" / "model.safetensors").exists()


def test_bf16_autocast_on_cpu_trains():
    result = fit(make_toy(), toy_config(steps=3, precision="bf16"))
    assert all(math.isfinite(r["loss"]) for r in result.history)


def test_progress_bar_shows_loss_and_speed_on_a_terminal_only():
    from rich.console import Console

    from archlab.train.progress import ProgressBar

    terminal = Console(file=io.StringIO(), force_terminal=True, width=120)
    bar = ProgressBar(10, start=2, console=terminal)
    bar.update(5, loss=1.2345, tokens_per_s=4321.0)
    bar.close()
    shown = terminal.file.getvalue()
    assert "5/10" in shown and "loss 1.2345" in shown and "4,321 tok/s" in shown
    pipe = Console(file=io.StringIO(), force_terminal=False)
    quiet = ProgressBar(10, console=pipe)
    quiet.update(3, loss=1.0)
    quiet.close()
    assert pipe.file.getvalue() == ""


def test_batches_are_sliced_for_ranks_and_micro_batches():
    from archlab.train.task import split_batch

    batch = {"x": torch.arange(10)[:, None], "pair": (torch.arange(10), torch.tensor(1.0))}
    pieces = split_batch(batch, 3)
    assert [p["x"].shape[0] for p in pieces] == [4, 3, 3]
    assert torch.equal(torch.cat([p["pair"][0] for p in pieces]), torch.arange(10))
    assert all(p["pair"][1] == 1.0 for p in pieces)  # scalars are shared, not sliced
    assert [p["x"].shape[0] for p in split_batch(batch, 2)] == [5, 5]
    one = torch.zeros(1, 3)
    assert [p.shape[0] for p in split_batch(one, 2)] == [1]  # rank 0 gets the item, rank 1 none
    task = make_toy(batch_size=7)
    for rank, expected in ((0, [2, 2]), (1, [2, 1])):  # rank 0 takes rows 0-3, rank 1 rows 4-6
        trainer = Trainer(task, toy_config(grad_accum=2), None, DistContext())
        trainer.context = DistContext(rank=rank, world_size=2)  # the slicing only, without a process group
        ids = [p[0] for p in trainer._local_pieces(task.train_batch(0), 2)]
        assert [len(i) for i in ids] == expected
        assert torch.equal(torch.cat(ids), task.train_batch(0)[0][4 * rank:4 + 3 * rank])


def test_resume_skips_a_same_size_corruption_and_falls_back_to_the_newest_checkpoint_that_verifies(
        tmp_path, caplog):
    fit(make_toy(), toy_config(steps=4, checkpoint_every=2), tmp_path)
    newest = tmp_path / "checkpoints" / "step-0000004"
    weights = bytearray((newest / "model.safetensors").read_bytes())
    weights[-1] ^= 0x01  # one bit of one weight: the size and the header stay valid
    (newest / "model.safetensors").write_bytes(bytes(weights))
    with pytest.raises(UserError, match="step-0000004 is incomplete or corrupt: model.safetensors does not match"):
        fit(make_toy(), toy_config(steps=4), tmp_path, resume=newest)
    resumed = make_toy(init_seed=5)
    with caplog.at_level(logging.WARNING):
        result = fit(resumed, toy_config(steps=4, checkpoint_every=2), tmp_path, resume=True)
    assert "skipping checkpoint" in caplog.text and "step-0000004" in caplog.text
    assert result.step == 4 and ckpt.latest_checkpoint(tmp_path / "checkpoints") == newest  # rewritten, verified
    straight = make_toy()
    fit(straight, toy_config(steps=4), None)
    assert_same_params(params_of(straight.model), params_of(resumed.model))
    for name in ("step-0000002", "step-0000004"):
        (tmp_path / "checkpoints" / name / "trainer_state.json").write_text("{}")
    with pytest.raises(UserError, match="no checkpoint in .* verifies"):
        fit(make_toy(), toy_config(steps=4), tmp_path, resume=True)


def test_resume_refuses_changes_that_break_exactness_unless_allowed(tmp_path, caplog):
    fit(make_toy(), toy_config(steps=4, checkpoint_every=2), tmp_path)
    (tmp_path / "final").rename(tmp_path / "old-final")
    for changed, fragment in [(dict(steps=6), "train.steps 4 -> 6"), (dict(batch_size=4), "train.batch_size 8 -> 4")]:
        with pytest.raises(UserError, match=f"other settings \\({fragment}\\).*--allow-changes"):
            fit(make_toy(), toy_config(checkpoint_every=2, **{"steps": 4, **changed}), tmp_path, resume=True)
    faster = toy_config(steps=4, checkpoint_every=2)
    faster.optim.lr = 0.05
    with pytest.raises(UserError, match=r"optim.lr 0.01 -> 0.05"):
        fit(make_toy(), faster, tmp_path, resume=True)
    quiet = toy_config(steps=4, checkpoint_every=1, log_every=2, eval_every=2)  # what is logged, not what is learnt
    assert fit(make_toy(), quiet, tmp_path, resume=True).step == 4
    with caplog.at_level(logging.WARNING):
        assert fit(make_toy(), toy_config(steps=6, checkpoint_every=2), tmp_path, resume=True,
                   allow_changes=True).step == 6
    assert "train.steps 4 -> 6" in caplog.text


def test_exactness_changes_names_each_changed_field_of_data_optim_and_train():
    saved = {"data": {"path": "a.txt"}, "optim": {"lr": 0.1}, "train": {"steps": 5, "log_every": 1}, "model": {"x": 1}}
    current = {"data": {"path": "b.txt"}, "optim": {"lr": 0.1}, "train": {"steps": 5, "log_every": 9}, "model": {"x": 2}}
    assert exactness_changes(saved, current) == ["data.path 'a.txt' -> 'b.txt'"]
    assert exactness_changes({**saved, "data": None}, current) == ["data (the whole section)"]


def test_a_task_that_carries_state_is_refused_data_parallel_before_any_work(tmp_path):
    with pytest.raises(UserError, match=r"CountingToyTask carries state from step to step \(steps_seen.*without torchrun"):
        Trainer(make_toy(task_class=CountingToyTask), toy_config(), tmp_path, DistContext(rank=0, world_size=2))
    assert not any(tmp_path.iterdir())
