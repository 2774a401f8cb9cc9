"""Byte-level language modelling on text, for ``archlab train lm`` with any family's language model.

``LMTask`` is the task the training loop runs (``archlab.train.task``): the batch of step ``s`` is
``TokenDataset.get_batch("train", s, seed=...)`` (a pure function of seed and step), the loss is the mean
next-token cross-entropy the model returns (``model(inputs, labels=targets).loss``, of ``data.context`` bytes
per sequence) logged with what the output adds (``aux_loss`` and ``ce`` apart, every entry of ``stats``), and
evaluation reports
``val_loss`` (nats per byte) and ``val_bpb`` (bits per byte, ``val_loss / ln 2``: every token is one byte).
An ``LMRecipe`` pairs a model class with a config preset and the defaults of a small CPU run; each family's
``recipes.py`` makes its own and exports it as an architecture of the ``lm`` target (``archlab.train.recipe``):
``--data PATH`` is its option, ``sample_text`` (a prompt continued, bytes in and bytes out, with the model's
``generate``) its sampler.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Optional

import torch
from torch import Tensor

from archlab.data.text import (BYTE_VOCAB_SIZE, DEFAULT_EXTENSIONS, decode_bytes, encode_bytes, stdlib_corpus,
                               text_corpus)
from archlab.data.tokens import TokenDataset
from archlab.errors import UserError
from archlab.train.config import OptimConfig, RunConfig, TrainConfig
from archlab.train.task import LossOutput, Task


@dataclass
class TextDataConfig:
    """Where the text comes from: ``path`` (a text file, or a folder of files ending in one of ``extensions``,
    comma-separated and matched case-insensitively) or, when it is None, the built-in ``corpus`` (the Python
    standard library's source). ``max_bytes`` caps train plus validation bytes read from disk (0: no cap); ``val_fraction`` is the share held out for evaluation; ``context`` is the
    length in bytes of each training sequence (``--set data.context=256``)."""

    path: Optional[str] = None
    extensions: str = ",".join(e.lstrip(".") for e in DEFAULT_EXTENSIONS)
    corpus: Literal["stdlib"] = "stdlib"
    max_bytes: int = 2_000_000
    val_fraction: float = 0.05
    context: int = 128

    def __post_init__(self) -> None:
        if self.context < 1:
            raise ValueError(f"context={self.context} must be >= 1")
        if self.max_bytes < 0:
            raise ValueError(f"max_bytes={self.max_bytes} must be >= 0 (0: no cap)")
        if not 0.0 < self.val_fraction <= 0.5:
            raise ValueError(f"val_fraction={self.val_fraction} must be in (0, 0.5]")
        if self.corpus != "stdlib":
            raise ValueError(f"corpus={self.corpus!r} must be 'stdlib'")


def load_text(config: TextDataConfig) -> TokenDataset:
    """The byte-level corpus that ``config`` names."""
    cap = config.max_bytes or None
    if config.path is None:
        return stdlib_corpus(max_bytes=cap, val_fraction=config.val_fraction)
    return text_corpus(config.path, extensions=config.extensions, max_bytes=cap, val_fraction=config.val_fraction)


class LMTask(Task):
    """Next-byte prediction with a language model: one player, batches ``(inputs, targets)`` of (B, L)."""

    def __init__(self, model: torch.nn.Module, data: TokenDataset, *, batch_size: int, context: int, seed: int,
                 eval_batches: int) -> None:
        self.model, self.data = model, data
        self.batch_size, self.context, self.seed, self.n_eval_batches = batch_size, context, seed, eval_batches

    def train_batch(self, step: int) -> tuple[Tensor, Tensor]:
        return self.data.get_batch("train", step, batch_size=self.batch_size, context=self.context, seed=self.seed)

    def loss(self, batch: tuple[Tensor, Tensor], player: str) -> LossOutput:
        """The model's loss, logging what its output reports beside it: ``aux_loss`` (already in the loss) with
        the cross-entropy ``ce`` without it, and every entry of ``stats``."""
        inputs, targets = batch
        out = self.model(inputs, labels=targets)
        logs = {}
        aux = getattr(out, "aux_loss", None)
        if aux is not None:
            logs.update(ce=out.loss.detach() - aux.detach(), aux_loss=aux)
        logs.update(getattr(out, "stats", None) or {})
        return LossOutput(out.loss, logs)

    def eval_batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        return self.data.eval_batches("val", batch_size=self.batch_size, context=self.context,
                                      max_batches=self.n_eval_batches)

    def evaluate(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        loss = self.loss(batch, "model").loss.float()
        return {"val_loss": loss, "val_bpb": loss / math.log(2)}

    def batch_tokens(self, batch: tuple[Tensor, Tensor]) -> int:
        return batch[0].numel()


@dataclass
class LMRecipe:
    """A model class and its config preset (``model_config(**overrides)``) with the defaults of a small CPU run;
    a ``Recipe`` of ``archlab.train.recipe`` for the ``lm`` target."""

    summary = "a byte-level language model on text"

    name: str
    model_class: Callable[[Any], torch.nn.Module]
    model_config: Callable[..., Any]
    model_defaults: dict = field(default_factory=lambda: dict(d_model=128, n_layers=4, n_heads=4, max_seq_len=256))

    def default_config(self) -> RunConfig:
        return RunConfig(
            model=self.model_config(vocab_size=BYTE_VOCAB_SIZE, **self.model_defaults),
            data=TextDataConfig(context=128),
            optim=OptimConfig(lr=1e-3, warmup_steps=50),
            train=TrainConfig(steps=1000, batch_size=16),
        )

    def build_task(self, config: RunConfig) -> LMTask:
        """The model (initialised from torch's global RNG: seed first) and data of ``config``."""
        model_cfg, train, context = config.model, config.train, config.data.context
        if model_cfg.vocab_size < BYTE_VOCAB_SIZE:
            raise ValueError(f"model.vocab_size={model_cfg.vocab_size} must be >= {BYTE_VOCAB_SIZE} for byte-level text")
        max_len = getattr(model_cfg, "max_seq_len", None)
        if max_len is not None and context > max_len:
            raise ValueError(f"data.context={context} must be <= model.max_seq_len={model_cfg.max_seq_len}; "
                             f"also --set model.max_seq_len={context}")
        data = load_text(config.data)
        for split in ("train", "val"):
            if data.split(split).numel() <= context:
                raise UserError(f"the {split} split of {data.name or 'the corpus'} has {data.split(split).numel()} "
                                f"bytes, too few for data.context={context}; use more text or a "
                                "smaller --set data.context")
        return LMTask(self.model_class(model_cfg), data, batch_size=train.batch_size, context=context,
                      seed=train.seed, eval_batches=train.eval_batches)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data", metavar="PATH",
                            help="a text file or folder (default: the Python standard library's source)")

    def apply_arguments(self, config: RunConfig, args: argparse.Namespace) -> RunConfig:
        """``config`` with ``--data`` as ``data.path``."""
        if args.data is None:
            return config
        if not Path(args.data).expanduser().exists():
            raise UserError(f"--data {args.data!r} does not exist; pass a text file or a folder of text files")
        return dataclasses.replace(config, data=dataclasses.replace(config.data, path=args.data))

    def add_sample_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--prompt", required=True, metavar="TEXT", help="the text the model continues")
        parser.add_argument("--tokens", type=int, default=200, metavar="N", help="bytes to generate (default: 200)")
        parser.add_argument("--temperature", type=float, default=0.8, metavar="T",
                            help="divides the logits; 0 is greedy, higher is more varied (default: 0.8)")
        parser.add_argument("--top-k", type=int, default=None, metavar="K",
                            help="keep the K likeliest bytes (default: every byte)")
        parser.add_argument("--top-p", type=float, default=None, metavar="P",
                            help="keep the likeliest bytes up to probability P, nucleus sampling (default: 1, off)")

    def sample(self, model: torch.nn.Module, args: argparse.Namespace) -> str:
        """The prompt and its continuation by ``model``, for ``archlab sample lm``."""
        if args.tokens < 0:
            raise UserError(f"--tokens {args.tokens} must be >= 0")
        if not hasattr(model, "generate"):
            raise UserError(f"{args.ckpt} holds a {type(model).__name__}, which does not generate text")
        return sample_text(model, args.prompt, max_new_tokens=args.tokens, temperature=args.temperature,
                           top_k=args.top_k, top_p=args.top_p, seed=args.seed)


@torch.no_grad()
def sample_text(model: torch.nn.Module, prompt: str, *, max_new_tokens: int = 200, temperature: float = 1.0,
                top_k: Optional[int] = None, top_p: Optional[float] = None, seed: int = 0) -> str:
    """Continue ``prompt`` by ``max_new_tokens`` bytes with ``model.generate``; return prompt plus continuation."""
    if not prompt:
        raise UserError("--prompt must not be empty: the model continues a text")
    ids = encode_bytes(prompt)[None, :]  # (1, L)
    max_len = getattr(getattr(model, "config", None), "max_seq_len", None)
    if max_len is not None and ids.shape[1] + max_new_tokens > max_len:
        raise UserError(f"the prompt ({ids.shape[1]} bytes) plus --tokens {max_new_tokens} exceed the model's "
                        f"max_seq_len={max_len}; shorten the prompt or ask for fewer tokens")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    model.eval()
    out = model.generate(ids.to(device), max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                         generator=generator)  # (1, L + max_new_tokens)
    return decode_bytes(out[0].cpu())
