"""diffusers' ``UNet2DModel`` as an archlab ``UNet`` holding the same weights, and the conv-block weight names
that the U-Net and the latent autoencoder (``autoencoder_interop``) share.

``forward(x, t, class_labels)`` of the converted model returns the reference's ``.sample``. Config, mapped or
refused by name:

- mapped: ``in_channels``, ``out_channels``, ``block_out_channels`` (widths), ``layers_per_block``,
  ``down_block_types`` / ``up_block_types`` from ``DownBlock2D`` / ``AttnDownBlock2D`` and ``UpBlock2D`` /
  ``AttnUpBlock2D`` (attention per level), ``add_attention`` (the middle's), ``attention_head_dim`` (None: one
  head), ``norm_num_groups``, ``attn_norm_num_groups``, ``norm_eps``, ``dropout``, ``resnet_time_scale_shift``
  ``"default"`` | ``"scale_shift"``, ``mid_block_scale_factor``, ``downsample_padding``, ``time_embedding_dim``,
  ``flip_sin_to_cos``, ``freq_shift``, ``num_class_embeds`` (with ``class_embed_type=None``),
  ``center_input_sample``;
- refused: ``time_embedding_type`` other than ``"positional"``, ``class_embed_type`` ``"timestep"`` or
  ``"identity"``, ``mid_block_type=None``, other block types (skip and resnet-sampling blocks),
  ``downsample_type`` / ``upsample_type`` other than ``"conv"``, ``act_fn`` other than ``"silu"``;
- without effect: ``sample_size``, ``num_train_timesteps`` (only the ``"learned"`` embedding uses it).

diffusers is never imported here: the converter reads the reference's config and tensors.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from archlab.core.rename import Rules, fuse_parts, load_converted, rename_state
from archlab.diffusion.refuse import refuse
from archlab.diffusion.unet import UNet, UNetConfig

DOWN_BLOCKS = {"DownBlock2D": False, "AttnDownBlock2D": True}
UP_BLOCKS = {"UpBlock2D": False, "AttnUpBlock2D": True}

# Names inside ResnetBlock2D / Attention / the samplers, and the outer convolutions, reference -> archlab.
CONV_BLOCK_KEYS: Rules = (
    (r"(.+)\.resnets\.(\d+)\.(norm1|conv1|norm2|conv2)\.(weight|bias)", r"\1.resnets.\2.\3.\4"),
    (r"(.+)\.resnets\.(\d+)\.time_emb_proj\.(weight|bias)", r"\1.resnets.\2.time_proj.\3"),
    (r"(.+)\.resnets\.(\d+)\.conv_shortcut\.(weight|bias)", r"\1.resnets.\2.shortcut.\3"),
    (r"(.+)\.attentions\.(\d+)\.group_norm\.(weight|bias)", r"\1.attentions.\2.norm.\3"),
    (r"(.+)\.attentions\.(\d+)\.to_qkv\.(weight|bias)", r"\1.attentions.\2.attn.qkv_proj.\3"),
    (r"(.+)\.attentions\.(\d+)\.to_out\.0\.(weight|bias)", r"\1.attentions.\2.attn.o_proj.\3"),
    (r"(.+)\.downsamplers\.0\.conv\.(weight|bias)", r"\1.downsample.conv.\2"),
    (r"(.+)\.upsamplers\.0\.conv\.(weight|bias)", r"\1.upsample.conv.\2"),
    (r"((?:.+\.)?)conv_in\.(weight|bias)", r"\1conv_in.\2"),
    (r"((?:.+\.)?)conv_norm_out\.(weight|bias)", r"\1norm_out.\2"),
    (r"((?:.+\.)?)conv_out\.(weight|bias)", r"\1conv_out.\2"),
)
QKV = r"(.+)\.attentions\.(\d+)\.to_(?P<part>[qkv])\.(weight|bias)"
# Block containers, reference -> archlab, at the start of a name or of a dotted segment.
BLOCK_PREFIXES: Rules = (
    (r"(^|\.)down_blocks\.", r"\1down."),
    (r"(^|\.)up_blocks\.", r"\1up."),
    (r"(^|\.)mid_block\.resnets\.0\.", r"\1mid.res1."),
    (r"(^|\.)mid_block\.resnets\.1\.", r"\1mid.res2."),
    (r"(^|\.)mid_block\.attentions\.0\.", r"\1mid.attn."),
)
UNET_KEYS: Rules = CONV_BLOCK_KEYS + (
    (r"time_embedding\.linear_1\.(weight|bias)", r"time_mlp.0.\1"),
    (r"time_embedding\.linear_2\.(weight|bias)", r"time_mlp.2.\1"),
    (r"class_embedding\.weight", "class_embedding.weight"),
)


def block_kinds(types: Any, table: dict[str, bool], name: str) -> tuple[bool, ...]:
    """Attention per level from diffusers' block type names; an unbuilt type is a ``ValueError`` naming it."""
    for kind in types:
        if kind not in table:
            raise ValueError(f"{name} entry {kind!r} is not supported by archlab (supported: {', '.join(table)})")
    return tuple(table[kind] for kind in types)


def convert_conv_state(state: dict[str, torch.Tensor], keys: Rules) -> dict[str, torch.Tensor]:
    """A diffusers conv-network state in archlab's names: query, key and value fused, every name renamed by
    ``keys`` (strictly: an unmatched name is an error), then the block containers by ``BLOCK_PREFIXES``."""
    renamed = rename_state(fuse_parts(state, QKV, r"\1.attentions.\2.to_qkv.\4"), keys)
    out = {}
    for name, tensor in renamed.items():
        for pattern, target in BLOCK_PREFIXES:
            name = re.sub(pattern, target, name)
        out[name] = tensor
    return out


def unet_config_from(reference: Any) -> UNetConfig:
    """The ``UNetConfig`` of a diffusers ``UNet2DModel`` (mapped or refused, module docstring)."""
    refuse(reference, time_embedding_type="positional", class_embed_type=None, mid_block_type="UNetMidBlock2D",
           downsample_type="conv", upsample_type="conv", act_fn="silu",
           resnet_time_scale_shift=("default", "scale_shift"))
    c = reference.config
    return UNetConfig(
        in_channels=c.in_channels, out_channels=c.out_channels, widths=tuple(c.block_out_channels),
        layers_per_block=c.layers_per_block,
        down_attention=block_kinds(c.down_block_types, DOWN_BLOCKS, "down_block_types"),
        up_attention=block_kinds(c.up_block_types, UP_BLOCKS, "up_block_types"),
        mid_attention=c.add_attention, head_dim=c.attention_head_dim, norm_groups=c.norm_num_groups,
        mid_attention_groups=c.attn_norm_num_groups, norm_eps=c.norm_eps, dropout=c.dropout,
        time_injection=c.resnet_time_scale_shift, mid_output_scale=c.mid_block_scale_factor,
        downsample_padding=c.downsample_padding, time_dim=c.time_embedding_dim, flip_sin_to_cos=c.flip_sin_to_cos,
        freq_shift=c.freq_shift, class_embeddings=c.num_class_embeds or 0, center_input=c.center_input_sample)


def unet_from_diffusers(reference: Any) -> UNet:
    """An archlab ``UNet`` with the weights of a diffusers ``UNet2DModel``."""
    model = UNet(unet_config_from(reference))
    load_converted(model, convert_conv_state(reference.state_dict(), UNET_KEYS), reference)
    return model
