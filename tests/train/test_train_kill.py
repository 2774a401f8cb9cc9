"""Real kills: SIGKILL at a random step, and SIGKILL while a checkpoint is being written, then ``--resume``.

Each resumed run must end with the weights of an uninterrupted run with the same seed (max abs difference
< 1e-6 on CPU), and a kill mid-save must leave the previous checkpoint as the newest loadable one.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file

from archlab.train.checkpoint import latest_checkpoint, read_trainer_state

STEPS = 24
ARGS = [
    "--steps", str(STEPS), "--seed", "7", "--quiet",
    "--set", "model.d_model=32", "--set", "model.n_layers=1", "--set", "model.n_heads=2",
    "--set", "model.max_seq_len=32", "--set", "model.dropout=0.1", "--set", "data.context=16",
    "--set", "train.batch_size=4", "--set", "train.eval_every=0", "--set", "train.eval_batches=1",
    "--set", "train.checkpoint_every=5", "--set", "train.log_every=1", "--set", "optim.warmup_steps=3",
]

# Runs `archlab` with two test hooks that change timing only, never numbers: each training step sleeps
# STEP_DELAY seconds (so that a kill lands mid-run however fast the machine), and the save of SLOW_SAVE
# stalls after writing its first file, touching FLAG, so that the test can kill it mid-save.
WRAPPER = """
import os, pathlib, sys, time
import archlab.train.checkpoint as checkpoint
import archlab.train.lm_task as recipes
delay, slow_save, flag = float(os.environ["STEP_DELAY"]), os.environ.get("SLOW_SAVE"), os.environ.get("FLAG")
real_train_batch = recipes.LMTask.train_batch
def slow_train_batch(self, step):
    time.sleep(delay)
    return real_train_batch(self, step)
recipes.LMTask.train_batch = slow_train_batch
real_save_file = checkpoint.save_file
def stalling_save_file(tensors, path, *args, **kwargs):
    real_save_file(tensors, path, *args, **kwargs)
    if slow_save and slow_save in path:
        pathlib.Path(flag).write_text("mid-save")
        time.sleep(120)
checkpoint.save_file = stalling_save_file
from archlab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def hooked(data, out, **env):
    """Popen of the run with the timing hooks of ``WRAPPER``."""
    argv = [sys.executable, "-c", WRAPPER, *command(data, out)[3:]]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "STEP_DELAY": "0.05", **env})


def command(data, out, *extra):
    return [sys.executable, "-m", "archlab", "train", "lm", "--data", str(data), "--out", str(out), *ARGS, *extra]


def last_logged_step(out) -> int:
    try:
        lines = (out / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            return json.loads(line)["step"]
        except ValueError:
            continue
    return 0


def max_abs_difference(a, b) -> float:
    wa, wb = load_file(str(a / "final" / "model.safetensors")), load_file(str(b / "final" / "model.safetensors"))
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    lines = [f"line {i}: the value of f({i}) is {i * i % 97}; see note {i % 13}.\n" for i in range(400)]
    data = root / "corpus.txt"
    data.write_text("".join(lines))
    out = root / "reference"
    subprocess.run(command(data, out), check=True, timeout=300, capture_output=True)
    return data, out


def test_sigkill_at_a_random_step_then_resume_matches_an_uninterrupted_run(reference, tmp_path):
    data, ref = reference
    kill_at = random.randint(6, 14)  # at least 10 steps (0.5 s) before the end
    out = tmp_path / "killed"
    proc = hooked(data, out)
    deadline = time.monotonic() + 300
    while last_logged_step(out) < kill_at and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, f"the run ended before the kill at step {kill_at}"
    killed_at = last_logged_step(out)
    assert killed_at < STEPS, f"killed too late ({killed_at})"
    assert not (out / "final").exists()

    resumed = subprocess.run(command(data, out, "--resume"), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    diff = max_abs_difference(ref, out)
    assert diff < 1e-6, f"killed after step {killed_at} (aimed at {kill_at}): weights differ by {diff}"
    ref_losses = [r["loss"] for r in map(json.loads, (ref / "metrics.jsonl").read_text().splitlines())]
    losses = [r["loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())]
    assert losses == pytest.approx(ref_losses, abs=1e-6)


def test_sigkill_while_writing_a_checkpoint_keeps_the_previous_one(reference, tmp_path):
    data, ref = reference
    out, flag = tmp_path / "mid-save", tmp_path / "flag"
    proc = hooked(data, out, SLOW_SAVE="step-0000010", FLAG=str(flag))
    deadline = time.monotonic() + 300
    while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    root = out / "checkpoints"
    assert any(p.name.startswith(".tmp-step-0000010") for p in root.iterdir())  # the save was cut short
    newest = latest_checkpoint(root)
    assert newest.name == "step-0000005"
    assert read_trainer_state(newest)["step"] == 5

    resumed = subprocess.run(command(data, out, "--resume"), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert max_abs_difference(ref, out) < 1e-6
    assert not any(p.name.startswith(".tmp-") for p in root.iterdir())
