"""Weights from Hugging Face transformers: ``CLIPModel`` into ``CLIP``.

``TRANSFORMERS`` maps the reference class name to its converter (``archlab.interop.from_transformers``). The
converted model's ``encode_image(pixel_values)`` and ``encode_text(input_ids, attention_mask)`` return what the
reference's ``get_image_features`` / ``get_text_features`` return (the projected pooled states). ``CLIP_KEYS`` is
the explicit rename table of regular expressions from the reference's parameter names to archlab's; the separate
query / key / value projections are concatenated into archlab's fused ``qkv_proj``. A reference tensor that no
rule maps, or an archlab parameter left unfilled, is an error.

Every option of the reference configs, mapped or refused by name:

- ``CLIPConfig``: ``projection_dim`` and ``logit_scale_init_value`` (the trained ``logit_scale`` is copied) are
  mapped.
- ``CLIPVisionConfig``: ``hidden_size``, ``intermediate_size``, ``num_hidden_layers``, ``num_attention_heads``,
  ``num_channels``, ``image_size``, ``patch_size``, ``layer_norm_eps`` are mapped.
- ``CLIPTextConfig``: ``vocab_size``, ``hidden_size``, ``intermediate_size``, ``num_hidden_layers``,
  ``num_attention_heads``, ``max_position_embeddings``, ``layer_norm_eps`` and ``eos_token_id`` are mapped
  (``eos_token_id == 2`` selects the original pooling at the largest id, as transformers does; any other value
  pools at the first end token).
- Both towers: ``hidden_act`` ``"quick_gelu"`` or ``"gelu"`` is mapped, the two towers must agree; another
  activation is refused. ``attention_dropout`` and ``dropout`` other than 0 are refused (archlab's encoders have no
  dropout; in ``eval()`` they would agree, in training they would not). Without effect on the features:
  ``initializer_range``, ``initializer_factor``, ``pad_token_id``, ``bos_token_id``, ``projection_dim`` of the
  tower configs (``CLIPModel`` reads the top-level one).

transformers is never imported here: the converter reads the reference's config and tensors.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import torch
from torch import nn

from archlab.core.rename import Rules, fuse_parts, load_converted, rename_state
from archlab.multimodal.clip import CLIP, CLIPConfig

_LAYER = r"(text|vision)_model\.encoder\.layers\.(\d+)\."
CLIP_KEYS: Rules = (
    (r"text_model\.embeddings\.token_embedding\.weight", "text.tok_emb.weight"),
    (r"text_model\.embeddings\.position_embedding\.weight", "text.pos_emb.weight"),
    (r"text_model\.final_layer_norm\.(weight|bias)", r"text.norm.\1"),
    (r"vision_model\.embeddings\.class_embedding", "vision.cls_token"),
    (r"vision_model\.embeddings\.patch_embedding\.weight", "vision.patch_embed.proj.weight"),
    (r"vision_model\.embeddings\.position_embedding\.weight", "vision.pos_emb.weight"),
    (r"vision_model\.pre_layrnorm\.(weight|bias)", r"vision.pre_norm.\1"),
    (r"vision_model\.post_layernorm\.(weight|bias)", r"vision.post_norm.\1"),
    (_LAYER + r"self_attn\.qkv_proj\.(weight|bias)", r"\1.blocks.\2.mixer.qkv_proj.\3"),
    (_LAYER + r"self_attn\.out_proj\.(weight|bias)", r"\1.blocks.\2.mixer.o_proj.\3"),
    (_LAYER + r"layer_norm1\.(weight|bias)", r"\1.blocks.\2.norm1.\3"),
    (_LAYER + r"layer_norm2\.(weight|bias)", r"\1.blocks.\2.norm2.\3"),
    (_LAYER + r"mlp\.(fc1|fc2)\.(weight|bias)", r"\1.blocks.\2.feed_forward.\3.\4"),
    (r"(visual_projection|text_projection)\.weight", r"\1.weight"),
    (r"logit_scale", "logit_scale"),
)
CLIP_QKV = _LAYER + r"self_attn\.(?P<part>[qkv])_proj\.(weight|bias)"  # fused, rows q then k then v


def _refuse(config: Any, name: str, rule: str) -> None:
    raise ValueError(f"{type(config).__name__}.{name}={getattr(config, name)!r} is not supported: {rule}")


def _check_tower(config: Any) -> None:
    if config.hidden_act not in ("quick_gelu", "gelu"):
        _refuse(config, "hidden_act", "archlab converts 'quick_gelu' and 'gelu'")
    for name in ("attention_dropout", "dropout"):
        if getattr(config, name, 0.0):
            _refuse(config, name, "archlab's CLIP encoders have no dropout")


def clip_config_from(hf_config: Any) -> CLIPConfig:
    """archlab's ``CLIPConfig`` of a transformers ``CLIPConfig``; unmapped options are refused by name."""
    text, vision = hf_config.text_config, hf_config.vision_config
    _check_tower(text)
    _check_tower(vision)
    if text.hidden_act != vision.hidden_act:
        raise ValueError(f"CLIPTextConfig.hidden_act={text.hidden_act!r} differs from CLIPVisionConfig.hidden_act="
                         f"{vision.hidden_act!r}; archlab's CLIP has one activation")
    return CLIPConfig(image_size=vision.image_size, patch_size=vision.patch_size, in_channels=vision.num_channels,
                      vision_width=vision.hidden_size, vision_layers=vision.num_hidden_layers,
                      vision_heads=vision.num_attention_heads, vision_ff=vision.intermediate_size,
                      vision_norm_eps=vision.layer_norm_eps, vocab_size=text.vocab_size,
                      max_text_len=text.max_position_embeddings, text_width=text.hidden_size,
                      text_layers=text.num_hidden_layers, text_heads=text.num_attention_heads,
                      text_ff=text.intermediate_size, text_norm_eps=text.layer_norm_eps,
                      eos_token_id=text.eos_token_id,
                      pooling="argmax" if text.eos_token_id == 2 else "eos",
                      projection_dim=hf_config.projection_dim, activation=text.hidden_act, temperature="learnable",
                      init_temperature=1.0 / float(torch.tensor(hf_config.logit_scale_init_value).exp()))


def clip_model(reference: nn.Module) -> CLIP:
    """``CLIPModel`` -> ``CLIP`` (``encode_image`` / ``encode_text``: the reference's image / text features)."""
    model = CLIP(clip_config_from(reference.config))
    fused = fuse_parts(reference.state_dict(), CLIP_QKV, r"\1_model.encoder.layers.\2.self_attn.qkv_proj.\4")
    load_converted(model, rename_state(fused, CLIP_KEYS), reference)
    return model


TRANSFORMERS: dict[str, Callable[[Any], nn.Module]] = {"CLIPModel": clip_model}
