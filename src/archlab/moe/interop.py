"""Weights from Hugging Face transformers' Mixtral (Jiang et al. 2024): ``MixtralSparseMoeBlock`` -> ``MoELayer``,
``MixtralForCausalLM`` -> ``MoELM``.

The mapping is one explicit key table (``MIXTRAL_KEYS``, ``{i}`` the layer index) plus the fused attention
projection: Mixtral's separate ``q_proj``, ``k_proj``, ``v_proj`` rows are concatenated into archlab's
``qkv_proj`` (rows: H query heads, then Hkv key heads, then Hkv value heads); their rows already follow the
rotate_half RoPE layout of ``core.positional``. The experts need no reshaping: transformers' ``MixtralExperts``
stacks ``gate_up_proj`` (K, 2F, D, gate rows then up rows) and ``down_proj`` (K, D, F) exactly as
``SwiGLUExperts`` does. The router is the same softmax, top-k, renormalise (``TopKRouter``), dropless. Mixtral's
load-balancing loss is the Switch loss with its ``f_i`` counted per token (summing to top_k) where archlab's
counts per assignment (summing to 1), so the converted layers carry ``balance_loss="switch"`` with
``balance_coef = router_aux_loss_coef * top_k``: one layer's auxiliary loss then equals Mixtral's for that
layer. Over several layers ``MoELM`` sums the layers' losses, while Mixtral pools f and P over layers before
the product, so the model totals differ (the logits do not).

What is not converted raises ``ValueError``: an activation other than SiLU, a sliding attention window, a RoPE
scaling other than ``default``. Mixtral's router jitter (input noise in training) is not reproduced, and
dropout is not carried over: compare in ``eval()`` mode.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from archlab.moe.layer import MoELayer
from archlab.moe.lm import MoELM, MoELMConfig

StateDict = dict[str, torch.Tensor]

MIXTRAL_BLOCK_KEYS = {
    "gate.weight": "router.weight",
    "experts.gate_up_proj": "experts.gate_up_proj",
    "experts.down_proj": "experts.down_proj",
}
MIXTRAL_KEYS = {
    "model.embed_tokens.weight": "tok_emb.weight",
    "model.layers.{i}.input_layernorm.weight": "blocks.{i}.norm1.weight",
    "model.layers.{i}.self_attn.o_proj.weight": "blocks.{i}.mixer.o_proj.weight",
    "model.layers.{i}.post_attention_layernorm.weight": "blocks.{i}.norm2.weight",
    **{f"model.layers.{{i}}.mlp.{src}": f"blocks.{{i}}.feed_forward.moe.{dst}" for src, dst in MIXTRAL_BLOCK_KEYS.items()},
    "model.norm.weight": "norm_f.weight",
    "lm_head.weight": "lm_head.weight",
}
MIXTRAL_QKV = {"blocks.{i}.mixer.qkv_proj.weight": tuple(f"model.layers.{{i}}.self_attn.{n}_proj.weight" for n in "qkv")}


def _check_activation(config: Any) -> None:
    if config.hidden_act != "silu":
        raise ValueError(f"Mixtral hidden_act={config.hidden_act!r} is not supported (only 'silu': SwiGLU experts)")


def mixtral_state_dict(state: StateDict, n_layers: int) -> StateDict:
    """``MixtralForCausalLM`` weights under ``MoELM``'s names; a reference weight left unmapped is an error."""
    out: StateDict = {}
    used: set[str] = set()
    for i in range(n_layers):
        for src, dst in MIXTRAL_KEYS.items():
            name = src.format(i=i)
            if name in state:
                out[dst.format(i=i)] = state[name]
                used.add(name)
        for dst, srcs in MIXTRAL_QKV.items():
            names = [s.format(i=i) for s in srcs]
            out[dst.format(i=i)] = torch.cat([state[n] for n in names], dim=0)  # ((H + 2 Hkv) * Dh, D)
            used.update(names)
    left = sorted(set(state) - used)
    if left:
        raise ValueError(f"Mixtral weights with no archlab counterpart: {left}")
    return out


def _load(module: nn.Module, state: StateDict) -> None:
    """Copy ``state`` into ``module`` strictly (same names, same shapes), in the module's dtype."""
    target = module.state_dict()
    missing, unexpected = sorted(set(target) - set(state)), sorted(set(state) - set(target))
    if missing or unexpected:
        raise ValueError(f"weight mapping mismatch: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        for name, tensor in target.items():
            if tensor.shape != state[name].shape:
                raise ValueError(f"{name}: archlab shape {tuple(tensor.shape)} != Mixtral {tuple(state[name].shape)}")
            tensor.copy_(state[name].to(tensor.dtype))


def convert_mixtral_block(block: Any) -> MoELayer:
    """``MixtralSparseMoeBlock`` -> ``MoELayer``: ``layer(x).hidden`` equals ``block(x)`` for x (B, L, D)."""
    c = block.experts.config
    _check_activation(c)
    n_experts, two_f, d_model = block.experts.gate_up_proj.shape  # (K, 2F, D)
    layer = MoELayer(d_model=d_model, d_expert=two_f // 2, n_experts=n_experts, top_k=block.top_k, router="topk",
                     capacity_factor=None, balance_loss="switch",
                     balance_coef=c.router_aux_loss_coef * block.top_k)
    state = block.state_dict()
    _load(layer, {dst: state[src] for src, dst in MIXTRAL_BLOCK_KEYS.items()})
    return layer.train(block.training)


def mixtral_lm_config(config: Any) -> MoELMConfig:
    """``MoELMConfig`` from a transformers ``MixtralConfig``."""
    _check_activation(config)
    if config.sliding_window is not None:
        raise ValueError(f"Mixtral sliding_window={config.sliding_window} is not supported (MoELM attends to the "
                         "whole causal prefix); set it to None")
    rope = config.rope_parameters or {}
    if rope.get("rope_type", "default") != "default":
        raise ValueError(f"Mixtral rope_type={rope['rope_type']!r} is not supported (only 'default')")
    return MoELMConfig(
        vocab_size=config.vocab_size, max_seq_len=config.max_position_embeddings, d_model=config.hidden_size,
        n_layers=config.num_hidden_layers, n_heads=config.num_attention_heads,
        n_kv_heads=config.num_key_value_heads, head_dim=getattr(config, "head_dim", None),
        d_ff=config.intermediate_size, d_expert=config.intermediate_size, n_experts=config.num_local_experts,
        top_k=config.num_experts_per_tok, moe_every=1, router="topk", capacity_factor=None,
        balance_loss="switch", balance_coef=config.router_aux_loss_coef * config.num_experts_per_tok,
        norm_eps=config.rms_norm_eps,
        rope_base=rope.get("rope_theta", 1e6), tie_embeddings=bool(config.tie_word_embeddings),
        init_std=config.initializer_range,
    )


def convert_mixtral(model: Any) -> MoELM:
    """``MixtralForCausalLM`` -> ``MoELM``: ``MoELM(ids).logits`` equals ``model(ids).logits``."""
    config = mixtral_lm_config(model.config)
    lm = MoELM(config)
    _load(lm, mixtral_state_dict(model.state_dict(), config.n_layers))
    return lm.train(model.training)


TRANSFORMERS = {"MixtralSparseMoeBlock": convert_mixtral_block, "MixtralForCausalLM": convert_mixtral}
