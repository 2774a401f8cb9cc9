"""Weights from Hugging Face transformers: BERT, GPT-2 and Llama into ``Encoder``, ``DecoderModel``, ``DecoderLM``.

Each family of checkpoints has an explicit key table (``BERT_KEYS``, ``GPT2_KEYS``, ``LLAMA_KEYS``) from the
reference's parameter names to archlab's, with ``{i}`` standing for the layer index. Three reference tensors
(query, key, value) map to archlab's one fused ``qkv_proj`` (rows: H query heads, then Hkv key heads, then Hkv
value heads): BERT and Llama store them separately and are concatenated; GPT-2's ``c_attn`` already holds
``[q, k, v]`` but as a ``Conv1D``, whose weight is stored (in_features, out_features) and is transposed, as are
all of GPT-2's ``Conv1D`` weights. Llama's q/k rows already follow the rotate_half RoPE layout of
``core.positional``, so no permutation is needed.

What is not converted raises ``ValueError``: BERT with relative position embeddings or cross-attention, GPT-2
with per-layer attention scaling, Llama with a ``head_dim`` other than hidden/heads, biases on attention but
not on the MLP (or the reverse), or a RoPE scaling other than ``default``, ``linear`` and ``llama3`` (YaRN,
dynamic NTK and LongRoPE are left out). BERT's pooler (dense + tanh over [CLS]) is not part of ``Encoder`` and
is dropped. Dropout rates are carried over; compare in ``eval()`` mode.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from archlab.transformer.encoder import Encoder, EncoderConfig
from archlab.transformer.lm import DecoderLM, DecoderModel, LMConfig

StateDict = dict[str, torch.Tensor]

BERT_KEYS = {
    "embeddings.word_embeddings.weight": "tok_emb.weight",
    "embeddings.position_embeddings.weight": "pos_emb.weight",
    "embeddings.token_type_embeddings.weight": "type_emb.weight",
    "embeddings.LayerNorm.weight": "emb_norm.weight",
    "embeddings.LayerNorm.bias": "emb_norm.bias",
    "encoder.layer.{i}.attention.output.dense.weight": "blocks.{i}.mixer.o_proj.weight",
    "encoder.layer.{i}.attention.output.dense.bias": "blocks.{i}.mixer.o_proj.bias",
    "encoder.layer.{i}.attention.output.LayerNorm.weight": "blocks.{i}.norm1.weight",
    "encoder.layer.{i}.attention.output.LayerNorm.bias": "blocks.{i}.norm1.bias",
    "encoder.layer.{i}.intermediate.dense.weight": "blocks.{i}.feed_forward.fc1.weight",
    "encoder.layer.{i}.intermediate.dense.bias": "blocks.{i}.feed_forward.fc1.bias",
    "encoder.layer.{i}.output.dense.weight": "blocks.{i}.feed_forward.fc2.weight",
    "encoder.layer.{i}.output.dense.bias": "blocks.{i}.feed_forward.fc2.bias",
    "encoder.layer.{i}.output.LayerNorm.weight": "blocks.{i}.norm2.weight",
    "encoder.layer.{i}.output.LayerNorm.bias": "blocks.{i}.norm2.bias",
}
BERT_QKV = {
    "blocks.{i}.mixer.qkv_proj.{p}": tuple(f"encoder.layer.{{i}}.attention.self.{n}.{{p}}" for n in ("query", "key", "value")),
}
BERT_IGNORED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")

GPT2_KEYS = {
    "wte.weight": "tok_emb.weight",
    "wpe.weight": "pos_emb.weight",
    "h.{i}.ln_1.weight": "blocks.{i}.norm1.weight",
    "h.{i}.ln_1.bias": "blocks.{i}.norm1.bias",
    "h.{i}.attn.c_attn.weight": "blocks.{i}.mixer.qkv_proj.weight",
    "h.{i}.attn.c_attn.bias": "blocks.{i}.mixer.qkv_proj.bias",
    "h.{i}.attn.c_proj.weight": "blocks.{i}.mixer.o_proj.weight",
    "h.{i}.attn.c_proj.bias": "blocks.{i}.mixer.o_proj.bias",
    "h.{i}.ln_2.weight": "blocks.{i}.norm2.weight",
    "h.{i}.ln_2.bias": "blocks.{i}.norm2.bias",
    "h.{i}.mlp.c_fc.weight": "blocks.{i}.feed_forward.fc1.weight",
    "h.{i}.mlp.c_fc.bias": "blocks.{i}.feed_forward.fc1.bias",
    "h.{i}.mlp.c_proj.weight": "blocks.{i}.feed_forward.fc2.weight",
    "h.{i}.mlp.c_proj.bias": "blocks.{i}.feed_forward.fc2.bias",
    "ln_f.weight": "norm_f.weight",
    "ln_f.bias": "norm_f.bias",
}
GPT2_CONV1D = ("c_attn.weight", "c_proj.weight", "c_fc.weight")  # stored (in, out): transposed to nn.Linear's (out, in)
GPT2_IGNORED = ("attn.bias", "attn.masked_bias")  # causal-mask buffers of old checkpoints

LLAMA_KEYS = {
    "embed_tokens.weight": "tok_emb.weight",
    "layers.{i}.input_layernorm.weight": "blocks.{i}.norm1.weight",
    "layers.{i}.self_attn.o_proj.weight": "blocks.{i}.mixer.o_proj.weight",
    "layers.{i}.self_attn.o_proj.bias": "blocks.{i}.mixer.o_proj.bias",
    "layers.{i}.post_attention_layernorm.weight": "blocks.{i}.norm2.weight",
    "layers.{i}.mlp.gate_proj.weight": "blocks.{i}.feed_forward.gate.weight",
    "layers.{i}.mlp.gate_proj.bias": "blocks.{i}.feed_forward.gate.bias",
    "layers.{i}.mlp.up_proj.weight": "blocks.{i}.feed_forward.up.weight",
    "layers.{i}.mlp.up_proj.bias": "blocks.{i}.feed_forward.up.bias",
    "layers.{i}.mlp.down_proj.weight": "blocks.{i}.feed_forward.down.weight",
    "layers.{i}.mlp.down_proj.bias": "blocks.{i}.feed_forward.down.bias",
    "norm.weight": "norm_f.weight",
}
LLAMA_QKV = {
    "blocks.{i}.mixer.qkv_proj.{p}": tuple(f"layers.{{i}}.self_attn.{n}_proj.{{p}}" for n in ("q", "k", "v")),
}
LM_HEAD_KEYS = {"lm_head.weight": "lm_head.weight"}


def _expand(table: dict[str, str], n_layers: int) -> dict[str, str]:
    """The table with every ``{i}`` entry written out for layers 0 .. n_layers - 1."""
    out = {}
    for src, dst in table.items():
        for i in range(n_layers) if "{i}" in src else [None]:
            out[src.format(i=i)] = dst.format(i=i)
    return out


def map_state_dict(
    state: StateDict,
    *,
    n_layers: int,
    keys: dict[str, str],
    fused: dict[str, tuple[str, ...]] | None = None,
    transposed: tuple[str, ...] = (),
    ignored: tuple[str, ...] = (),
) -> StateDict:
    """Rename ``state`` (reference names) to archlab names through ``keys``, concatenating the ``fused`` groups
    along the output dimension and transposing names ending in ``transposed``; any reference tensor left
    unmapped (and not ending in ``ignored``) is an error, so a table that misses a weight cannot pass silently."""
    table = _expand(keys, n_layers)
    out: StateDict = {}
    used = set()
    for src, dst in table.items():
        if src in state:
            t = state[src]
            out[dst] = t.t() if src.endswith(transposed) and transposed else t
            used.add(src)
    for dst, srcs in (fused or {}).items():
        for i in range(n_layers):
            for p in ("weight", "bias"):
                names = [s.format(i=i, p=p) for s in srcs]
                if all(n in state for n in names):
                    out[dst.format(i=i, p=p)] = torch.cat([state[n] for n in names], dim=0)  # (H + 2 Hkv) * Dh rows
                    used.update(names)
    left = sorted(k for k in state if k not in used and not k.endswith(ignored))
    if left:
        raise ValueError(f"reference weights with no archlab counterpart: {left}")
    return out


def _load(model: nn.Module, state: StateDict) -> None:
    """Copy ``state`` into ``model`` strictly (every archlab weight must be covered), in float32."""
    target = model.state_dict()
    missing = sorted(set(target) - set(state))
    unexpected = sorted(set(state) - set(target))
    if missing or unexpected:
        raise ValueError(f"weight mapping mismatch: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        for name, tensor in target.items():
            if tensor.shape != state[name].shape:
                raise ValueError(f"{name}: archlab shape {tuple(tensor.shape)} != reference "
                                 f"{tuple(state[name].shape)}")
            tensor.copy_(state[name].to(tensor.dtype))


def _strip(state: StateDict, prefix: str) -> StateDict:
    return {k.removeprefix(prefix): v for k, v in state.items()}


# ---------------------------------------------------------------- BERT

BERT_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}


def bert_encoder_config(hf_config: Any) -> EncoderConfig:
    """``EncoderConfig`` from a transformers ``BertConfig`` (or its ``config.json`` as an object)."""
    c = hf_config
    if getattr(c, "position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"BERT position_embedding_type={c.position_embedding_type!r} is not supported "
                         "(only 'absolute')")
    if getattr(c, "is_decoder", False) or getattr(c, "add_cross_attention", False):
        raise ValueError("BERT as a decoder or with cross-attention is not supported")
    if c.hidden_act not in BERT_ACTIVATIONS:
        raise ValueError(f"BERT hidden_act={c.hidden_act!r} is not one of {', '.join(BERT_ACTIVATIONS)}")
    return EncoderConfig(
        vocab_size=c.vocab_size, max_seq_len=c.max_position_embeddings, type_vocab_size=c.type_vocab_size,
        d_model=c.hidden_size, n_layers=c.num_hidden_layers, n_heads=c.num_attention_heads,
        d_ff=c.intermediate_size, position="learned", norm_position="post",
        activation=BERT_ACTIVATIONS[c.hidden_act], dropout=c.hidden_dropout_prob, norm_eps=c.layer_norm_eps,
        init_std=c.initializer_range,
    )


def bert_state_dict(state: StateDict, n_layers: int) -> StateDict:
    """BERT weights (``BertModel`` names, with or without a ``bert.`` prefix) under ``Encoder``'s names."""
    state = _strip(state, "bert.")
    return map_state_dict(state, n_layers=n_layers, keys=BERT_KEYS, fused=BERT_QKV, ignored=BERT_IGNORED)


def convert_bert(model: Any) -> Encoder:
    """``transformers.BertModel`` -> ``Encoder``, returning ``BaseModelOutput(last_hidden_state)``."""
    config = bert_encoder_config(model.config)
    encoder = Encoder(config)
    _load(encoder, bert_state_dict(model.state_dict(), config.n_layers))
    return encoder.train(model.training)


# ---------------------------------------------------------------- GPT-2

GPT2_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}


def gpt2_lm_config(hf_config: Any, *, tied: bool) -> LMConfig:
    """``LMConfig`` from a transformers ``GPT2Config``."""
    c = hf_config
    if not c.scale_attn_weights or c.scale_attn_by_inverse_layer_idx:
        raise ValueError("GPT-2 with scale_attn_weights=False or scale_attn_by_inverse_layer_idx=True is not supported")
    if getattr(c, "add_cross_attention", False):
        raise ValueError("GPT-2 with cross-attention is not supported")
    if c.activation_function not in GPT2_ACTIVATIONS:
        raise ValueError(f"GPT-2 activation_function={c.activation_function!r} is not one of "
                         f"{', '.join(GPT2_ACTIVATIONS)}")
    return LMConfig(
        vocab_size=c.vocab_size, max_seq_len=c.n_positions, d_model=c.n_embd, n_layers=c.n_layer, n_heads=c.n_head,
        d_ff=c.n_inner, position="learned", norm="layernorm", mlp=GPT2_ACTIVATIONS[c.activation_function],
        bias=True, tie_embeddings=tied, dropout=c.resid_pdrop, norm_eps=c.layer_norm_epsilon,
        init_std=c.initializer_range,
    )


def gpt2_state_dict(state: StateDict, n_layers: int) -> StateDict:
    """GPT-2 weights (``GPT2Model`` names, or ``GPT2LMHeadModel`` ones with ``transformer.``) under archlab's."""
    state = _strip(state, "transformer.")
    keys = {**GPT2_KEYS, **LM_HEAD_KEYS}
    return map_state_dict(state, n_layers=n_layers, keys=keys, transposed=GPT2_CONV1D, ignored=GPT2_IGNORED)


def _tied(model: Any) -> bool:
    head = model.get_output_embeddings()
    return head is not None and head.weight is model.get_input_embeddings().weight


def convert_gpt2(model: Any) -> DecoderModel:
    """``transformers.GPT2Model`` -> ``DecoderModel`` (``last_hidden_state``, after ``ln_f``), or
    ``GPT2LMHeadModel`` -> ``DecoderLM`` (``logits``)."""
    config = gpt2_lm_config(model.config, tied=_tied(model))
    archlab_model = DecoderLM(config) if model.get_output_embeddings() is not None else DecoderModel(config)
    _load(archlab_model, gpt2_state_dict(model.state_dict(), config.n_layers))
    return archlab_model.train(model.training)


# ---------------------------------------------------------------- Llama

ROPE_SCALINGS = {"default": "none", "linear": "linear", "llama3": "llama3"}


def _rope_parameters(c: Any) -> dict[str, Any]:
    """RoPE settings from a ``LlamaConfig`` of transformers 5 (``rope_parameters``) or 4 (``rope_theta``,
    ``rope_scaling``)."""
    params = getattr(c, "rope_parameters", None)
    if params:
        return dict(params)
    scaling = dict(getattr(c, "rope_scaling", None) or {})
    return {"rope_theta": c.rope_theta, "rope_type": scaling.pop("rope_type", scaling.pop("type", "default")),
            **scaling}


def llama_lm_config(hf_config: Any, *, tied: bool) -> LMConfig:
    """``LMConfig`` from a transformers ``LlamaConfig``."""
    c = hf_config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    if head_dim * c.num_attention_heads != c.hidden_size:
        raise ValueError(f"Llama head_dim={head_dim} with num_attention_heads={c.num_attention_heads} != "
                         f"hidden_size={c.hidden_size} is not supported")
    if c.hidden_act != "silu":
        raise ValueError(f"Llama hidden_act={c.hidden_act!r} is not supported (only 'silu')")
    attention_bias, mlp_bias = bool(c.attention_bias), bool(getattr(c, "mlp_bias", False))
    if attention_bias != mlp_bias:
        raise ValueError(f"Llama attention_bias={attention_bias} with mlp_bias={mlp_bias} is not supported "
                         "(archlab has one bias setting)")
    rope = _rope_parameters(c)
    kind = rope.get("rope_type", "default")
    if kind not in ROPE_SCALINGS:
        raise ValueError(f"Llama rope_type={kind!r} is not supported; supported: {', '.join(ROPE_SCALINGS)}")
    scaling = {}
    if kind != "default":
        scaling = dict(rope_scaling=ROPE_SCALINGS[kind], rope_factor=float(rope["factor"]))
    if kind == "llama3":
        scaling.update(rope_low_freq_factor=float(rope["low_freq_factor"]),
                       rope_high_freq_factor=float(rope["high_freq_factor"]),
                       rope_original_max_len=int(rope["original_max_position_embeddings"]))
    return LMConfig(
        vocab_size=c.vocab_size, max_seq_len=c.max_position_embeddings, d_model=c.hidden_size,
        n_layers=c.num_hidden_layers, n_heads=c.num_attention_heads, n_kv_heads=c.num_key_value_heads,
        d_ff=c.intermediate_size, position="rope", norm="rmsnorm", mlp="swiglu", bias=attention_bias,
        tie_embeddings=tied, dropout=c.attention_dropout, norm_eps=c.rms_norm_eps,
        rope_base=float(rope["rope_theta"]), init_std=c.initializer_range, **scaling,
    )


def llama_state_dict(state: StateDict, n_layers: int) -> StateDict:
    """Llama weights (``LlamaModel`` names, or ``LlamaForCausalLM`` ones with ``model.``) under archlab's."""
    state = _strip(state, "model.")
    keys = {**LLAMA_KEYS, **LM_HEAD_KEYS}
    return map_state_dict(state, n_layers=n_layers, keys=keys, fused=LLAMA_QKV, ignored=("rotary_emb.inv_freq",))


def convert_llama(model: Any) -> DecoderModel:
    """``transformers.LlamaModel`` -> ``DecoderModel`` (``last_hidden_state``, after the final RMSNorm), or
    ``LlamaForCausalLM`` -> ``DecoderLM`` (``logits``)."""
    config = llama_lm_config(model.config, tied=_tied(model))
    archlab_model = DecoderLM(config) if model.get_output_embeddings() is not None else DecoderModel(config)
    _load(archlab_model, llama_state_dict(model.state_dict(), config.n_layers))
    return archlab_model.train(model.training)


TRANSFORMERS: dict[str, Callable[[Any], nn.Module]] = {
    "BertModel": convert_bert,
    "GPT2Model": convert_gpt2,
    "GPT2LMHeadModel": convert_gpt2,
    "LlamaModel": convert_llama,
    "LlamaForCausalLM": convert_llama,
}
