"""``archlab train diffusion`` / ``archlab sample diffusion``: a tiny run end to end, and bad input as one line."""

import numpy as np
import pytest

from archlab.cli import main


def one_line_error(stderr, *fragments):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in stderr, stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("diffusion") / "run"
    assert main(["train", "diffusion", "--data", "ring8", "--cond", "class", "--steps", "6", "--quiet",
                 "--set", "model.d_hidden=16", "--set", "train.batch_size=32", "--set", "train.eval_every=0",
                 "--set", "train.checkpoint_every=0", "--out", str(out)]) == 0
    return out


def test_train_writes_the_model_and_its_ema(run_dir):
    assert (run_dir / "final" / "config.json").is_file()
    assert (run_dir / "final" / "ema" / "config.json").is_file()


@pytest.mark.parametrize("sampler,steps,extra", [("ddim", 5, ["--guidance", "3", "--trajectory"]),
                                                 ("heun", 3, []), ("dpm++", 4, ["--weights", "raw"])])
def test_sample_writes_png_and_npy(run_dir, tmp_path, capsys, sampler, steps, extra):
    out = tmp_path / "samples"
    assert main(["sample", "diffusion", "--ckpt", str(run_dir), "--n", "50", "--sampler", sampler,
                 "--steps", str(steps), "--out", str(out), *extra]) == 0
    assert capsys.readouterr().out.strip() == str(out / "samples.png")
    assert np.load(out / "samples.npy").shape == (50, 2) and (out / "samples.png").stat().st_size > 0
    if "--trajectory" in extra:
        assert np.load(out / "trajectory.npy").shape == (steps + 1, 50, 2) and (out / "trajectory.png").is_file()


def test_flow_training_samples_with_the_flow_sampler(tmp_path, capsys):
    out = tmp_path / "flow"
    assert main(["train", "diffusion", "--data", "moons", "--prediction", "flow", "--steps", "3", "--quiet",
                 "--set", "model.d_hidden=16", "--set", "train.batch_size=16", "--set", "train.eval_every=0",
                 "--out", str(out)]) == 0
    assert main(["sample", "diffusion", "--ckpt", str(out), "--n", "20", "--steps", "4",
                 "--out", str(tmp_path / "s")]) == 0
    capsys.readouterr()
    assert main(["sample", "diffusion", "--ckpt", str(out), "--sampler", "ddim", "--out", str(tmp_path / "s")]) == 2
    one_line_error(capsys.readouterr().err, "sampler='ddim'", "flow")


def test_bad_sample_input_is_one_line_exit_2(run_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "diffusion", "--ckpt", str(run_dir), "--sampler", "plms"])
    assert exit_info.value.code == 2
    one_line_error(capsys.readouterr().err, "invalid choice: 'plms'")
    assert main(["sample", "diffusion", "--ckpt", str(run_dir), "--steps", "0", "--out", str(tmp_path)]) == 2
    one_line_error(capsys.readouterr().err, "--steps 0 must be >= 1")
    assert main(["sample", "diffusion", "--ckpt", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    one_line_error(capsys.readouterr().err, "does not exist")


def test_guidance_on_an_unconditional_model_is_refused(tmp_path, capsys):
    out = tmp_path / "plain"
    assert main(["train", "diffusion", "--steps", "2", "--quiet", "--set", "model.d_hidden=16",
                 "--set", "train.batch_size=16", "--set", "train.eval_every=0", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["sample", "diffusion", "--ckpt", str(out), "--guidance", "2", "--out", str(tmp_path / "s")]) == 2
    one_line_error(capsys.readouterr().err, "--guidance needs a class-conditional model")
