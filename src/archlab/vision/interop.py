"""Weights from Hugging Face transformers: ViT, ConvNeXt and ResNet into ``ViT``, ``ConvNeXt`` and ``ResNet``.

``TRANSFORMERS`` maps the reference class name to its converter (``archlab.interop.from_transformers``). A
``*ForImageClassification`` becomes the archlab classifier, whose forward returns the reference's ``logits``;
a base ``*Model`` becomes ``Backbone(classifier without head)``, whose forward returns its
``last_hidden_state`` (ViT: the tokens after the final LayerNorm; ConvNeXt and ResNet: the last stage's map,
before pooling). Each class has an explicit rename table of regular expressions (``VIT_KEYS``,
``CONVNEXT_KEYS``, ``RESNET_KEYS``) from the reference's parameter names to archlab's; ViT's separate
query/key/value projections are concatenated into archlab's fused ``qkv_proj``. A reference tensor that no
rule maps (and that is not listed as ignored), or an archlab parameter left unfilled, is an error.

Every option of the reference configs, mapped or refused by name:

- ``ViTConfig``: ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads``, ``intermediate_size``,
  ``layer_norm_eps``, ``qkv_bias``, ``num_channels``, ``image_size`` and ``patch_size`` (an int or a square
  pair) and ``hidden_dropout_prob`` are mapped. Refused: ``hidden_act`` other than ``"gelu"`` (the erf form), a
  non-square ``image_size`` or ``patch_size``, ``attention_probs_dropout_prob`` different from
  ``hidden_dropout_prob`` (archlab's ViT has one rate), the mask token (``use_mask_token=True``). Without effect on
  these classes' outputs: ``encoder_stride`` (``ViTForMaskedImageModeling`` only), ``pooler_output_size`` and
  ``pooler_act`` (``ViTModel``'s pooler, dense + activation over the class token, is not its primary output and
  is dropped; ``add_pooling_layer=False`` converts the same), ``initializer_range``.
- ``ConvNextConfig``: ``num_channels``, ``patch_size``, ``hidden_sizes``, ``depths``, ``layer_scale_init_value``
  (0 or less: no layer scale, as transformers), ``drop_path_rate`` and ``layer_norm_eps`` (the final norm;
  transformers fixes 1e-6 inside, as archlab) are mapped. Refused: ``hidden_act`` other than ``"gelu"``,
  ``num_stages`` different from ``len(hidden_sizes)``. Without effect: ``image_size``, ``out_features`` /
  ``out_indices`` (``ConvNextBackbone`` only), ``initializer_range``.
- ``ResNetConfig``: ``num_channels``, ``embedding_size``, ``hidden_sizes``, ``depths``, ``layer_type`` (basic or
  bottleneck), ``downsample_in_first_stage``, ``downsample_in_bottleneck`` (the stride on the first 1x1 instead
  of the 3x3; no effect on basic blocks, as transformers) are mapped. Refused: ``hidden_act`` other than
  ``"relu"``. Without effect: ``out_features`` / ``out_indices`` (``ResNetBackbone`` only).

BatchNorm statistics are buffers and are copied: compare in ``eval()`` mode. Dropout placement follows the
paper (after every dense layer but the query/key/value projection, and after the positions are added) plus
on the attention probabilities, which transformers' ViT applies except after ``fc1``: with a non-zero dropout rate the two train differently, while
in ``eval()`` they agree. transformers is never imported here: the converters read the reference's config and
tensors.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import torch
from torch import nn

from archlab.core.rename import Rules, fuse_parts, load_converted, rename_state
from archlab.vision.classifier import Backbone
from archlab.vision.convnext import ConvNeXt, ConvNeXtConfig
from archlab.vision.resnet import ResNet, ResNetConfig
from archlab.vision.vit import ViT, ViTConfig

VIT_KEYS: Rules = (
    (r"embeddings\.cls_token", "cls_token"),
    (r"embeddings\.position_embeddings", "pos_embed"),
    (r"embeddings\.patch_embeddings\.projection\.(weight|bias)", r"patch_embed.proj.\1"),
    (r"layers\.(\d+)\.attention\.qkv_proj\.(weight|bias)", r"blocks.\1.mixer.qkv_proj.\2"),
    (r"layers\.(\d+)\.attention\.o_proj\.(weight|bias)", r"blocks.\1.mixer.o_proj.\2"),
    (r"layers\.(\d+)\.layernorm_before\.(weight|bias)", r"blocks.\1.norm1.\2"),
    (r"layers\.(\d+)\.layernorm_after\.(weight|bias)", r"blocks.\1.norm2.\2"),
    (r"layers\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)", r"blocks.\1.feed_forward.\2.\3"),
    (r"layernorm\.(weight|bias)", r"norm.\1"),
    (r"classifier\.(weight|bias)", r"head.\1"),
)
VIT_QKV = r"layers\.(\d+)\.attention\.(?P<part>[qkv])_proj\.(weight|bias)"  # fused, rows q then k then v
VIT_IGNORED = (r"pooler\.dense\.(weight|bias)",)

CONVNEXT_KEYS: Rules = (
    (r"embeddings\.patch_embeddings\.(weight|bias)", r"stem.0.\1"),
    (r"embeddings\.layernorm\.(weight|bias)", r"stem.1.norm.\1"),
    (r"encoder\.stages\.(\d+)\.downsampling_layer\.0\.(weight|bias)", r"stages.\1.downsample.0.norm.\2"),
    (r"encoder\.stages\.(\d+)\.downsampling_layer\.1\.(weight|bias)", r"stages.\1.downsample.1.\2"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer_scale_parameter", r"stages.\1.blocks.\2.gamma"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.(dwconv|pwconv1|pwconv2)\.(weight|bias)", r"stages.\1.blocks.\2.\3.\4"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.layernorm\.(weight|bias)", r"stages.\1.blocks.\2.norm.\3"),
    (r"layernorm\.(weight|bias)", r"head_norm.\1"),
    (r"classifier\.(weight|bias)", r"head.\1"),
)

_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
RESNET_KEYS: Rules = (
    (r"embedder\.embedder\.convolution\.weight", "stem.0.conv.weight"),
    (rf"embedder\.embedder\.normalization\.{_BN}", r"stem.0.bn.\1"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.convolution\.weight", r"stages.\1.\2.shortcut.conv.weight"),
    (rf"encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.normalization\.{_BN}", r"stages.\1.\2.shortcut.bn.\3"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.convolution\.weight", r"stages.\1.\2.convs.\3.conv.weight"),
    (rf"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.normalization\.{_BN}", r"stages.\1.\2.convs.\3.bn.\4"),
    (r"classifier\.1\.(weight|bias)", r"head.\1"),
)


def _check_activation(config: Any, allowed: str) -> None:
    if config.hidden_act != allowed:
        raise ValueError(f"{type(config).__name__}.hidden_act={config.hidden_act!r} is not supported; "
                         f"archlab converts {allowed!r} only")


def _square(value: Any, name: str) -> int:
    if isinstance(value, int):
        return value
    a, b = value
    if a != b:
        raise ValueError(f"ViTConfig.{name}={tuple(value)} is not square; archlab converts square sizes only")
    return int(a)


def _cnn_converters(cls: type[nn.Module], config_from: Callable[[Any, int], Any], keys: Rules,
                    prefix: str) -> tuple[Callable[[nn.Module], nn.Module], Callable[[nn.Module], Backbone]]:
    """The two converters of a CNN: ``*ForImageClassification`` -> ``cls`` (forward: the logits), and the base
    ``*Model`` -> ``Backbone(cls)`` (forward: the last stage's map). The classifier's backbone weights carry
    ``prefix``."""

    def for_image_classification(reference: nn.Module) -> nn.Module:
        model = cls(config_from(reference.config, reference.config.num_labels))
        load_converted(model, rename_state(reference.state_dict(), keys, prefix=prefix), reference)
        return model

    def base_model(reference: nn.Module) -> Backbone:
        model = cls(config_from(reference.config, 0))
        load_converted(model, rename_state(reference.state_dict(), keys), reference)
        return Backbone(model).train(reference.training)

    name = cls.__name__
    for_image_classification.__doc__ = f"transformers' image classifier -> ``{name}`` (forward: the logits)."
    base_model.__doc__ = f"transformers' base model -> ``Backbone({name})`` (forward: the last stage's map)."
    return for_image_classification, base_model


# --- ViT -------------------------------------------------------------------------------------------------

def vit_config_from(hf_config: Any, num_classes: int) -> ViTConfig:
    _check_activation(hf_config, "gelu")
    if hf_config.attention_probs_dropout_prob != hf_config.hidden_dropout_prob:
        raise ValueError(f"ViTConfig.attention_probs_dropout_prob={hf_config.attention_probs_dropout_prob} differs "
                         f"from hidden_dropout_prob={hf_config.hidden_dropout_prob}; archlab's ViT has one rate")
    return ViTConfig(image_size=_square(hf_config.image_size, "image_size"),
                     patch_size=_square(hf_config.patch_size, "patch_size"), in_channels=hf_config.num_channels,
                     d_model=hf_config.hidden_size, n_layers=hf_config.num_hidden_layers,
                     n_heads=hf_config.num_attention_heads, d_ff=hf_config.intermediate_size,
                     num_classes=num_classes, pooling="cls", positions="learned", norm_eps=hf_config.layer_norm_eps,
                     qkv_bias=hf_config.qkv_bias, dropout=hf_config.hidden_dropout_prob)


def _vit_state(reference: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    state = {k: v for k, v in reference.state_dict().items() if k.startswith(prefix)}
    if f"{prefix}embeddings.mask_token" in state:
        raise ValueError("a ViT with a mask token (use_mask_token=True) is not supported")
    fused = fuse_parts(state, re.escape(prefix) + VIT_QKV, prefix + r"layers.\1.attention.qkv_proj.\3")
    return rename_state(fused, VIT_KEYS, prefix=prefix, ignored=VIT_IGNORED)


def vit_for_image_classification(reference: nn.Module) -> ViT:
    """``ViTForImageClassification`` -> ``ViT`` (forward: the logits)."""
    config = vit_config_from(reference.config, reference.config.num_labels)
    model = ViT(config)
    head = {k: v for k, v in reference.state_dict().items() if k.startswith("classifier.")}
    load_converted(model, {**_vit_state(reference, "vit."), **rename_state(head, VIT_KEYS)}, reference)
    return model


def vit_model(reference: nn.Module) -> Backbone:
    """``ViTModel`` -> ``Backbone(ViT)`` (forward: ``last_hidden_state``)."""
    config = vit_config_from(reference.config, 0)
    model = ViT(config)
    load_converted(model, _vit_state(reference, ""), reference)
    return Backbone(model).train(reference.training)


# --- ConvNeXt --------------------------------------------------------------------------------------------

def convnext_config_from(hf_config: Any, num_classes: int) -> ConvNeXtConfig:
    _check_activation(hf_config, "gelu")
    if hf_config.num_stages != len(hf_config.hidden_sizes):
        raise ValueError(f"ConvNextConfig.num_stages={hf_config.num_stages} differs from "
                         f"len(hidden_sizes)={len(hf_config.hidden_sizes)}")
    return ConvNeXtConfig(in_channels=hf_config.num_channels, num_classes=num_classes,
                          widths=tuple(hf_config.hidden_sizes), depths=tuple(hf_config.depths),
                          stem_patch=hf_config.patch_size,
                          layer_scale_init=max(hf_config.layer_scale_init_value, 0.0),
                          drop_path=hf_config.drop_path_rate, norm_eps=1e-6, head_norm_eps=hf_config.layer_norm_eps)


convnext_for_image_classification, convnext_model = _cnn_converters(ConvNeXt, convnext_config_from, CONVNEXT_KEYS,
                                                                  "convnext.")


# --- ResNet ----------------------------------------------------------------------------------------------

def resnet_config_from(hf_config: Any, num_classes: int) -> ResNetConfig:
    _check_activation(hf_config, "relu")
    return ResNetConfig(in_channels=hf_config.num_channels, num_classes=num_classes, block=hf_config.layer_type,
                        widths=tuple(hf_config.hidden_sizes), depths=tuple(hf_config.depths), stem="imagenet",
                        stem_width=hf_config.embedding_size,
                        bottleneck_stride="1x1" if hf_config.downsample_in_bottleneck else "3x3",
                        first_stage_stride=2 if hf_config.downsample_in_first_stage else 1)


resnet_for_image_classification, resnet_model = _cnn_converters(ResNet, resnet_config_from, RESNET_KEYS, "resnet.")


TRANSFORMERS: dict[str, Callable[[Any], nn.Module]] = {
    "ViTModel": vit_model,
    "ViTForImageClassification": vit_for_image_classification,
    "ConvNextModel": convnext_model,
    "ConvNextForImageClassification": convnext_for_image_classification,
    "ResNetModel": resnet_model,
    "ResNetForImageClassification": resnet_for_image_classification,
}
