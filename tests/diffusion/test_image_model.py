"""Image diffusion: the U-Net and DiT denoisers trained on the digits through the one trainer, and the
``archlab train / sample diffusion --data digits`` command line."""

import json

import numpy as np
import pytest
import torch

from archlab.cli import main
from archlab.diffusion.image_model import ImageDenoiser, ImageDenoiserConfig, ImageDiffusionTask, digit_images
from archlab.lab.experiment import quick_fit


def test_digits_are_resized_to_the_model_size_in_minus_one_to_one():
    images, labels = digit_images(16)
    assert images.shape[1:] == (1, 16, 16) and labels.shape == images.shape[:1]
    assert images.min() >= -1 and images.max() <= 1 and images.min() < -0.9 and images.max() > 0.9


@pytest.mark.parametrize("denoiser", ["unet", "dit"])
def test_training_lowers_the_denoising_loss_and_sampling_gives_images(denoiser):
    torch.manual_seed(0)
    model = ImageDenoiser(ImageDenoiserConfig(denoiser=denoiser, width=16, dit_layers=1, n_classes=10))
    task = ImageDiffusionTask(model, batch_size=16, seed=0, eval_size=64)
    with torch.no_grad():
        before = model.loss(task.held_out()).item()
    quick_fit(task, steps=40, lr=2e-3, batch_size=16, seed=0)
    with torch.no_grad():
        after = model.loss(task.held_out()).item()
    assert after < 0.7 * before
    out = model.sample(3, torch.Generator().manual_seed(0), steps=4, labels=torch.tensor([1, 2, 3]), guidance=1.0)
    assert out.sample.shape == (3, 1, 16, 16) and torch.isfinite(out.sample).all()


def test_the_command_line_trains_and_samples_a_digit_grid(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "diffusion", "--data", "digits", "--denoiser", "dit", "--cond", "class", "--steps", "3",
                 "--set", "model.width=16", "--set", "model.dit_layers=1", "--set", "train.batch_size=4", "--set", "data.eval_size=8",
                 "--out", str(run)]) == 0
    assert json.loads((run / "final" / "config.json").read_text())["config"]["denoiser"] == "dit"
    out = tmp_path / "samples"
    assert main(["sample", "diffusion", "--ckpt", str(run), "--n", "4", "--steps", "2", "--guidance", "2",
                 "--trajectory", "--out", str(out)]) == 0
    assert np.load(out / "samples.npy").shape == (4, 1, 16, 16)
    assert (out / "samples.png").stat().st_size > 0 and (out / "trajectory.png").stat().st_size > 0


def test_a_denoiser_that_does_not_fit_the_data_is_one_line(tmp_path, capsys):
    assert main(["train", "diffusion", "--data", "digits", "--denoiser", "mlp", "--out", str(tmp_path / "r")]) == 2
    assert "--denoiser mlp does not fit --data digits" in capsys.readouterr().err
