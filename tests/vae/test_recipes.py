"""``archlab train vae`` / ``archlab sample vae`` end to end on tiny settings, and the recipe's option checks."""

import json

import pytest

from archlab.cli import main

TINY = ["--quiet", "--set", "model.hidden_dim=16", "--set", "model.channels=4", "--set", "train.batch_size=16",
        "--set", "train.eval_every=0", "--set", "train.checkpoint_every=0", "--set", "train.log_every=1"]


@pytest.mark.parametrize("arch, data", [("mlp", "ring8"), ("conv", "digits")])
def test_train_then_sample_writes_a_png(tmp_path, arch, data):
    out = tmp_path / "run"
    assert main(["train", "vae", "--arch", arch, "--data", data, "--steps", "3", "--out", str(out), *TINY]) == 0
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert {"reconstruction", "kl", "kl_weight", "active_units"} <= set(record)
    png = tmp_path / "samples.png"
    assert main(["sample", "vae", "--ckpt", str(out), "--n", "9", "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((out / "final" / "config.json").read_text())["config"]
    assert saved["likelihood"] == ("gaussian" if data == "ring8" else "bernoulli")


def test_conv_on_points_is_refused(tmp_path, capsys):
    assert main(["train", "vae", "--arch", "conv", "--data", "ring8", "--out", str(tmp_path), *TINY]) == 2
    assert "--arch conv needs images" in capsys.readouterr().err
