"""The U-Net: skips and levels, class and cross-attention conditioning, and parity with diffusers'
``UNet2DModel`` across configs."""

import pytest
import torch

from archlab.diffusion.unet import UNet, UNetConfig
from archlab.interop import from_diffusers

diffusers = pytest.importorskip("diffusers")


def test_shapes_levels_and_conditioning_paths():
    torch.manual_seed(0)
    model = UNet(UNetConfig(in_channels=2, widths=(16, 32, 32), layers_per_block=1,
                            down_attention=(False, True, True), norm_groups=4, class_embeddings=4, d_context=6))
    x, t = torch.randn(2, 2, 8, 8), torch.tensor([3, 900])
    context = torch.randn(2, 5, 6)
    out = model(x, t, torch.tensor([0, 1]), context)
    assert out.shape == (2, 2, 8, 8)
    assert not torch.allclose(out, model(x, t, torch.tensor([2, 2]), context))  # the class reaches the output
    assert not torch.allclose(out, model(x, t, torch.tensor([0, 1]), torch.randn(2, 5, 6)))  # so does the context
    torch.testing.assert_close(model(x, t, None, context), model(x, t, torch.tensor([3, 3]), context))  # null class
    with pytest.raises(ValueError, match="context"):
        model(x, t, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="divisible by 4"):
        model(torch.randn(2, 2, 6, 6), t, None, context)
    with pytest.raises(ValueError, match="down_attention"):
        UNetConfig(widths=(16, 32), down_attention=(True,))


def test_every_skip_reaches_the_output():
    """Changing the input only where the top level sees it changes the output there: the top skip is wired."""
    torch.manual_seed(0)
    model = UNet(UNetConfig(widths=(8, 16), norm_groups=4, down_attention=(False, False)))
    grads = torch.autograd.grad(model(torch.randn(1, 1, 8, 8, requires_grad=True), 5).sum(),
                                [model.conv_in.weight, model.down[1].resnets[0].conv1.weight,
                                 model.up[1].resnets[1].conv1.weight])
    assert all(g.abs().sum() > 0 for g in grads)


CONFIGS = [
    dict(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
         down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
         norm_num_groups=4, attention_head_dim=4),
    dict(sample_size=8, in_channels=3, out_channels=2, block_out_channels=(8, 8, 16), layers_per_block=2,
         down_block_types=("AttnDownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
         up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"), norm_num_groups=2, attention_head_dim=None,
         num_class_embeds=5, resnet_time_scale_shift="scale_shift", freq_shift=1, flip_sin_to_cos=False,
         mid_block_scale_factor=1.414, attn_norm_num_groups=8, time_embedding_dim=24, norm_eps=1e-6),
    dict(sample_size=4, in_channels=2, out_channels=2, block_out_channels=(16, 8), layers_per_block=1,
         down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
         norm_num_groups=8, add_attention=False, downsample_padding=0, center_input_sample=True),
]


@pytest.mark.parametrize("config", CONFIGS, ids=range(len(CONFIGS)))
def test_the_converted_unet_returns_the_reference_sample(config):
    torch.manual_seed(0)
    reference = diffusers.UNet2DModel(**config).eval()
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    model = from_diffusers(reference)
    side = config["sample_size"]
    x, t = torch.randn(3, config["in_channels"], side, side), torch.tensor([0, 250, 999])
    labels = torch.tensor([0, 2, 4]) if config.get("num_class_embeds") else None
    with torch.no_grad():
        expected = reference(x, t, class_labels=labels).sample
        got = model(x, t, labels)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("option,value", [("time_embedding_type", "fourier"), ("class_embed_type", "timestep"),
                                          ("downsample_type", "resnet"), ("act_fn", "gelu"),
                                          ("down_block_types", ("SkipDownBlock2D", "AttnDownBlock2D"))])
def test_options_archlab_does_not_build_are_refused_by_name(option, value):
    config = dict(CONFIGS[0], **{option: value})
    if option == "class_embed_type":
        config["num_class_embeds"] = 3
    try:
        reference = diffusers.UNet2DModel(**config)
    except Exception:  # diffusers itself may not build every combination on this config
        pytest.skip(f"diffusers cannot build {option}={value!r} here")
    with pytest.raises(ValueError, match=option):
        from_diffusers(reference)
