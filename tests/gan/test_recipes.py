"""``archlab train gan`` / ``archlab sample gan`` end to end, the generator's EMA, and a diverging GAN stopping
at its first non-finite loss with the last good checkpoint kept."""

import json

import pytest
import torch

from archlab.cli import main
from archlab.gan.model import GAN, GANConfig
from archlab.gan.task import GANTask
from archlab.train.config import OptimConfig, RunConfig, TrainConfig
from archlab.train.loop import NonFiniteLossError, fit

TINY = ["--quiet", "--set", "model.hidden_dim=16", "--set", "model.channels=4", "--set", "train.batch_size=16",
        "--set", "train.eval_every=0", "--set", "train.checkpoint_every=0", "--set", "train.log_every=1"]


def test_wgan_gp_on_the_ring_then_sample_the_averaged_generator(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "gan", "--arch", "mlp", "--data", "ring8", "--loss", "wgan-gp", "--steps", "3",
                 "--out", str(out), "--set", "train.ema_decay=0.9", *TINY]) == 0
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert {"d_real_discriminator", "d_fake_discriminator", "gradient_penalty_discriminator",
            "d_fake_generator"} <= set(record)
    config = json.loads((out / "final" / "run_config.json").read_text())
    assert config["model"]["n_critic"] == 5 and config["optim"]["betas"] == [0.0, 0.9]
    png = tmp_path / "ring.png"
    assert main(["sample", "gan", "--ckpt", str(out / "final" / "ema"), "--n", "50", "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_dcgan_on_digits(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "gan", "--arch", "dcgan", "--data", "digits", "--loss", "hinge", "--steps", "2",
                 "--out", str(out), *TINY]) == 0
    png = tmp_path / "digits.png"
    assert main(["sample", "gan", "--ckpt", str(out), "--n", "4", "--out", str(png)]) == 0
    assert png.stat().st_size > 0


def test_dcgan_on_points_is_refused(tmp_path, capsys):
    assert main(["train", "gan", "--arch", "dcgan", "--data", "ring8", "--out", str(tmp_path), *TINY]) == 2
    assert "--arch dcgan needs images" in capsys.readouterr().err


def test_a_diverging_gan_stops_naming_the_step_and_keeps_the_last_checkpoint(tmp_path):
    def real(n, g, calls=[0]):  # real data turn to NaN from the 5th draw on: the discriminator's loss diverges
        calls[0] += 1
        x = torch.randn(n, 2, generator=g)
        return x * float("nan") if calls[0] >= 5 else x

    torch.manual_seed(0)
    task = GANTask(GAN(GANConfig(hidden_dim=8)), real, batch_size=8, seed=0)
    config = RunConfig(optim=OptimConfig(name="adam", lr=1e-3, warmup_steps=0, weight_decay=0.0),
                       train=TrainConfig(steps=10, batch_size=8, eval_every=0, checkpoint_every=2, log_every=0,
                                         progress=False, device="cpu"))
    with pytest.raises(NonFiniteLossError, match="loss_discriminator is nan at step 5.*step-0000004"):
        fit(task, config, tmp_path)
    assert (tmp_path / "checkpoints" / "step-0000004").is_dir()
