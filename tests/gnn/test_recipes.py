"""``archlab train gnn``: each architecture trains through the one loop, sampled and full-batch, from CSV too;
split by seed nodes, two gloo ranks train like one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from archlab.errors import UserError
from archlab.gnn.recipes import RECIPES, parse_fanouts
from archlab.train.recipe import all_recipes

TORCHRUN = Path(sys.executable).parent / "torchrun"
SMALL = ["--steps", "4", "--seed", "1", "--quiet", "--set", "model.hidden=8", "--set", "model.heads=2",
         "--set", "model.dropout=0.0", "--set", "data.num_nodes=120", "--set", "train.eval_every=0",
         "--set", "train.checkpoint_every=0", "--set", "train.log_every=1", "--set", "train.batch_size=20",
         "--set", "train.device=cpu"]


def train(out: Path, *extra: str, env=None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "archlab", "train", "gnn", *extra, *SMALL, "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_the_gnn_target_has_the_four_architectures():
    assert list(all_recipes()["gnn"]) == ["gcn", "sage", "gat", "gin"]
    assert parse_fanouts("25,10") == [25, 10] and parse_fanouts("") == []


@pytest.mark.parametrize("arch, options", [("gcn", []), ("sage", ["--fanouts", "5,3"]), ("gat", []),
                                           ("gin", ["--data", "wl"])])
def test_each_architecture_trains_and_lowers_its_loss(tmp_path, arch, options):
    recipe = RECIPES["gnn"][arch]
    config = recipe.default_config()
    import argparse
    import dataclasses

    from archlab.train.loop import fit

    parser = argparse.ArgumentParser()
    recipe.add_arguments(parser)
    config = recipe.apply_arguments(config, parser.parse_args(options))
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, hidden=16, heads=2, dropout=0.0),
        data=dataclasses.replace(config.data, num_nodes=200),
        train=dataclasses.replace(config.train, steps=30, batch_size=64, eval_every=0, checkpoint_every=0,
                                  log_every=1, progress=False, device="cpu"))
    torch.manual_seed(0)
    task = recipe.build_task(config)
    result = fit(task, config, tmp_path)
    losses = [r["loss"] for r in result.history if "loss" in r]
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    assert "val_accuracy" in result.history[-1]


def test_training_on_csv_files_and_their_errors(tmp_path):
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (30,), generator=g)
    rows = "\n".join(f"{int(y)},{float(y) + 0.1 * i % 1:.3f},{i % 3}" for i, y in enumerate(labels))
    (tmp_path / "f.csv").write_text("label,a,b\n" + rows + "\n")
    edges = torch.randint(0, 30, (2, 60), generator=g)
    (tmp_path / "e.csv").write_text("source,target\n" + "\n".join(f"{s},{t}" for s, t in edges.T.tolist()) + "\n")
    train(tmp_path / "run", "--arch", "gcn", "--data", str(tmp_path / "e.csv"), "--features", str(tmp_path / "f.csv"))
    assert (tmp_path / "run" / "final" / "model.safetensors").exists()
    recipe = RECIPES["gnn"]["gcn"]
    import argparse

    parser = argparse.ArgumentParser()
    recipe.add_arguments(parser)
    with pytest.raises(UserError, match="needs --features"):
        recipe.apply_arguments(recipe.default_config(), parser.parse_args(["--data", str(tmp_path / "e.csv")]))
    with pytest.raises(UserError, match="--fanouts"):
        recipe.apply_arguments(recipe.default_config(), parser.parse_args(["--fanouts", "25,x"]))


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside this Python")
@pytest.mark.parametrize("arch, options", [("gcn", []), ("sage", ["--fanouts", "4,3"])])
def test_two_ranks_split_by_seed_nodes_train_like_one_process(tmp_path, arch, options):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    train(tmp_path / "one", "--arch", arch, *options, "--set", "train.grad_accum=2", env=env)
    proc = subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "archlab", "train", "gnn",
                           "--arch", arch, *options, *SMALL, "--out", str(tmp_path / "two")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = [json.loads(line)["loss"] for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    two = [json.loads(line)["loss"] for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert len(one) == 4 and one == pytest.approx(two, rel=1e-5, abs=1e-6)
    a = load_file(tmp_path / "one" / "final" / "model.safetensors")
    b = load_file(tmp_path / "two" / "final" / "model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch, options, task", [("sage", ["--fanouts", "5,3"], "node"),
                                                 ("gin", ["--data", "wl"], "graph")])
def test_the_command_line_takes_model_for_arch(tmp_path, arch, options, task):
    train(tmp_path / "run", "--model", arch, *options)
    config = json.loads((tmp_path / "run" / "final" / "config.json").read_text())["config"]
    assert config["conv"] == arch and config["task"] == task
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 4


def test_fanouts_must_match_the_layers_and_node_tasks():
    import argparse

    recipe = RECIPES["gnn"]["sage"]
    parser = argparse.ArgumentParser()
    recipe.add_arguments(parser)
    for options, fragment in [(["--fanouts", "5"], "samples 1 hop.* for a model of 2 layers"),
                              (["--fanouts", "5,3", "--data", "wl"], "graph classification")]:
        config = recipe.apply_arguments(recipe.default_config(), parser.parse_args(options))
        with pytest.raises(UserError, match=fragment):
            recipe.build_task(config)
