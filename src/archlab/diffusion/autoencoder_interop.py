"""diffusers' ``AutoencoderKL`` as an archlab ``LatentAutoencoder`` holding the same weights.

The converted model's ``encode(x).mean`` is the reference's ``encode(x).latent_dist.mean``, and its
``decode(z)`` / ``forward(x)`` the reference's ``decode(z).sample`` / ``forward(x).sample``. Config, mapped or
refused by name:

- mapped: ``in_channels``, ``out_channels``, ``block_out_channels`` (widths), ``layers_per_block``,
  ``latent_channels``, ``norm_num_groups``, ``mid_block_add_attention``, ``use_quant_conv``,
  ``use_post_quant_conv``, ``scaling_factor``, ``shift_factor`` (None: 0);
- refused: ``down_block_types`` other than ``DownEncoderBlock2D``, ``up_block_types`` other than
  ``UpDecoderBlock2D``, a different count of either from ``block_out_channels``, ``act_fn`` other than
  ``"silu"``, ``latents_mean`` / ``latents_std`` (per-channel latent statistics archlab does not apply);
- without effect: ``sample_size`` (tiling only), ``force_upcast`` (float32 already).

diffusers is never imported here: the converter reads the reference's config and tensors.
"""

from __future__ import annotations

from typing import Any

from archlab.core.rename import load_converted
from archlab.diffusion.autoencoder import AutoencoderConfig, LatentAutoencoder
from archlab.diffusion.refuse import refuse
from archlab.diffusion.unet_interop import CONV_BLOCK_KEYS, block_kinds, convert_conv_state

AUTOENCODER_KEYS = CONV_BLOCK_KEYS + (
    (r"(quant_conv|post_quant_conv)\.(weight|bias)", r"\1.\2"),
)


def autoencoder_config_from(reference: Any) -> AutoencoderConfig:
    """The ``AutoencoderConfig`` of a diffusers ``AutoencoderKL`` (mapped or refused, module docstring)."""
    refuse(reference, act_fn="silu", latents_mean=None, latents_std=None)
    c = reference.config
    levels = len(c.block_out_channels)
    for name, types, kind in (("down_block_types", c.down_block_types, "DownEncoderBlock2D"),
                              ("up_block_types", c.up_block_types, "UpDecoderBlock2D")):
        block_kinds(types, {kind: False}, name)
        if len(types) != levels:
            raise ValueError(f"AutoencoderKL with {len(types)} {name} for {levels} block_out_channels is not "
                             "supported by archlab (one block per level)")
    return AutoencoderConfig(
        in_channels=c.in_channels, out_channels=c.out_channels, widths=tuple(c.block_out_channels),
        layers_per_block=c.layers_per_block, latent_channels=c.latent_channels, norm_groups=c.norm_num_groups,
        mid_attention=c.mid_block_add_attention, quant_conv=c.use_quant_conv, post_quant_conv=c.use_post_quant_conv,
        scaling_factor=c.scaling_factor, shift_factor=c.shift_factor or 0.0)


def autoencoder_from_diffusers(reference: Any) -> LatentAutoencoder:
    """An archlab ``LatentAutoencoder`` with the weights of a diffusers ``AutoencoderKL``."""
    model = LatentAutoencoder(autoencoder_config_from(reference))
    load_converted(model, convert_conv_state(reference.state_dict(), AUTOENCODER_KEYS), reference)
    return model
