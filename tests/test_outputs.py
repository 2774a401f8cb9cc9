"""Every command checks its output folder before any work; an ``OSError`` reaching ``main`` is one line."""

from __future__ import annotations

import os

import pytest

import archlab.bench.registry
from archlab.cli import main
from archlab.errors import UserError
from archlab.lab.testing import DEMO_FAMILIES, isolated_registry, register_demo_claims
from archlab.outputs import check_output_dir


def _bad_outputs(tmp_path):
    """An existing file, a path under a file: each unusable as an output folder."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    return {"is a file": afile, "which is a file": afile / "sub" / "dir"}


def test_check_output_dir_accepts_a_new_folder_and_refuses_what_cannot_hold_one(tmp_path, monkeypatch):
    assert check_output_dir(tmp_path / "new" / "deep") == tmp_path / "new" / "deep"
    for fragment, path in _bad_outputs(tmp_path).items():
        with pytest.raises(UserError, match=fragment):
            check_output_dir(path)
    with pytest.raises(UserError, match="empty"):
        check_output_dir("")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
    with pytest.raises(UserError, match="read-only"):
        check_output_dir(tmp_path / "new")


@pytest.mark.parametrize("command", [
    ["run", "demo.noise-mean"],
    ["atlas"],
    ["bench", "lm-train", "--size", "tiny", "--repeats", "1"],
    ["train", "lm", "--data", "missing.txt"],
    ["sample", "diffusion", "--ckpt", "missing"],
])
def test_every_command_refuses_a_bad_out_before_any_work(command, tmp_path, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the work started before --out was checked")

    monkeypatch.setattr(archlab.bench.registry, "run_benchmark", never)
    with isolated_registry(DEMO_FAMILIES):
        register_demo_claims()
        for fragment, path in _bad_outputs(tmp_path).items():
            assert main([*command, "--out", str(path)]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and err.startswith("archlab: error: --out") and fragment in err


def test_an_os_error_reaching_main_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archlab.bench.registry, "run_benchmark", full_disk)
    assert main(["bench", "lm-train", "--size", "tiny", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err
