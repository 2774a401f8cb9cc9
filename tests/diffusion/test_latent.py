"""Latent diffusion at toy size: the autoencoder trained first through the loop, the denoiser on its scaled
latents, sampling that decodes, the checkpoint round trip and the command line; and the claim's rule and FLOP count."""

import json

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from archlab.cli import main
from archlab.diffusion.autoencoder import AutoencoderConfig, LatentAutoencoder
from archlab.diffusion.image_model import ImageDenoiser, ImageDenoiserConfig, ImageDiffusionTask, digit_images
from archlab.diffusion.latent import AutoencoderTask, train_autoencoder
from archlab.diffusion.latent_claim import config, latent_rule, step_flops
from archlab.lab.experiment import quick_fit


def _latent(compression: int = 2, denoiser: str = "dit") -> ImageDenoiser:
    torch.manual_seed(0)
    return ImageDenoiser(ImageDenoiserConfig(denoiser=denoiser, width=16, dit_layers=1, patch_size=2,
                                             latent_compression=compression, autoencoder_width=8,
                                             autoencoder_steps=8))


def test_the_autoencoder_task_lowers_the_reconstruction_loss():
    torch.manual_seed(0)
    images = digit_images(16)[0][:64]
    model = LatentAutoencoder(AutoencoderConfig(widths=(8, 16)))
    task = AutoencoderTask(model, images, batch_size=16, seed=0, eval_size=32)
    with torch.no_grad():
        before = task.loss(task.held_out()).item()
    quick_fit(task, steps=30, lr=5e-3, batch_size=16, seed=0)
    with torch.no_grad():
        assert task.loss(task.held_out()).item() < 0.5 * before


def test_train_autoencoder_freezes_it_and_returns_the_latents_mean_and_inverse_std():
    torch.manual_seed(0)
    images = digit_images(16)[0][:64]
    model = LatentAutoencoder(AutoencoderConfig(widths=(8, 16)))
    shift, scale = train_autoencoder(model, images, steps=3, seed=0)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        mean = model.encode(images).mean
    assert shift == pytest.approx(float(mean.mean()), rel=1e-5)
    assert scale == pytest.approx(1 / float(mean.std()), rel=1e-5)


@pytest.mark.parametrize("compression,side", [(2, 8), (4, 4)])
def test_the_denoiser_trains_on_unit_scale_latents_and_samples_decoded_images(compression, side):
    model = _latent(compression)
    task = ImageDiffusionTask(model, batch_size=8, seed=0, eval_size=16)
    assert bool(model.prepared) and task.images.shape[1:] == (4, side, side)
    assert float(task.images.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(task.images.std()) == pytest.approx(1.0, abs=1e-3)
    assert model.sample_shape(5) == (5, 4, side, side)
    ae_before = {k: v.clone() for k, v in model.autoencoder.state_dict().items()}
    with torch.no_grad():
        before = model.loss(task.held_out()).item()
    quick_fit(task, steps=30, lr=3e-3, batch_size=8, seed=0)
    with torch.no_grad():
        assert model.loss(task.held_out()).item() < before
    assert all(torch.equal(v, model.autoencoder.state_dict()[k]) for k, v in ae_before.items())  # stays frozen
    out = model.eval().sample(3, torch.Generator().manual_seed(0), steps=3, keep_trajectory=True)
    assert out.sample.shape == (3, 1, 16, 16) and torch.isfinite(out.sample).all()
    assert [x.shape for x in out.trajectory] == [(3, 1, 16, 16)] * 4  # the path is decoded too


def test_from_latent_inverts_the_scaling_before_decoding():
    model = _latent()
    ImageDiffusionTask(model, batch_size=4, seed=0, eval_size=4)
    images = digit_images(16)[0][:5]
    with torch.no_grad():
        direct = model.autoencoder.decode(model.autoencoder.encode(images).mean)
    assert torch.allclose(model.from_latent(model.to_latent(images)), direct, atol=1e-5)
    assert float(model.latent_scale) != 1.0  # the scale was measured, not left at its default


def test_a_saved_latent_model_samples_the_same_and_is_not_retrained(tmp_path):
    model = _latent().eval()
    ImageDiffusionTask(model, batch_size=4, seed=0, eval_size=4)
    model.save_pretrained(tmp_path / "m")
    loaded = ImageDenoiser.from_pretrained(tmp_path / "m").eval()
    first = model.sample(2, torch.Generator().manual_seed(1), steps=2).sample
    assert torch.allclose(loaded.sample(2, torch.Generator().manual_seed(1), steps=2).sample, first, atol=1e-6)
    weights = {k: v.clone() for k, v in loaded.autoencoder.state_dict().items()}
    ImageDiffusionTask(loaded, batch_size=4, seed=3, eval_size=4)
    assert all(torch.equal(v, loaded.autoencoder.state_dict()[k]) for k, v in weights.items())


def test_latent_settings_are_validated():
    with pytest.raises(ValueError, match="latent_compression=3"):
        ImageDenoiserConfig(latent_compression=3)
    with pytest.raises(ValueError, match="image_size=8 / latent_compression=4"):
        ImageDenoiserConfig(image_size=8, latent_compression=4)
    with pytest.raises(ValueError, match="autoencoder_width=12"):
        ImageDenoiserConfig(latent_compression=2, autoencoder_width=12)
    assert ImageDenoiserConfig(latent_compression=4).autoencoder().compression == 4


def test_the_command_line_trains_a_latent_model_and_samples_decoded_digits(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "diffusion", "--data", "digits", "--denoiser", "unet", "--latent", "--steps", "2",
                 "--set", "model.width=16", "--set", "model.autoencoder_width=8", "--set", "model.autoencoder_steps=2",
                 "--set", "train.batch_size=4", "--set", "data.eval_size=8", "--out", str(run)]) == 0
    assert json.loads((run / "final" / "config.json").read_text())["config"]["latent_compression"] == 2
    out = tmp_path / "samples"
    assert main(["sample", "diffusion", "--ckpt", str(run), "--n", "3", "--steps", "2", "--trajectory",
                 "--out", str(out)]) == 0
    assert np.load(out / "samples.npy").shape == (3, 1, 16, 16)
    assert np.load(out / "trajectory.npy").shape == (3, 3, 1, 16, 16)


def test_the_claims_rule_is_two_sided_on_flops_and_bounds_the_distance():
    assert latent_rule(4.0, 2, 15.0, 10.0)
    assert latent_rule(3.2, 2, 1.0, 10.0) and latent_rule(4.8, 2, 1.0, 10.0)
    assert not latent_rule(3.19, 2, 1.0, 10.0)
    assert not latent_rule(4.81, 2, 1.0, 10.0)
    assert not latent_rule(4.0, 2, 15.01, 10.0)
    assert latent_rule(16.0, 4, 1.0, 10.0) and not latent_rule(4.0, 4, 1.0, 10.0)


def test_step_flops_counts_the_cpu_attention_the_plain_counter_misses():
    network = config(1, 1).network()
    plain = FlopCounterMode(display=False)
    with plain, torch.no_grad():
        network(torch.zeros(1, 1, 16, 16), torch.zeros(1))
    # 3 blocks x 4 heads x (Q K^T and A V: 2 x 2 x 16 tokens x 16 tokens x 16 dims)
    assert step_flops(network, (1, 16, 16)) - plain.get_total_flops() == 3 * 4 * 2 * 2 * 16 * 16 * 16
