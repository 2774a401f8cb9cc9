"""The Mamba language model, pure or a Jamba-style hybrid that interleaves attention layers, from one config.

- Mamba LM (Gu and Dao 2023, Sec. 3.4 and App. E.2): token embedding, pre-norm residual blocks whose mixer is
  the Mamba block (``archlab.ssm.mamba``) and which have no MLP, a final RMSNorm and a head tied to the
  embedding. This is the layout of mamba_ssm's ``MambaLMHeadModel`` and of Hugging Face's ``MambaForCausalLM``.
- Hybrid (Lieber et al. 2024, "Jamba"): the same stack in which ``config.layers`` makes some layers attention
  (Jamba: one in eight, at offset 4: ``interleaved_layers(8, attention_every=8, attention_offset=4)``), each
  layer optionally followed by a feed-forward (Jamba: an MLP or MoE in every layer; here SwiGLU or none).
  Attention needs no positional encoding because the Mamba layers carry order (Jamba Sec. 6.3); ``position``
  can add RoPE or absolute sinusoidal positions (Vaswani et al. 2017, embeddings scaled by sqrt(d_model)), the
  latter making an all-attention stack the absolute-position baseline of the length-extrapolation claim.
  ``attn_conv=K`` puts a short causal depthwise convolution (kernel K) in front of each attention layer, the
  Based recipe (Arora et al. 2024, Sec. 3; Zoology's BaseConv): each position sees its K - 1 predecessors, so
  a key-value pair is visible at the value's position and one attention layer can do associative recall.

Initialisation (mamba_ssm ``_init_weights``): embedding ``N(0, init_std)``, linear biases zero, the Mamba
mixer's own init, and every residual output projection divided by ``sqrt(n_residuals_per_layer * n_layers)``
(GPT-2's rescaled pre-norm residuals).

Decoding: ``init_state(batch)`` holds one ``MambaState`` (constant size) or ``KVCache`` per layer;
``step(tokens, state)`` steps every block (``Block.step``); ``forward(ids, state=...)`` consumes a chunk;
``generate`` is ``core.lm``'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Union

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.attention import KVCache, MultiHeadAttention
from archlab.core.block import Block
from archlab.core.io import PretrainedMixin, config_from_dict
from archlab.core.lm import GenerationMixin, next_token_loss
from archlab.core.mlp import SwiGLU
from archlab.core.norm import RMSNorm
from archlab.core.outputs import BaseModelOutput, LMOutput
from archlab.core.positional import RotaryEmbedding, sincos_1d
from archlab.core.tokens import check_token_ids
from archlab.core.validation import (check_at_least, check_choices, check_divisible, check_optional_at_least,
                                     check_positive)
from archlab.ssm.mamba import MambaMixer, MambaState

LAYER_KINDS = ("mamba", "attention")


def interleaved_layers(n_layers: int, *, attention_every: int, attention_offset: int = 0) -> tuple[str, ...]:
    """``n_layers`` layer kinds, layer ``i`` attention when ``i % attention_every == attention_offset`` and Mamba
    otherwise: Jamba's layout is ``interleaved_layers(8, attention_every=8, attention_offset=4)``."""
    check_at_least(dict(n_layers=n_layers, attention_every=attention_every), 1)
    if not 0 <= attention_offset < attention_every:
        raise ValueError(f"attention_offset={attention_offset} must be in [0, attention_every={attention_every})")
    return tuple("attention" if i % attention_every == attention_offset else "mamba" for i in range(n_layers))


@dataclass
class MambaLMConfig:
    """Configuration of ``MambaLM``: ``layers`` names each layer's mixer, bottom to top, ``"mamba"`` or
    ``"attention"`` (see ``interleaved_layers``). ``dt_rank=None`` means ceil(d_model / 16); ``d_ff=None`` means
    the SwiGLU width 8/3 * d_model rounded up to a multiple of 32 (used only when ``mlp="swiglu"``).
    ``n_heads``, ``rope_base`` and ``attn_conv`` shape the attention layers; ``position`` adds positions
    (``"sincos"`` to the embeddings, ``"rope"`` in attention); ``max_seq_len`` bounds the sequence and sizes the
    KV caches (``None``: unbounded, for stacks without attention)."""

    vocab_size: int = 256
    d_model: int = 128
    layers: tuple[str, ...] = ("mamba",) * 4
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int | None = None
    mlp: Literal["none", "swiglu"] = "none"
    d_ff: int | None = None
    bias: bool = False
    conv_bias: bool = True
    tie_embeddings: bool = True
    norm_eps: float = 1e-5
    dt_min: float = 1e-3
    dt_max: float = 0.1
    dt_init_floor: float = 1e-4
    init_std: float = 0.02
    scan: Literal["fast", "ref"] = "fast"
    n_heads: int = 4
    position: Literal["none", "rope", "sincos"] = "none"
    max_seq_len: int | None = None
    rope_base: float = 10000.0
    attn_conv: int = 0

    def __post_init__(self) -> None:
        self.layers = tuple(self.layers)
        if not self.layers:
            raise ValueError("layers=() must name at least one layer")
        for i, kind in enumerate(self.layers):
            if kind not in LAYER_KINDS:
                raise ValueError(f"layers[{i}]={kind!r} is not one of {', '.join(LAYER_KINDS)}")
        check_at_least(self, 1, "vocab_size", "d_model", "d_state", "d_conv", "expand", "n_heads")
        check_optional_at_least(self, 1, "dt_rank", "d_ff", default="the default")
        check_optional_at_least(self, 1, "max_seq_len", default="no bound")
        check_choices(self, {"mlp": ("none", "swiglu"), "scan": ("fast", "ref"),
                             "position": ("none", "rope", "sincos")})
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"dt_min={self.dt_min} and dt_max={self.dt_max} must satisfy 0 < dt_min <= dt_max")
        check_positive(self, "norm_eps", "init_std", "dt_init_floor")
        if self.position == "sincos" and self.d_model % 2:
            raise ValueError(f"d_model={self.d_model} must be even for position='sincos'")
        if not 1 < self.rope_base < math.inf:
            raise ValueError(f"rope_base={self.rope_base} must be > 1 and finite")
        check_at_least(self, 0, "attn_conv", note="(0: no convolution before attention)")
        if "attention" in self.layers:
            check_divisible(self, "d_model", "n_heads")
            if self.position == "rope" and (self.d_model // self.n_heads) % 2:
                raise ValueError(f"head_dim={self.d_model // self.n_heads} (d_model/n_heads) must be even for "
                                 "position='rope'")
            if self.max_seq_len is None:
                raise ValueError("max_seq_len=None: attention layers need a bound (it sizes their KV caches)")

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def ff_width(self) -> int:
        return self.d_ff if self.d_ff is not None else -(-(8 * self.d_model // 3) // 32) * 32


@dataclass
class ConvAttentionState:
    """Decoding state of a ``ConvAttention`` layer: the KV cache and the last ``K - 1`` inputs (B, D, K - 1)."""

    cache: KVCache
    conv: torch.Tensor


class ConvAttention(nn.Module):
    """A short causal depthwise convolution, then attention (Based, Arora et al. 2024): (B, L, D) -> (B, L, D)."""

    def __init__(self, *, d_model: int, kernel: int, attention: MultiHeadAttention) -> None:
        super().__init__()
        if kernel < 1:
            raise ValueError(f"kernel={kernel} must be >= 1")
        self.kernel = kernel
        self.conv = nn.Conv1d(d_model, d_model, kernel_size=kernel, groups=d_model, padding=kernel - 1)
        self.attention = attention

    def forward(self, x: torch.Tensor, *, cache: ConvAttentionState | None = None,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        length = x.shape[1]
        if length == 0:
            return x.new_zeros(x.shape)  # (B, 0, D): nothing to mix, and a cache stays as it was
        xt = x.transpose(1, 2)  # (B, L, D) -> (B, D, L)
        if cache is None:
            xc = self.conv(xt)[..., :length]  # (B, D, L + K - 1) -> (B, D, L): causal
        else:
            window = torch.cat((cache.conv, xt), dim=-1)  # (B, D, K - 1 + L)
            xc = F.conv1d(window, self.conv.weight, self.conv.bias, groups=xt.shape[1])  # (B, D, L)
            cache.conv = window[..., window.shape[-1] - (self.kernel - 1):]  # (B, D, K - 1)
        kv = None if cache is None else cache.cache
        return self.attention(xc.transpose(1, 2), cache=kv, positions=positions)  # (B, D, L) -> (B, L, D)

    def step(self, x: torch.Tensor, state: ConvAttentionState) -> tuple[torch.Tensor, ConvAttentionState]:
        """One position ``x`` (B, D) -> (B, D); ``state`` is advanced and returned."""
        return self.forward(x[:, None], cache=state)[:, 0], state  # (B, 1, D) -> (B, D)


LayerState = Union[MambaState, KVCache, ConvAttentionState]


@dataclass
class MambaLMState:
    """Decoding state: one ``MambaState``, ``KVCache`` or ``ConvAttentionState`` per layer and the number of
    positions consumed."""

    layers: list[LayerState]
    position: int = 0


class MambaBackbone(PretrainedMixin, nn.Module):
    """Embedding, blocks and final norm: ids (B, L) -> ``BaseModelOutput(last_hidden_state (B, L, D))`` after the
    final norm (Hugging Face's ``MambaModel``, whose ``last_hidden_state`` this equals)."""

    config_class = MambaLMConfig

    def __init__(self, config: MambaLMConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embedding = nn.Embedding(c.vocab_size, c.d_model)
        rope = None
        if c.position == "rope" and "attention" in c.layers:
            rope = RotaryEmbedding(c.d_model // c.n_heads, max_len=c.max_seq_len, base=c.rope_base)
        self.blocks = nn.ModuleList(self._block(kind, rope) for kind in c.layers)
        self.norm_f = RMSNorm(c.d_model, eps=c.norm_eps)
        self._init_weights()

    def _block(self, kind: str, rope: RotaryEmbedding | None) -> Block:
        c = self.config
        if kind == "mamba":
            mixer: nn.Module = MambaMixer(d_model=c.d_model, d_state=c.d_state, d_conv=c.d_conv, expand=c.expand,
                                          dt_rank=c.dt_rank, dt_min=c.dt_min, dt_max=c.dt_max,
                                          dt_init_floor=c.dt_init_floor, bias=c.bias, conv_bias=c.conv_bias,
                                          scan=c.scan)
        else:
            mixer = MultiHeadAttention(d_model=c.d_model, n_heads=c.n_heads, bias=c.bias, causal=True, rope=rope)
            if c.attn_conv:
                mixer = ConvAttention(d_model=c.d_model, kernel=c.attn_conv, attention=mixer)
        ff = SwiGLU(d_model=c.d_model, d_hidden=c.ff_width, bias=c.bias) if c.mlp == "swiglu" else None
        return Block(d_model=c.d_model, mixer=mixer, feed_forward=ff, norm="rmsnorm", norm_eps=c.norm_eps)

    @classmethod
    def config_from_saved(cls, values: dict[str, Any]) -> MambaLMConfig:
        """Also reads saves from before ``layers``, which gave ``n_layers`` (all Mamba)."""
        if "layers" not in values and "n_layers" in values:
            values = {**values, "layers": ("mamba",) * values["n_layers"]}
            del values["n_layers"]
        return config_from_dict(MambaLMConfig, values)

    @torch.no_grad()
    def _init_weights(self) -> None:
        c = self.config
        nn.init.normal_(self.embedding.weight, std=c.init_std)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear) and module.bias is not None and not name.endswith("dt_proj"):
                nn.init.zeros_(module.bias)
        residuals_per_layer = 2 if c.mlp == "swiglu" else 1
        shrink = math.sqrt(residuals_per_layer * c.n_layers)
        for block in self.blocks:
            mixer = block.mixer.attention if isinstance(block.mixer, ConvAttention) else block.mixer
            out = mixer.out_proj if isinstance(mixer, MambaMixer) else mixer.o_proj
            out.weight.div_(shrink)
            if block.feed_forward is not None:
                block.feed_forward.down.weight.div_(shrink)

    def check_ids(self, input_ids: torch.Tensor, *, past: int = 0) -> None:
        """ValueError unless ``input_ids`` is (B, L) of valid ids that fit after ``past`` positions."""
        check_token_ids(input_ids, vocab_size=self.config.vocab_size, max_len=self.config.max_seq_len, past=past)

    def _embed(self, input_ids: torch.Tensor, past: int) -> torch.Tensor:
        h = self.embedding(input_ids)  # (B, L, D)
        if self.config.position == "sincos":
            # Vaswani et al. 2017, Sec. 3.4: embeddings times sqrt(d_model) before the positions are added, so
            # that the unit-amplitude sin-cos table does not drown the token (embeddings start at init_std).
            table = sincos_1d(past + input_ids.shape[1], self.config.d_model)[past:]  # (L, D)
            h = h * math.sqrt(self.config.d_model) + table.to(h)
        return h

    def forward(self, input_ids: torch.Tensor, *, state: MambaLMState | None = None) -> BaseModelOutput:
        """Hidden states (B, L, D) of ``input_ids`` (B, L); with ``state`` the tokens continue it (updated).
        Attention layers take their positions from their KV cache (from 0 without one)."""
        past = state.position if state is not None else 0
        self.check_ids(input_ids, past=past)
        h = self._embed(input_ids, past)
        for i, block in enumerate(self.blocks):
            layer_state = state.layers[i] if state is not None else None
            if isinstance(block.mixer, MambaMixer):
                h = block(h, state=layer_state)
            else:
                h = block(h, cache=layer_state)
        if state is not None:
            state.position += input_ids.shape[1]
        return BaseModelOutput(last_hidden_state=self.norm_f(h))

    def init_state(self, batch: int, *, max_len: int | None = None) -> MambaLMState:
        """The empty decoding state of ``batch`` sequences; attention layers cache up to ``max_len``
        (default ``max_seq_len``) positions, Mamba layers hold a constant-size state."""
        param = self.embedding.weight
        max_len = max_len or self.config.max_seq_len
        layers: list[LayerState] = []
        for block in self.blocks:
            if isinstance(block.mixer, MambaMixer):
                layers.append(block.mixer.init_state(batch, dtype=param.dtype, device=param.device))
            else:
                attention = block.mixer.attention if isinstance(block.mixer, ConvAttention) else block.mixer
                cache = KVCache(batch=batch, n_kv_heads=attention.n_kv_heads, head_dim=attention.head_dim,
                                max_len=max_len, dtype=param.dtype, device=param.device)
                if isinstance(block.mixer, ConvAttention):
                    cache = ConvAttentionState(cache=cache, conv=torch.zeros(
                        batch, self.config.d_model, block.mixer.kernel - 1, dtype=param.dtype, device=param.device))
                layers.append(cache)
        return MambaLMState(layers=layers)

    def step(self, tokens: torch.Tensor, state: MambaLMState) -> tuple[torch.Tensor, MambaLMState]:
        """Consume one token per sequence, ``tokens`` (B,); return its hidden state (B, D) and the state."""
        if tokens.dim() != 1:
            raise ValueError(f"step takes one token per sequence, shape (batch,), got {tuple(tokens.shape)}")
        self.check_ids(tokens[:, None], past=state.position)
        h = self._embed(tokens[:, None], state.position)[:, 0]  # (B, 1, D) -> (B, D)
        for block, layer_state in zip(self.blocks, state.layers):
            h, _ = block.step(h, layer_state)
        state.position += 1
        return self.norm_f(h), state


class MambaLM(GenerationMixin, PretrainedMixin, nn.Module):
    """Mamba language model, with attention layers where ``config.layers`` says: ids (B, L) ->
    ``LMOutput(logits (B, L, V), loss)``."""

    config_class = MambaLMConfig

    def __init__(self, config: MambaLMConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = MambaBackbone(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.backbone.embedding.weight
        else:
            nn.init.normal_(self.lm_head.weight, std=config.init_std)

    @classmethod
    def config_from_saved(cls, values: dict[str, Any]) -> MambaLMConfig:
        """See ``MambaBackbone.config_from_saved``."""
        return MambaBackbone.config_from_saved(values)

    def num_parameters(self) -> int:
        """Parameter count, tied weights once."""
        return sum(p.numel() for p in self.parameters())

    def check_ids(self, input_ids: torch.Tensor, *, past: int = 0) -> None:
        """See ``MambaBackbone.check_ids``."""
        self.backbone.check_ids(input_ids, past=past)

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor | None = None, *,
                state: MambaLMState | None = None) -> LMOutput:
        """Logits for ``input_ids`` (B, L); ``labels`` (B, L) are the targets (-100 ignored); with ``state``
        the tokens continue the decoded sequence and the state is updated."""
        logits = self.lm_head(self.backbone(input_ids, state=state).last_hidden_state)  # (B, L, V)
        loss = None if labels is None else next_token_loss(logits, labels)
        return LMOutput(logits=logits, loss=loss)

    def init_state(self, batch: int, *, max_len: int | None = None) -> MambaLMState:
        """See ``MambaBackbone.init_state``."""
        return self.backbone.init_state(batch, max_len=max_len)

    def step(self, tokens: torch.Tensor, state: MambaLMState) -> tuple[torch.Tensor, MambaLMState]:
        """Consume one token per sequence, ``tokens`` (B,); return next-token logits (B, V) and the state."""
        h, state = self.backbone.step(tokens, state)
        return self.lm_head(h), state
