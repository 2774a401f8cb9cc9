"""The latent autoencoder: compression, round trip, the posterior's KL against the closed form, the latent
scaling, and parity with diffusers' ``AutoencoderKL`` across configs."""

import pytest
import torch

from archlab.diffusion.autoencoder import AutoencoderConfig, LatentAutoencoder, Posterior
from archlab.interop import from_diffusers

diffusers = pytest.importorskip("diffusers")


def test_it_compresses_by_f_per_side_and_decodes_back_to_the_image_shape():
    model = LatentAutoencoder(AutoencoderConfig(in_channels=1, widths=(8, 16, 16), latent_channels=3, norm_groups=4))
    assert model.config.compression == 4
    x = torch.randn(2, 1, 16, 16)
    posterior = model.encode(x)
    assert posterior.mean.shape == posterior.logvar.shape == (2, 3, 4, 4)
    assert model.decode(posterior.sample(torch.Generator().manual_seed(0))).shape == (2, 1, 16, 16)
    with pytest.raises(ValueError, match="compression 4"):
        model.encode(torch.randn(2, 1, 10, 10))


def test_the_kl_is_the_closed_form_and_scaling_round_trips():
    mean, logvar = torch.randn(2, 3, 2, 2), torch.randn(2, 3, 2, 2)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(mean, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0)).flatten(1).sum(1)
    torch.testing.assert_close(Posterior(mean, logvar).kl(), expected)
    model = LatentAutoencoder(AutoencoderConfig(widths=(8, 8), norm_groups=4, scaling_factor=0.5, shift_factor=0.2))
    x = torch.randn(1, 1, 8, 8)
    latents = model.to_latent(x)
    torch.testing.assert_close(latents, (model.encode(x).mean - 0.2) * 0.5)
    torch.testing.assert_close(model.from_latent(latents), model(x))


def test_a_few_steps_of_training_lower_the_reconstruction_loss():
    torch.manual_seed(0)
    model = LatentAutoencoder(AutoencoderConfig(widths=(8, 8), norm_groups=4, latent_channels=2))
    x = torch.rand(8, 1, 8, 8)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    first = model.loss(x, generator=generator).item()
    for _ in range(30):
        optimizer.zero_grad()
        model.loss(x, generator=generator).backward()
        optimizer.step()
    assert model.loss(x, generator=generator).item() < 0.5 * first


CONFIGS = [
    dict(in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1, latent_channels=2,
         norm_num_groups=4, down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2),
    dict(in_channels=3, out_channels=3, block_out_channels=(8, 8, 16), layers_per_block=2, latent_channels=4,
         norm_num_groups=8, down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
         scaling_factor=0.3, shift_factor=0.1),
    dict(in_channels=2, out_channels=1, block_out_channels=(16,), layers_per_block=1, latent_channels=1,
         norm_num_groups=2, mid_block_add_attention=False, use_quant_conv=False, use_post_quant_conv=False),
]


@pytest.mark.parametrize("config", CONFIGS, ids=range(len(CONFIGS)))
def test_the_converted_autoencoder_returns_the_reference_posterior_mean_and_decoding(config):
    torch.manual_seed(0)
    reference = diffusers.AutoencoderKL(**config).eval()
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    model = from_diffusers(reference)
    x = torch.randn(2, config["in_channels"], 8, 8)
    with torch.no_grad():
        mean = reference.encode(x).latent_dist.mean
        torch.testing.assert_close(model.encode(x).mean, mean, rtol=0, atol=1e-4)
        torch.testing.assert_close(model.decode(mean), reference.decode(mean).sample, rtol=0, atol=1e-4)
        torch.testing.assert_close(model(x), reference(x).sample, rtol=0, atol=1e-4)
    assert model.config.scaling_factor == config.get("scaling_factor", 0.18215)


@pytest.mark.parametrize("option,value", [("act_fn", "gelu"), ("latents_mean", (0.0, 0.0)),
                                          ("down_block_types", ("DownBlock2D", "DownEncoderBlock2D"))])
def test_options_archlab_does_not_build_are_refused_by_name(option, value):
    config = dict(CONFIGS[0], **{option: value})
    try:
        reference = diffusers.AutoencoderKL(**config)
    except Exception:
        pytest.skip(f"diffusers cannot build {option}={value!r} here")
    with pytest.raises(ValueError, match=option):
        from_diffusers(reference)
