"""A reward model: a sequence backbone with a scalar head, ``(input_ids, attention_mask) -> (B,)`` rewards.

Stiennon et al. 2020 and Ouyang et al. 2022 (InstructGPT, Section 3.5) take a pretrained language model, drop
its unembedding and put a linear head ``r = w^T h`` on the final hidden state of the last token of the
sequence. With an encoder (Reimers and Gurevych 2019, Sentence-BERT) the sequence is summarised by the mean of
its hidden states over the real tokens, as sentence-transformers' all-MiniLM-L6-v2 pools, and the head reads
that.

The backbone is any archlab sequence model whose ``forward(input_ids, attention_mask=...)`` returns an object
with ``last_hidden_state`` (B, L, D): a decoder (``pooling="last"``) or an encoder (``pooling="pooled"``). The
reward model does not build it: ``archlab.interop.from_transformers`` or ``load_pretrained`` gives one, and
``save_pretrained`` stores the backbone's class and config beside the head so ``from_pretrained`` rebuilds it.

Which token is "last": with ``pad_token_id=None`` the rightmost position whose ``attention_mask`` is 1 (the
last real token of a right-padded row; the final position without a mask); with ``pad_token_id`` set, the
rightmost position whose id is not ``pad_token_id`` (position 0 when every id is padding), as Hugging Face's
``*ForSequenceClassification`` reads it, so that converted reward heads agree with theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from archlab.core.io import PretrainedMixin, model_class
from archlab.core.validation import check_at_least, check_choices
from archlab.errors import UserError

Pooling = Literal["last", "pooled"]
Tokenizer = Literal["bytes", "minilm"]


@dataclass
class RewardConfig:
    """What rebuilds a saved reward model: the backbone's class path (``"archlab.<family>.<module>:<Class>"``;
    checked when a save is loaded)
    and its config, the hidden width ``d_model`` the head reads, the pooling, the padding id of the last-token
    rule (None: the attention mask decides) and the tokenizer its texts are encoded with (``"bytes"``: UTF-8
    bytes; ``"minilm"``: all-MiniLM-L6-v2's word pieces)."""

    backbone_class: str
    backbone: Any
    d_model: int
    pooling: Pooling = "last"
    pad_token_id: int | None = None
    tokenizer: Tokenizer = "bytes"

    def __post_init__(self) -> None:
        check_at_least(self, 1, "d_model")
        check_choices(self, {"pooling": ("last", "pooled"), "tokenizer": ("bytes", "minilm")})
        if self.pad_token_id is not None and self.pad_token_id < 0:
            raise ValueError(f"pad_token_id={self.pad_token_id} must be >= 0 (or None for the attention mask)")


def last_token_index(
    input_ids: torch.Tensor, attention_mask: torch.Tensor | None, pad_token_id: int | None
) -> torch.Tensor:
    """The position (B,) of each row's last token: the rightmost id that is not ``pad_token_id`` when it is
    set, else the rightmost 1 of ``attention_mask`` (the final position when the mask is None)."""
    batch, length = input_ids.shape
    if pad_token_id is not None:
        real = input_ids != pad_token_id  # (B, L)
    elif attention_mask is not None:
        real = attention_mask.bool()  # (B, L)
    else:
        return torch.full((batch,), length - 1, dtype=torch.long, device=input_ids.device)
    positions = torch.arange(length, device=input_ids.device)  # (L,)
    return (positions * real.long()).argmax(dim=-1)  # (B,)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """The mean of ``hidden`` (B, L, D) over the real tokens of ``attention_mask`` (B, L) -> (B, D)."""
    if attention_mask is None:
        return hidden.mean(dim=1)
    weights = attention_mask.to(hidden.dtype)[:, :, None]  # (B, L, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1e-9)  # (B, D)


class RewardModel(PretrainedMixin, nn.Module):
    """``backbone`` + a bias-free linear head ``score`` (D -> 1): token ids (B, L) -> rewards (B,)."""

    config_class = RewardConfig

    def __init__(
        self,
        backbone: nn.Module,
        d_model: int,
        *,
        pooling: Pooling = "last",
        pad_token_id: int | None = None,
        tokenizer: Tokenizer = "bytes",
    ) -> None:
        super().__init__()
        backbone_class = f"{type(backbone).__module__}:{type(backbone).__qualname__}"
        self._config_fields = dict(backbone_class=backbone_class, d_model=d_model, pooling=pooling,
                                   pad_token_id=pad_token_id, tokenizer=tokenizer)
        RewardConfig(backbone=None, **self._config_fields)  # validate the fields now
        self.backbone = backbone
        self.score = nn.Linear(d_model, 1, bias=False)
        nn.init.normal_(self.score.weight, std=1.0 / (d_model + 1) ** 0.5)  # Stiennon et al. 2020, Appendix C.2

    @property
    def config(self) -> RewardConfig:
        return RewardConfig(backbone=getattr(self.backbone, "config", None), **self._config_fields)

    @property
    def pooling(self) -> Pooling:
        return self._config_fields["pooling"]

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The vector the head reads, (B, D): the last token's hidden state, or the masked mean."""
        hidden = self.backbone(input_ids, attention_mask=attention_mask).last_hidden_state  # (B, L, D)
        if self.pooling == "pooled":
            return mean_pool(hidden, attention_mask)
        index = last_token_index(input_ids, attention_mask, self._config_fields["pad_token_id"])  # (B,)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), index]  # (B, D)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Rewards (B,) for ``input_ids`` (B, L) with ``attention_mask`` (B, L), 1 for real tokens."""
        return self.score(self.features(input_ids, attention_mask)).squeeze(-1)  # (B, 1) -> (B,)

    @classmethod
    def config_from_saved(cls, values: dict[str, Any]) -> RewardConfig:
        values = dict(values)
        backbone_cls = _backbone_class(str(values.get("backbone_class", "")))
        backbone = values.pop("backbone", None)
        if not isinstance(backbone, dict):
            raise UserError("'backbone' must be the backbone's config object")
        return RewardConfig(backbone=backbone_cls.config_from_saved(backbone), **values)

    @classmethod
    def from_config(cls, config: RewardConfig) -> "RewardModel":
        """A freshly initialised reward model of ``config`` (the backbone built from its class and config)."""
        backbone = _backbone_class(config.backbone_class)(config.backbone)
        return cls(backbone, config.d_model, pooling=config.pooling, pad_token_id=config.pad_token_id,
                   tokenizer=config.tokenizer)


def _backbone_class(path: str) -> type:
    """The archlab model class at ``"archlab.<module>:<Class>"``, which must load from a saved config."""
    return model_class(path, where="backbone_class")

