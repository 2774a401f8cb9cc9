"""One run per output folder (an exclusive lock naming its holder) and no earlier run replaced silently."""

from __future__ import annotations

import subprocess
import sys

from test_train_lm import TINY, write_corpus

from archlab.cli import main
from archlab.train.progress import read_metrics

HOLD = """
import sys
from pathlib import Path
from archlab.train.run_folder import claim_run_folder
with claim_run_folder(Path(sys.argv[1]), outputs=(), resume=False, overwrite=False):
    print("held", flush=True)
    sys.stdin.read()
"""


def _train(data, out, *extra):
    return main(["train", "lm", "--data", str(data), "--steps", "2", "--out", str(out), *TINY,
                 "--set", "train.checkpoint_every=0", *extra])


def test_a_second_run_into_a_locked_folder_exits_2_naming_the_holder(tmp_path, capsys):
    data, out = write_corpus(tmp_path / "c.txt"), tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert _train(data, out) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "in use by another run" in err and f"process {holder.pid}" in err
        assert not (out / "metrics.jsonl").exists()
    finally:
        holder.communicate("")
    assert _train(data, out) == 0  # the holder is gone, and so is its lock


def test_a_new_run_never_replaces_an_earlier_one_without_overwrite(tmp_path, capsys):
    data, out = write_corpus(tmp_path / "c.txt"), tmp_path / "run"
    assert _train(data, out, "--seed", "1") == 0
    final = (out / "final" / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert _train(data, out, "--seed", "2") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds a run" in err and "--overwrite" in err
    assert (out / "final" / "model.safetensors").read_bytes() == final
    assert _train(data, out, "--seed", "2", "--overwrite") == 0
    assert (out / "final" / "model.safetensors").read_bytes() != final
    assert [r["step"] for r in read_metrics(out)] == [1, 2]


def test_an_empty_out_and_resume_with_overwrite_are_refused(tmp_path, capsys):
    data = write_corpus(tmp_path / "c.txt")
    assert _train(data, "") == 2
    assert "--out '' is empty" in capsys.readouterr().err
    assert _train(data, tmp_path / "run", "--resume", "--overwrite") == 2
    assert "pass one of them" in capsys.readouterr().err and not (tmp_path / "run").exists()
