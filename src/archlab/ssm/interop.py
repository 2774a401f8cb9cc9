"""Hugging Face transformers' Mamba as archlab models: ``MambaModel`` -> ``MambaBackbone`` and
``MambaForCausalLM`` -> ``MambaLM``, same weights, same outputs (``last_hidden_state`` / ``logits``).

The key tables below map archlab parameter names to transformers' (``{i}`` is the layer index). The two
computations are the same: pre-RMSNorm residual blocks around the Mamba mixer, a final RMSNorm, a head tied
to the embedding. transformers is imported only by the caller who owns the reference model.
"""

from __future__ import annotations

from typing import Any

import torch

from archlab.ssm.lm import MambaBackbone, MambaLM, MambaLMConfig

BACKBONE_KEYS = {
    "embedding.weight": "embeddings.weight",
    "norm_f.weight": "norm_f.weight",
}

LAYER_KEYS = {
    "blocks.{i}.norm1.weight": "layers.{i}.norm.weight",
    "blocks.{i}.mixer.in_proj.weight": "layers.{i}.mixer.in_proj.weight",
    "blocks.{i}.mixer.in_proj.bias": "layers.{i}.mixer.in_proj.bias",
    "blocks.{i}.mixer.conv1d.weight": "layers.{i}.mixer.conv1d.weight",
    "blocks.{i}.mixer.conv1d.bias": "layers.{i}.mixer.conv1d.bias",
    "blocks.{i}.mixer.x_proj.weight": "layers.{i}.mixer.x_proj.weight",
    "blocks.{i}.mixer.dt_proj.weight": "layers.{i}.mixer.dt_proj.weight",
    "blocks.{i}.mixer.dt_proj.bias": "layers.{i}.mixer.dt_proj.bias",
    "blocks.{i}.mixer.A_log": "layers.{i}.mixer.A_log",
    "blocks.{i}.mixer.D": "layers.{i}.mixer.D",
    "blocks.{i}.mixer.out_proj.weight": "layers.{i}.mixer.out_proj.weight",
    "blocks.{i}.mixer.out_proj.bias": "layers.{i}.mixer.out_proj.bias",
}


def config_from_hf(hf_config: Any) -> MambaLMConfig:
    """The ``MambaLMConfig`` of a transformers ``MambaConfig``."""
    if hf_config.hidden_act != "silu":
        raise ValueError(f"hidden_act={hf_config.hidden_act!r} is not supported; the Mamba block uses 'silu'")
    return MambaLMConfig(
        vocab_size=hf_config.vocab_size, d_model=hf_config.hidden_size,
        layers=("mamba",) * hf_config.num_hidden_layers,
        d_state=hf_config.state_size, d_conv=hf_config.conv_kernel, expand=hf_config.expand,
        dt_rank=int(hf_config.time_step_rank), bias=hf_config.use_bias, conv_bias=hf_config.use_conv_bias,
        tie_embeddings=bool(getattr(hf_config, "tie_word_embeddings", True)), norm_eps=hf_config.layer_norm_epsilon,
    )


def _backbone_state(hf_state: dict[str, torch.Tensor], n_layers: int, prefix: str = "") -> dict[str, torch.Tensor]:
    """archlab backbone keys -> tensors, from a transformers ``MambaModel`` state dict."""
    table = dict(BACKBONE_KEYS)
    for i in range(n_layers):
        table.update({ours.format(i=i): theirs.format(i=i) for ours, theirs in LAYER_KEYS.items()})
    return {ours: hf_state[prefix + theirs] for ours, theirs in table.items() if prefix + theirs in hf_state}


def _load(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "lm_head.weight" or not model.config.tie_embeddings]
    if missing or unexpected:
        raise ValueError(f"weights do not match: missing {sorted(missing)}, unexpected {sorted(unexpected)}")


def from_hf_mamba_model(hf_model: Any) -> MambaBackbone:
    """A transformers ``MambaModel`` as a ``MambaBackbone`` (returns ``BaseModelOutput(last_hidden_state)``)."""
    config = config_from_hf(hf_model.config)
    model = MambaBackbone(config)
    _load(model, _backbone_state(hf_model.state_dict(), config.n_layers))
    return model.to(dtype=hf_model.embeddings.weight.dtype).eval()


def from_hf_mamba_for_causal_lm(hf_model: Any) -> MambaLM:
    """A transformers ``MambaForCausalLM`` as a ``MambaLM`` (returns its ``logits``)."""
    config = config_from_hf(hf_model.config)
    model = MambaLM(config)
    hf_state = hf_model.state_dict()
    state = {f"backbone.{k}": v for k, v in _backbone_state(hf_state, config.n_layers, "backbone.").items()}
    if not config.tie_embeddings:
        state["lm_head.weight"] = hf_state["lm_head.weight"]
    _load(model, state)
    return model.to(dtype=hf_model.lm_head.weight.dtype).eval()


TRANSFORMERS = {
    "MambaModel": from_hf_mamba_model,
    "MambaForCausalLM": from_hf_mamba_for_causal_lm,
}
