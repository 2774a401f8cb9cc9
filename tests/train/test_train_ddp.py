"""``torchrun --nproc_per_node=2 -m archlab train lm`` on CPU (gloo) follows the single-process loss curve."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

TORCHRUN = Path(sys.executable).parent / "torchrun"
ARGS = [
    "--steps", "5", "--seed", "2", "--quiet",
    "--set", "model.d_model=32", "--set", "model.n_layers=1", "--set", "model.n_heads=2",
    "--set", "model.max_seq_len=32", "--set", "train.context=16", "--set", "train.batch_size=8",
    "--set", "train.eval_every=0", "--set", "train.eval_batches=2", "--set", "train.checkpoint_every=0",
    "--set", "train.log_every=1", "--set", "optim.warmup_steps=2",
]


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside this Python")
def test_two_processes_give_the_single_process_loss_curve(tmp_path):
    data = tmp_path / "corpus.txt"
    data.write_text("".join(f"item {i} costs {i * 7 % 31} coins; total {i * i}.\n" for i in range(300)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single, double = tmp_path / "single", tmp_path / "ddp"
    train = ["-m", "archlab", "train", "lm", "--data", str(data), *ARGS]
    # one process, the global batch of 8 in two accumulation steps of 4: the arithmetic each rank does
    proc = subprocess.run([sys.executable, *train, "--out", str(single), "--set", "train.grad_accum=2"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node=2", *train, "--out", str(double)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]

    a, b = records(single), records(double)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [1, 2, 3, 4, 5]
    for ra, rb in zip(a, b):
        assert abs(ra["loss"] - rb["loss"]) < 1e-5, (ra, rb)
    assert abs(a[-1]["val_loss"] - b[-1]["val_loss"]) < 1e-5
    wa = load_file(str(single / "final" / "model.safetensors"))
    wb = load_file(str(double / "final" / "model.safetensors"))
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-5
