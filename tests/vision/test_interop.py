"""Parity with Hugging Face transformers: the same weights, the same pixel_values, the primary output within
1e-4 in float32 (logits of *ForImageClassification, last_hidden_state of the base models), BatchNorm in eval."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from archlab.interop import from_transformers  # noqa: E402
from archlab.vision import ConvNeXt, ResNet, ViT  # noqa: E402
from archlab.vision.classifier import Backbone  # noqa: E402


def _randomise(model):
    """Non-trivial values everywhere: norms, layer scales, class token, BatchNorm statistics."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.2 if p.dim() > 1 else 0.5) + (1.0 if "norm" in name and
                    name.endswith("weight") else 0.0))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.3)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
    return model.eval()


def _check(reference, pixels, expected_type):
    ours = from_transformers(reference)
    assert isinstance(ours, expected_type)
    ours.eval()
    with torch.no_grad():
        out = reference(pixel_values=pixels)
        theirs = out.logits if hasattr(out, "logits") else out.last_hidden_state
        mine = ours(pixels)
    assert mine.shape == theirs.shape
    diff = (mine - theirs).abs().max().item()
    assert diff < 1e-4, diff
    return diff


VIT_CONFIGS = [
    dict(image_size=16, patch_size=4, num_channels=3, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
         intermediate_size=64),
    dict(image_size=12, patch_size=2, num_channels=1, hidden_size=24, num_hidden_layers=1, num_attention_heads=2,
         intermediate_size=48, layer_norm_eps=1e-6),
    dict(image_size=32, patch_size=8, num_channels=3, hidden_size=48, num_hidden_layers=3, num_attention_heads=3,
         intermediate_size=40, qkv_bias=False),
]


@pytest.mark.parametrize("cfg", VIT_CONFIGS)
def test_vit_for_image_classification(cfg):
    torch.manual_seed(0)
    ref = _randomise(transformers.ViTForImageClassification(transformers.ViTConfig(**cfg, num_labels=5)))
    pixels = torch.randn(2, cfg["num_channels"], cfg["image_size"], cfg["image_size"])
    _check(ref, pixels, ViT)


@pytest.mark.parametrize("cfg", VIT_CONFIGS[:2])
def test_vit_model(cfg):
    torch.manual_seed(0)
    ref = _randomise(transformers.ViTModel(transformers.ViTConfig(**cfg)))
    pixels = torch.randn(2, cfg["num_channels"], cfg["image_size"], cfg["image_size"])
    _check(ref, pixels, Backbone)


def test_vit_position_interpolation_matches_interpolate_pos_encoding():
    torch.manual_seed(0)
    ref = _randomise(transformers.ViTModel(transformers.ViTConfig(**VIT_CONFIGS[0])))
    ours = from_transformers(ref).eval()
    pixels = torch.randn(2, 3, 24, 28)  # a 6 x 7 grid from a table made for 4 x 4
    with torch.no_grad():
        theirs = ref(pixel_values=pixels, interpolate_pos_encoding=True).last_hidden_state
        mine = ours(pixels)
    assert mine.shape == (2, 1 + 6 * 7, 32)
    assert (mine - theirs).abs().max().item() < 1e-4


CONVNEXT_CONFIGS = [
    dict(num_channels=3, patch_size=4, num_stages=2, hidden_sizes=[8, 16], depths=[1, 2]),
    dict(num_channels=1, patch_size=2, num_stages=3, hidden_sizes=[8, 12, 16], depths=[2, 1, 1],
         layer_scale_init_value=0.0),
    dict(num_channels=3, patch_size=4, num_stages=2, hidden_sizes=[16, 16], depths=[1, 1],
         layer_scale_init_value=0.5, layer_norm_eps=1e-6, drop_path_rate=0.1),
]


@pytest.mark.parametrize("cfg", CONVNEXT_CONFIGS)
def test_convnext_for_image_classification(cfg):
    torch.manual_seed(0)
    ref = _randomise(transformers.ConvNextForImageClassification(transformers.ConvNextConfig(**cfg, num_labels=4)))
    _check(ref, torch.randn(2, cfg["num_channels"], 32, 32), ConvNeXt)


@pytest.mark.parametrize("cfg", CONVNEXT_CONFIGS[:2])
def test_convnext_model(cfg):
    torch.manual_seed(0)
    ref = _randomise(transformers.ConvNextModel(transformers.ConvNextConfig(**cfg)))
    _check(ref, torch.randn(2, cfg["num_channels"], 32, 32), Backbone)


RESNET_CONFIGS = [
    dict(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 2], layer_type="basic"),
    dict(num_channels=3, embedding_size=8, hidden_sizes=[16, 32], depths=[2, 1], layer_type="bottleneck"),
    dict(num_channels=1, embedding_size=4, hidden_sizes=[8, 16, 24], depths=[1, 1, 2], layer_type="bottleneck",
         downsample_in_bottleneck=True, downsample_in_first_stage=True),
    dict(num_channels=3, embedding_size=16, hidden_sizes=[16, 8], depths=[2, 2], layer_type="basic",
         downsample_in_first_stage=True),
]


@pytest.mark.parametrize("cfg", RESNET_CONFIGS)
def test_resnet_for_image_classification(cfg):
    torch.manual_seed(0)
    ref = _randomise(transformers.ResNetForImageClassification(transformers.ResNetConfig(**cfg, num_labels=3)))
    _check(ref, torch.randn(2, cfg["num_channels"], 32, 32), ResNet)


@pytest.mark.parametrize("cfg", RESNET_CONFIGS[:3])
def test_resnet_model(cfg):
    torch.manual_seed(0)
    ref = _randomise(transformers.ResNetModel(transformers.ResNetConfig(**cfg)))
    _check(ref, torch.randn(2, cfg["num_channels"], 32, 32), Backbone)


def test_unsupported_settings_are_named():
    with pytest.raises(ValueError, match="hidden_act='gelu_new'"):
        from_transformers(transformers.ViTModel(transformers.ViTConfig(
            image_size=8, patch_size=4, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=8, hidden_act="gelu_new")))
    with pytest.raises(ValueError, match="hidden_act='gelu'"):
        from_transformers(transformers.ResNetModel(transformers.ResNetConfig(
            embedding_size=4, hidden_sizes=[4], depths=[1], hidden_act="gelu")))


def test_a_weight_without_counterpart_is_an_error():
    from archlab.vision.interop import RESNET_KEYS, rename_state

    with pytest.raises(ValueError, match="'extra.weight' has no archlab counterpart"):
        rename_state({"extra.weight": torch.zeros(1)}, RESNET_KEYS)


def test_options_without_effect_on_the_primary_output_convert_exactly():
    vit = dict(VIT_CONFIGS[0], image_size=[16, 16], patch_size=(4, 4), encoder_stride=4, pooler_output_size=8,
               pooler_act="relu")
    pixels = torch.randn(2, 3, 16, 16)
    for ref in (transformers.ViTModel(transformers.ViTConfig(**vit)),
                transformers.ViTModel(transformers.ViTConfig(**VIT_CONFIGS[0]), add_pooling_layer=False)):
        torch.manual_seed(0)
        _check(_randomise(ref), pixels, Backbone)
    convnext = dict(CONVNEXT_CONFIGS[0], out_features=["stage1"], layer_scale_init_value=-1.0, image_size=64)
    _check(_randomise(transformers.ConvNextModel(transformers.ConvNextConfig(**convnext))), torch.randn(2, 3, 32, 32),
           Backbone)
    resnet = dict(RESNET_CONFIGS[0], out_features=["stage1"], downsample_in_bottleneck=True)  # basic: no effect
    _check(_randomise(transformers.ResNetModel(transformers.ResNetConfig(**resnet))), torch.randn(2, 3, 32, 32),
           Backbone)


@pytest.mark.parametrize("options, kwargs, message", [
    (dict(image_size=[16, 8]), {}, r"image_size=\(16, 8\) is not square"),
    (dict(patch_size=(4, 2)), {}, r"patch_size=\(4, 2\) is not square"),
    (dict(attention_probs_dropout_prob=0.3), {}, "attention_probs_dropout_prob=0.3 differs"),
    ({}, dict(use_mask_token=True), "use_mask_token=True"),
])
def test_vit_options_archlab_lacks_are_refused_by_name(options, kwargs, message):
    ref = transformers.ViTModel(transformers.ViTConfig(**{**VIT_CONFIGS[0], **options}), **kwargs)
    with pytest.raises(ValueError, match=message):
        from_transformers(ref)


def test_convnext_options_archlab_lacks_are_refused_by_name():
    with pytest.raises(ValueError, match="hidden_act='relu'"):
        from_transformers(transformers.ConvNextModel(transformers.ConvNextConfig(**CONVNEXT_CONFIGS[0],
                                                                                 hidden_act="relu")))
    ref = transformers.ConvNextModel(transformers.ConvNextConfig(**CONVNEXT_CONFIGS[0]))
    ref.config.num_stages = 3  # transformers itself cannot build such a model; a config edited after loading
    with pytest.raises(ValueError, match="num_stages=3 differs"):
        from_transformers(ref)

