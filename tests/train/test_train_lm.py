"""``archlab train lm`` and ``archlab sample lm``: outputs, metrics, the final model, sampling and user errors."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys

import pytest
import torch

from archlab.cli import main
from archlab.train.progress import read_metrics
from archlab.transformer.lm import DecoderLM, gpt2_config

TINY = [
    "--set", "model.d_model=32", "--set", "model.n_layers=1", "--set", "model.n_heads=2",
    "--set", "model.max_seq_len=64", "--set", "data.context=16", "--set", "train.batch_size=4",
    "--set", "train.eval_batches=2", "--set", "optim.warmup_steps=2", "--set", "train.log_every=1",
    "--set", "train.eval_every=3", "--set", "train.checkpoint_every=3", "--quiet",
]


def write_corpus(path):
    lines = [f"def f{i}(x):\n    return x * {i} + {i % 7}  # the quick brown fox {i}\n" for i in range(120)]
    path.write_text("".join(lines))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny GPT-2 run of 6 steps, shared by the tests that read its outputs."""
    root = tmp_path_factory.mktemp("lm")
    data = write_corpus(root / "corpus.txt")
    out = root / "run"
    assert main(["train", "lm", "--data", str(data), "--steps", "6", "--seed", "3", "--out", str(out), *TINY]) == 0
    return out


def test_outputs_of_a_run(run):
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000003", "step-0000006"]
    assert {p.name for p in (run / "final").iterdir()} >= {"config.json", "model.safetensors", "run_config.json"}
    config = json.loads((run / "run_config.json").read_text())
    assert config["model"]["d_model"] == 32 and config["train"]["seed"] == 3 and config["train"]["steps"] == 6
    assert config["data"]["path"].endswith("corpus.txt")


def test_metrics_jsonl(run):
    records = read_metrics(run)
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    for r in records:
        assert {"loss", "lr", "tokens_per_s", "grad_norm"} <= r.keys()
        assert math.isfinite(r["loss"]) and r["tokens_per_s"] > 0
    evals = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in evals] == [3, 6]
    for r in evals:
        assert r["val_bpb"] == pytest.approx(r["val_loss"] / math.log(2))
    assert records[0]["loss"] == pytest.approx(math.log(256), abs=0.3)  # an untrained byte model is near uniform


def test_final_model_loads_with_from_pretrained(run):
    final = DecoderLM.from_pretrained(run / "final")
    last = DecoderLM.from_pretrained(run / "checkpoints" / "step-0000006")  # checkpoints load the same way
    assert final.config.d_model == 32 and final.config.n_layers == 1
    ids = torch.randint(0, 256, (2, 10), generator=torch.Generator().manual_seed(0))
    final.eval(), last.eval()
    assert torch.equal(final(ids).logits, last(ids).logits)


@pytest.mark.parametrize("where", ["final", "checkpoints/step-0000003", "."])
def test_sample_produces_text(run, where, capsys):
    args = ["sample", "lm", "--ckpt", str(run / where), "--prompt", "def ", "--tokens", "24", "--seed", "1"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert text.startswith("def ") and len(text) > 10
    assert main(args) == 0
    assert capsys.readouterr().out == text  # the same seed gives the same sample


def test_llama_arch_trains(tmp_path):
    data = write_corpus(tmp_path / "c.txt")
    out = tmp_path / "llama"
    assert main(["train", "lm", "--arch", "llama", "--data", str(data), "--steps", "2", "--out", str(out),
                 *TINY, "--set", "train.checkpoint_every=0"]) == 0
    saved = json.loads((out / "final" / "config.json").read_text())["config"]
    assert saved["position"] == "rope" and saved["norm"] == "rmsnorm" and saved["mlp"] == "swiglu"


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("archlab: error: ") and "Traceback" not in err[0]
    return err[0]


def test_user_errors_are_one_line_and_exit_2(run, tmp_path, capsys):
    data = str(run.parent / "corpus.txt")
    train = ["train", "lm", "--data", data, "--steps", "2", "--out", str(tmp_path / "x"), *TINY]
    assert main(["train", "lm", "--data", str(tmp_path / "missing.txt"), *TINY]) == 2
    assert "missing.txt" in _error_line(capsys) 
    assert main([*train, "--set", "optim.learning_rate=1"]) == 2
    assert "optim.lr" in _error_line(capsys)
    assert main([*train, "--set", "train.steps=many"]) == 2
    assert "'many' is not an integer" in _error_line(capsys)
    assert main([*train, "--set", "data.context=128"]) == 2
    assert "max_seq_len" in _error_line(capsys)
    assert main([*train, "--set", "train.context=16"]) == 2
    assert "'train.context' has moved to 'data.context'" in _error_line(capsys)
    assert main(["sample", "lm", "--ckpt", str(tmp_path / "nothing"), "--prompt", "x"]) == 2
    assert "does not exist" in _error_line(capsys)
    # a corrupt checkpoint: for sampling and for resuming
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    step = broken / "checkpoints" / "step-0000006"
    (step / "model.safetensors").write_bytes((step / "model.safetensors").read_bytes()[:100])
    assert main(["sample", "lm", "--ckpt", str(step), "--prompt", "x"]) == 2
    assert "incomplete or corrupt" in _error_line(capsys)
    assert main(["train", "lm", "--data", data, "--steps", "6", "--seed", "3", "--out", str(broken), *TINY,
                 "--resume", str(step)]) == 2
    assert "incomplete or corrupt" in _error_line(capsys)
    assert main(["train", "lm", "--data", data, "--steps", "6", "--seed", "3", "--out", str(broken), *TINY,
                 "--set", "model.n_layers=2", "--resume"]) == 2
    assert "model.n_layers" in _error_line(capsys)  # step-0000003 is picked, and its model differs
    final = broken / "final"
    (final / "model.safetensors").write_bytes(b"not safetensors")
    assert main(["sample", "lm", "--ckpt", str(final), "--prompt", "x"]) == 2
    assert "could not be loaded" in _error_line(capsys)


def test_the_installed_command_prints_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "archlab", "train", "lm", "--data", str(tmp_path / "no.txt")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"archlab: error: --data {str(tmp_path / 'no.txt')!r} does not exist; "
        "pass a text file or a folder of text files"]


def test_a_diverging_run_stops_with_one_line_naming_the_step(run, tmp_path, capsys):
    from archlab.train.checkpoint import latest_checkpoint, read_trainer_state

    out = tmp_path / "diverge"
    args = ["train", "lm", "--data", str(run.parent / "corpus.txt"), "--steps", "6", "--out", str(out), *TINY,
            "--set", "optim.lr=1e30", "--set", "optim.warmup_steps=0", "--set", "train.checkpoint_every=1"]
    assert main(args) == 2
    line = _error_line(capsys)
    step = int(re.search(r"loss is nan at step (\d+)", line).group(1))
    assert 1 < step <= 6
    last = latest_checkpoint(out / "checkpoints")
    assert last.name == f"step-{step - 1:07d}" and str(last) in line
    assert read_trainer_state(last)["step"] == step - 1
    assert not (out / "final").exists()


@pytest.mark.parametrize("options, fragment", [
    (["--temperature", "inf"], "temperature=inf must be a finite number"),
    (["--temperature", "nan"], "temperature=nan must be a finite number"),
    (["--top-k", "2.5"], "--top-k: invalid int value: '2.5'"),
    (["--prompt", ""], "--prompt must not be empty"),
])
def test_sample_refuses_a_non_finite_temperature_a_non_integer_top_k_and_an_empty_prompt(tmp_path, capsys,
                                                                                         options, fragment):
    torch.manual_seed(0)
    DecoderLM(gpt2_config(vocab_size=256, max_seq_len=32, d_model=16, n_layers=1, n_heads=2)).save_pretrained(tmp_path)
    argv = ["sample", "lm", "--ckpt", str(tmp_path), "--prompt", "ab", "--tokens", "3", *options]
    try:
        code = main(argv)
    except SystemExit as exit_info:  # argparse's own refusals
        code = exit_info.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and fragment in err
