"""Two gloo ranks on CPU train like one process: DDP (the default) on toy tasks and through ``archlab train lm``.

Run as a script under torchrun, this file is the worker: it trains a toy task of ``train_toys`` with
``fit``'s trainer and writes, from rank 0, which engine synchronised the gradients (``engine.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

TORCHRUN = Path(sys.executable).parent / "torchrun"
ARGS = [
    "--steps", "5", "--seed", "2", "--quiet",
    "--set", "model.d_model=32", "--set", "model.n_layers=1", "--set", "model.n_heads=2",
    "--set", "model.max_seq_len=32", "--set", "data.context=16", "--set", "train.batch_size=8",
    "--set", "train.eval_every=0", "--set", "train.eval_batches=2", "--set", "train.checkpoint_every=0",
    "--set", "train.log_every=1", "--set", "optim.warmup_steps=2",
]
needs_torchrun = pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside this Python")


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def torchrun(script_args: list[str], *, ranks: int = 2) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(TORCHRUN), "--standalone", f"--nproc_per_node={ranks}", *script_args],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]


# --- the worker --------------------------------------------------------------------------------------------


def build_toy(name: str):
    """A toy task and its run config, the same in the worker and in the one-process reference."""
    from train_toys import GraphTask, ToyTask, TwoPlayerTask, make_toy, toy_config

    if name == "game":
        return make_toy(task_class=TwoPlayerTask), toy_config(steps=6)
    if name == "graph":  # 10 seed nodes a step; every rank and micro-batch forwards the whole graph
        return make_toy(task_class=GraphTask), toy_config(steps=6)
    task = make_toy(task_class=ToyTask, batch_size=3 if name == "odd" else 8)  # odd: 3 items, 2 ranks, 2 pieces
    task.model.drop.p = 0.0  # each rank draws its own dropout masks: no equality with one process
    if name == "spare":  # a parameter that no loss reaches: DDP needs find_unused_parameters
        task.model.spare = torch.nn.Linear(2, 2)
    return task, toy_config(steps=6, batch_size=6 if name == "odd" else 8)  # divisible by grad_accum 2 and 3


def worker(argv: list[str]) -> None:
    import dataclasses

    from archlab.train.distributed import init_distributed, shutdown_distributed
    from archlab.train.loop import Trainer

    p = argparse.ArgumentParser()
    p.add_argument("--toy", default="toy")
    p.add_argument("--out", required=True)
    p.add_argument("--parallel", default="ddp")
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--checkpoint-every", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)
    context = init_distributed("cpu")
    try:
        task, config = build_toy(args.toy)
        train = dataclasses.replace(config.train, parallel=args.parallel, grad_accum=args.grad_accum,
                                    checkpoint_every=args.checkpoint_every)
        trainer = Trainer(task, dataclasses.replace(config, train=train), Path(args.out), context)
        trainer.fit(resume=args.resume)
        engine = trainer.parallel
        if context.is_main:
            (Path(args.out) / "engine.json").write_text(json.dumps({
                "engine": type(engine).__name__,
                "ddp": getattr(engine, "ddp", None) is not None,
                "plan": getattr(engine, "plan", None),
            }))
    finally:
        shutdown_distributed(context)


# --- the tests ---------------------------------------------------------------------------------------------


def one_process(name: str, out: Path, *, grad_accum: int, checkpoint_every: int = 0, resume: bool = False):
    """The reference: one process, the global batch in ``grad_accum`` micro-batches (the ranks' slices)."""
    import dataclasses

    from archlab.train.loop import fit

    task, config = build_toy(name)
    train = dataclasses.replace(config.train, grad_accum=grad_accum, checkpoint_every=checkpoint_every)
    fit(task, dataclasses.replace(config, train=train), out, resume=resume)
    return records(out), load_file(str(out / "final" / "model.safetensors"))


def assert_same_run(a_records, a_weights, out: Path, tol: float) -> None:
    b_records, b_weights = records(out), load_file(str(out / "final" / "model.safetensors"))
    assert [r["step"] for r in a_records] == [r["step"] for r in b_records] == [1, 2, 3, 4, 5, 6]
    for ra, rb in zip(a_records, b_records):
        losses = [k for k in ra if k.startswith("loss")]
        assert losses and all(abs(ra[k] - rb[k]) <= tol for k in losses), (ra, rb)
    assert a_weights.keys() == b_weights.keys()
    assert max(float((a_weights[k] - b_weights[k]).abs().max()) for k in a_weights) <= tol


@pytest.mark.slow
@needs_torchrun
def test_ddp_follows_one_process_and_resumes_exactly(tmp_path):
    reference = one_process("toy", tmp_path / "one", grad_accum=4)
    whole = tmp_path / "ddp"
    torchrun([__file__, "--out", str(whole), "--grad-accum", "2", "--checkpoint-every", "3"])
    assert json.loads((whole / "engine.json").read_text()) == {
        "engine": "DDPSync", "ddp": True, "plan": {"ddp": True, "find_unused": False}}
    assert_same_run(*reference, whole, tol=1e-5)

    resumed = tmp_path / "resumed"  # the run as a kill after the step-3 checkpoint leaves it
    shutil.copytree(whole, resumed)
    shutil.rmtree(resumed / "checkpoints" / "step-0000006")
    shutil.rmtree(resumed / "final")
    torchrun([__file__, "--out", str(resumed), "--grad-accum", "2", "--checkpoint-every", "3", "--resume"])
    untimed = [[{k: v for k, v in r.items() if k != "tokens_per_s"} for r in records(out)] for out in (whole, resumed)]
    assert untimed[0] == untimed[1]  # losses, norms and rates of steps 1-6 to the last bit
    a, b = load_file(str(whole / "final" / "model.safetensors")), load_file(str(resumed / "final" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
@needs_torchrun
def test_ddp_finds_unused_parameters_only_when_there_are_some(tmp_path):
    reference = one_process("spare", tmp_path / "one", grad_accum=2)
    out = tmp_path / "ddp"
    torchrun([__file__, "--toy", "spare", "--out", str(out)])
    assert json.loads((out / "engine.json").read_text())["plan"] == {"ddp": True, "find_unused": True}
    assert_same_run(*reference, out, tol=1e-5)


@pytest.mark.slow
@needs_torchrun
def test_ddp_trains_a_graph_task_split_by_seed_nodes_like_one_process(tmp_path):
    reference = one_process("graph", tmp_path / "one", grad_accum=4)  # seeds cut 3 + 2 + 3 + 2, as the ranks do
    out = tmp_path / "ddp"
    torchrun([__file__, "--toy", "graph", "--out", str(out), "--grad-accum", "2"])
    assert json.loads((out / "engine.json").read_text())["ddp"] is True
    assert_same_run(*reference, out, tol=1e-5)


@pytest.mark.slow
@needs_torchrun
def test_ranks_with_unequal_micro_batch_counts_take_the_explicit_path(tmp_path):
    reference = one_process("odd", tmp_path / "one", grad_accum=3)  # items 1 | 1 | 1, as rank 0 (2) and rank 1 (1)
    out = tmp_path / "ddp"
    torchrun([__file__, "--toy", "odd", "--out", str(out), "--grad-accum", "2"])  # DDP would pair forwards wrongly
    assert json.loads((out / "engine.json").read_text()) == {"engine": "DDPSync", "ddp": False,
                                                            "plan": {"ddp": True, "find_unused": False}}
    assert_same_run(*reference, out, tol=1e-5)


@pytest.mark.slow
@needs_torchrun
def test_two_players_keep_the_explicit_all_reduce(tmp_path):
    reference = one_process("game", tmp_path / "one", grad_accum=2)
    out = tmp_path / "ddp"
    torchrun([__file__, "--toy", "game", "--out", str(out)])
    assert json.loads((out / "engine.json").read_text()) == {"engine": "DDPSync", "ddp": False, "plan": None}
    assert_same_run(*reference, out, tol=1e-5)


@pytest.mark.slow
@needs_torchrun
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
    torchrun([*train, "--out", str(double)])

    a, b = records(single), records(double)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [1, 2, 3, 4, 5]
    for ra, rb in zip(a, b):
        assert abs(ra["loss"] - rb["loss"]) < 1e-5, (ra, rb)
    assert abs(a[-1]["val_loss"] - b[-1]["val_loss"]) < 1e-5
    wa = load_file(str(single / "final" / "model.safetensors"))
    wb = load_file(str(double / "final" / "model.safetensors"))
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-5


if __name__ == "__main__":
    worker(sys.argv[1:])
