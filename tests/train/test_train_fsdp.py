"""``train.parallel=fsdp`` (FSDP2, ``fully_shard``) on two gloo ranks on CPU trains like one process, writes
checkpoints a one-process run loads, and resumes exactly. The worker is ``test_train_ddp.py`` run as a script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from test_train_ddp import ARGS, TORCHRUN, assert_same_run, needs_torchrun, one_process, records, torchrun

WORKER = str(Path(__file__).with_name("test_train_ddp.py"))


def kill_after_step_3(run, copy):
    """``copy``: the run folder as a kill right after the step-3 checkpoint would leave it."""
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "checkpoints" / "step-0000006")
    shutil.rmtree(copy / "final")
    return copy


@pytest.mark.slow
@needs_torchrun
def test_fsdp_follows_one_process_and_its_checkpoints_are_one_process_checkpoints(tmp_path):
    one = tmp_path / "one"
    reference = one_process("toy", one, grad_accum=4, checkpoint_every=3)
    sharded = tmp_path / "fsdp"
    torchrun([WORKER, "--out", str(sharded), "--parallel", "fsdp", "--grad-accum", "2", "--checkpoint-every", "3"])
    assert json.loads((sharded / "engine.json").read_text())["engine"] == "FSDPSync"
    assert_same_run(*reference, sharded, tol=1e-5)

    # the step-3 checkpoint holds full tensors under one-process names: weights and AdamW moments alike
    for name in ("model.safetensors", "optimizer.safetensors"):
        a = load_file(str(one / "checkpoints" / "step-0000003" / name))
        b = load_file(str(sharded / "checkpoints" / "step-0000003" / name))
        assert a.keys() == b.keys()
        for k in a:
            assert a[k].shape == b[k].shape and torch.allclose(a[k], b[k], atol=1e-5, rtol=0), k

    # two ranks resume the sharded run exactly; one process resumes it as if it had run it
    resumed = kill_after_step_3(sharded, tmp_path / "resumed")
    torchrun([WORKER, "--out", str(resumed), "--parallel", "fsdp", "--grad-accum", "2", "--checkpoint-every", "3",
              "--resume"])
    untimed = [[{k: v for k, v in r.items() if k != "tokens_per_s"} for r in records(out)] for out in (sharded, resumed)]
    assert untimed[0] == untimed[1]
    a, b = load_file(str(sharded / "final" / "model.safetensors")), load_file(str(resumed / "final" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    alone = kill_after_step_3(sharded, tmp_path / "alone")
    one_process("toy", alone, grad_accum=4, checkpoint_every=3, resume=True)
    assert_same_run(*reference, alone, tol=1e-5)


@pytest.mark.slow
@needs_torchrun
def test_fsdp_shards_a_language_model_layer_by_layer_like_one_process(tmp_path):
    data = tmp_path / "corpus.txt"
    data.write_text("".join(f"item {i} costs {i * 7 % 31} coins; total {i * i}.\n" for i in range(300)))
    single, sharded = tmp_path / "single", tmp_path / "fsdp"
    train = ["-m", "archlab", "train", "lm", "--data", str(data), *ARGS, "--set", "model.n_layers=2"]
    proc = subprocess.run([sys.executable, *train, "--out", str(single), "--set", "train.grad_accum=2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    torchrun([*train, "--out", str(sharded), "--set", "train.parallel=fsdp"])
    a, b = records(single), records(sharded)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [1, 2, 3, 4, 5]
    for ra, rb in zip(a, b):
        assert abs(ra["loss"] - rb["loss"]) < 1e-5, (ra, rb)
    assert abs(a[-1]["val_loss"] - b[-1]["val_loss"]) < 1e-5
    assert json.loads((sharded / "final" / "config.json").read_text()) == \
        json.loads((single / "final" / "config.json").read_text())  # the model's own class, not FSDP's
    wa, wb = load_file(str(single / "final" / "model.safetensors")), load_file(str(sharded / "final" / "model.safetensors"))
    assert wa.keys() == wb.keys()
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-5
