import pytest
import torch

from archlab.core.io import load_pretrained
from archlab.vision import (ConvNeXt, ConvNeXtConfig, LeNet5, LeNetConfig, PlainCNN, PlainCNNConfig, ResNet,
                            ResNetConfig, ViT, ViTConfig, convnext_config, interpolate_positions, resnet_config,
                            vit_config)
from archlab.vision.layers import DropPath


def _params(model):
    return sum(p.numel() for p in model.parameters())


def tiny_models():
    return [
        LeNet5(LeNetConfig(image_size=8, padding=2)),
        PlainCNN(PlainCNNConfig(in_channels=1, widths=(8, 16), depths=(2, 3))),
        PlainCNN(PlainCNNConfig(in_channels=1, widths=(8, 16), depths=(1, 1), downsample="stride", batch_norm=False)),
        ResNet(ResNetConfig(in_channels=1, num_classes=10, stem="small", stem_width=8, widths=(8, 16), depths=(1, 2))),
        ResNet(ResNetConfig(in_channels=1, num_classes=10, block="bottleneck", stem_width=8, widths=(16, 32),
                            depths=(1, 1))),
        ConvNeXt(ConvNeXtConfig(in_channels=1, num_classes=10, widths=(8, 16), depths=(1, 1), stem_patch=2,
                                drop_path=0.2)),
        ViT(ViTConfig(image_size=8, patch_size=2, in_channels=1, d_model=16, n_layers=2, n_heads=2, d_ff=32,
                      num_classes=10)),
    ]


@pytest.mark.parametrize("model", tiny_models(), ids=lambda m: type(m).__name__)
def test_classifiers_share_forward_features_and_forward_head(model, tmp_path):
    torch.manual_seed(0)
    x = torch.rand(3, 1, 8, 8)
    model.eval()
    features = model.forward_features(x)
    assert features.dim() == 2 and features.shape[0] == 3
    logits = model(x)
    assert logits.shape == (3, 10)
    torch.testing.assert_close(logits, model.forward_head(features))
    model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded(x), logits)


def test_pinned_parameter_counts_of_the_presets():
    with torch.device("meta"):
        assert _params(LeNet5(LeNetConfig())) == 61_706  # LeNet-5 at 32x32, C3 fully connected
        assert _params(ResNet(resnet_config("resnet18"))) == 11_689_512  # torchvision's resnet18
        assert _params(ResNet(resnet_config("resnet50"))) == 25_557_032
        assert _params(ConvNeXt(convnext_config("tiny"))) == 28_589_128  # Liu et al. Table: 28M
        assert _params(ViT(vit_config("base"))) == 86_567_656  # ViT-B/16, 86M


def test_a_headless_model_returns_its_features():
    model = ResNet(ResNetConfig(in_channels=1, num_classes=0, stem="small", stem_width=4, widths=(4, 8),
                                depths=(1, 1))).eval()
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(model(x), model.forward_features(x))
    assert model(x).shape == (2, 8)


def test_resnet_stage_resolutions_and_projection_shortcuts():
    model = ResNet(resnet_config("resnet18", num_classes=3))
    assert isinstance(model.stages[0][0].shortcut, torch.nn.Identity)  # 64 -> 64, stride 1
    assert model.stages[1][0].shortcut.conv.stride == (2, 2)
    assert model.forward_hidden(torch.rand(1, 3, 64, 64)).shape == (1, 512, 2, 2)  # /32


@pytest.mark.parametrize("positions", ["learned", "sincos2d", "rope2d"])
@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_vit_positions_make_the_output_depend_on_where_patches_are(positions, pooling):
    """Without positions a ViT is blind to a permutation of its patches; each kind of position breaks that."""
    torch.manual_seed(0)
    model = ViT(ViTConfig(image_size=8, patch_size=4, in_channels=1, d_model=16, n_layers=2, n_heads=2, d_ff=32,
                          num_classes=4, positions=positions, pooling=pooling)).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.3)
    x = torch.rand(1, 1, 8, 8)
    swapped = x.clone()
    swapped[..., :4, :4], swapped[..., 4:, 4:] = x[..., 4:, 4:], x[..., :4, :4]  # exchange two patches
    assert (model(x) - model(swapped)).abs().max() > 1e-2
    if positions == "learned":  # with the table zeroed, the same model cannot tell the two apart
        with torch.no_grad():
            model.pos_embed.zero_()
        torch.testing.assert_close(model(x), model(swapped), atol=1e-5, rtol=1e-5)


def test_vit_attention_maps_are_distributions_and_leave_the_output_unchanged():
    torch.manual_seed(0)
    model = ViT(ViTConfig(image_size=8, patch_size=2, in_channels=1, d_model=16, n_layers=3, n_heads=2, d_ff=32,
                          num_classes=4, positions="rope2d")).eval()
    x = torch.rand(2, 1, 8, 8)
    maps = model.attention_maps(x)
    assert maps.shape == (2, 3, 2, 17, 17)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 3, 2, 17))
    torch.testing.assert_close(model.encode(x, return_attention=True).last_hidden_state, model.forward_hidden(x),
                               atol=1e-5, rtol=1e-5)
    assert model.encode(x).attentions is None


def test_position_interpolation_keeps_the_class_entry_and_is_the_identity_at_the_same_grid():
    table = torch.randn(1, 1 + 16, 8)
    assert interpolate_positions(table, 1, (4, 4), (4, 4)) is table
    bigger = interpolate_positions(table, 1, (4, 4), (6, 8))
    assert bigger.shape == (1, 1 + 48, 8)
    torch.testing.assert_close(bigger[:, 0], table[:, 0])
    constant = torch.ones(1, 16, 8)  # a constant grid stays constant
    torch.testing.assert_close(interpolate_positions(constant, 0, (4, 4), (7, 5)), torch.ones(1, 35, 8))


def test_vit_resize_image_makes_the_new_size_native():
    torch.manual_seed(0)
    model = ViT(ViTConfig(image_size=8, patch_size=2, in_channels=1, d_model=16, n_layers=1, n_heads=2, d_ff=32,
                          num_classes=4)).eval()
    x = torch.rand(2, 1, 12, 12)
    before = model(x)  # interpolated on the fly
    model.resize_image(12)
    assert model.config.image_size == 12 and model.pos_embed.shape == (1, 1 + 36, 16)
    torch.testing.assert_close(model(x), before)


def test_drop_path_drops_whole_samples_in_training_only():
    torch.manual_seed(0)
    layer = DropPath(0.5)
    x = torch.ones(1000, 3, 2, 2)
    y = layer(x)
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert (per_sample.min(1).values == per_sample.max(1).values).all()  # a sample is kept or dropped whole
    assert abs(y.mean().item() - 1.0) < 0.1
    layer.eval()
    assert torch.equal(layer(x), x)


@pytest.mark.parametrize("make,match", [
    (lambda: ViTConfig(image_size=10, patch_size=4), "image_size=10 must be divisible by patch_size=4"),
    (lambda: ViTConfig(d_model=30, n_heads=4), "d_model=30 must be divisible by n_heads=4"),
    (lambda: ViTConfig(d_model=24, n_heads=4, positions="rope2d"), "head dim d_model/n_heads=6"),
    (lambda: ViTConfig(pooling="max"), "pooling='max' is not one of 'cls', 'mean'"),
    (lambda: ResNetConfig(block="wide"), "block='wide'"),
    (lambda: ResNetConfig(block="bottleneck", widths=(10,), depths=(1,)), r"widths\[0\]=10 must be divisible"),
    (lambda: ConvNeXtConfig(widths=(8, 16), depths=(1,)), "equal length"),
    (lambda: ConvNeXtConfig(drop_path=1.0), "drop_path=1.0"),
    (lambda: LeNetConfig(image_size=8), "too small for LeNet-5"),
    (lambda: PlainCNNConfig(depths=(0, 1, 1, 1)), r"depths\[0\]=0 must be >= 1"),
    (lambda: resnet_config("resnet7"), "resnet preset 'resnet7'"),
])
def test_bad_configs_name_the_field_and_the_rule(make, match):
    with pytest.raises(ValueError, match=match):
        make()
