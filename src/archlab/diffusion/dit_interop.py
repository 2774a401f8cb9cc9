"""diffusers' ``DiTTransformer2DModel`` as an archlab ``DiT`` holding the same weights.

``forward(x, t, class_labels)`` of the converted model returns the reference's ``.sample`` (``hidden_states``,
``timestep``, ``class_labels`` in the same order). Config, mapped or refused by name:

- mapped: ``in_channels``, ``out_channels``, ``sample_size``, ``patch_size``, ``num_attention_heads`` x
  ``attention_head_dim`` (the width), ``num_layers``, ``num_embeds_ada_norm`` (the class count; diffusers'
  label table always has the extra null-class row), ``activation_fn`` ``"gelu-approximate"`` | ``"gelu"``,
  ``norm_eps``;
- refused: ``attention_bias=False`` (archlab's attention keeps the output bias diffusers keeps, but not a
  query/key/value without bias), ``norm_elementwise_affine=True``, ``norm_type`` other than
  ``"ada_norm_zero"``, ``num_embeds_ada_norm=None``;
- without effect on eval outputs: ``dropout``, ``upcast_attention`` (float32 already), ``norm_num_groups``
  (unused by the DiT).

diffusers gives every block its own time and label embedder, and its output layer uses the first block's;
DiT has one (Peebles and Xie 2023), which the released checkpoints reflect by holding equal copies. The
converter takes the first block's and requires the others to equal it, a ``ValueError`` naming the block
otherwise. diffusers is never imported here: the converter reads the reference's config and tensors.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from archlab.core.rename import Rules, fuse_parts, load_converted, rename_state
from archlab.diffusion.dit import DiT, DiTConfig
from archlab.diffusion.refuse import refuse

ACTIVATIONS = {"gelu-approximate": "gelu_tanh", "gelu": "gelu"}
EMBEDDER = r"transformer_blocks\.(\d+)\.norm1\.emb\.(.+)"

DIT_KEYS: Rules = (
    (r"pos_embed\.proj\.(weight|bias)", r"patch_embed.proj.\1"),
    (r"transformer_blocks\.0\.norm1\.emb\.timestep_embedder\.linear_1\.(weight|bias)", r"time_mlp.0.\1"),
    (r"transformer_blocks\.0\.norm1\.emb\.timestep_embedder\.linear_2\.(weight|bias)", r"time_mlp.2.\1"),
    (r"transformer_blocks\.0\.norm1\.emb\.class_embedder\.embedding_table\.weight", "class_embedding.weight"),
    (r"transformer_blocks\.(\d+)\.norm1\.linear\.(weight|bias)", r"blocks.\1.modulation.\2"),
    (r"transformer_blocks\.(\d+)\.attn1\.to_qkv\.(weight|bias)", r"blocks.\1.attn.qkv_proj.\2"),
    (r"transformer_blocks\.(\d+)\.attn1\.to_out\.0\.(weight|bias)", r"blocks.\1.attn.o_proj.\2"),
    (r"transformer_blocks\.(\d+)\.ff\.net\.0\.proj\.(weight|bias)", r"blocks.\1.mlp.fc1.\2"),
    (r"transformer_blocks\.(\d+)\.ff\.net\.2\.(weight|bias)", r"blocks.\1.mlp.fc2.\2"),
    (r"proj_out_1\.(weight|bias)", r"final.modulation.\1"),
    (r"proj_out_2\.(weight|bias)", r"proj_out.\1"),
)
QKV = r"transformer_blocks\.(\d+)\.attn1\.to_(?P<part>[qkv])\.(weight|bias)"


def dit_config_from(reference: Any) -> DiTConfig:
    """The ``DiTConfig`` of a diffusers ``DiTTransformer2DModel`` (mapped or refused, module docstring)."""
    refuse(reference, attention_bias=True, norm_elementwise_affine=False, norm_type="ada_norm_zero")
    config = reference.config
    if config.num_embeds_ada_norm is None:
        raise ValueError("DiTTransformer2DModel with num_embeds_ada_norm=None is not supported by archlab "
                         "(adaLN-Zero needs the class count)")
    if config.activation_fn not in ACTIVATIONS:
        raise ValueError(f"DiTTransformer2DModel with activation_fn={config.activation_fn!r} is not supported by "
                         f"archlab (supported: {', '.join(ACTIVATIONS)})")
    width = config.num_attention_heads * config.attention_head_dim
    return DiTConfig(in_channels=config.in_channels, out_channels=config.out_channels,
                     sample_size=config.sample_size, patch_size=config.patch_size, d_model=width,
                     n_heads=config.num_attention_heads, n_layers=config.num_layers, d_hidden=4 * width,
                     activation=ACTIVATIONS[config.activation_fn], n_classes=config.num_embeds_ada_norm,
                     norm_eps=config.norm_eps)


def dit_from_diffusers(reference: Any) -> DiT:
    """An archlab ``DiT`` with the weights of a diffusers ``DiTTransformer2DModel``."""
    model = DiT(dit_config_from(reference))
    state = reference.state_dict()
    shared = {name.split("norm1.emb.", 1)[1]: tensor for name, tensor in state.items()
              if name.startswith("transformer_blocks.0.norm1.emb.")}
    kept = {}
    for name, tensor in state.items():
        match = re.fullmatch(EMBEDDER, name)
        if match and match.group(1) != "0":
            if not torch.equal(tensor, shared[match.group(2)]):
                raise ValueError(f"DiTTransformer2DModel block {match.group(1)} has its own embedder weight "
                                 f"{match.group(2)!r}; archlab's DiT shares block 0's (Peebles and Xie 2023)")
        else:
            kept[name] = tensor
    converted = rename_state(fuse_parts(kept, QKV, r"transformer_blocks.\1.attn1.to_qkv.\3"), DIT_KEYS)
    load_converted(model, converted, reference)
    return model
