"""The arena's recall columns: multi-query associative recall (MQAR) at a fixed training budget.

The task is the one of the ``ssm.recall-gap`` claim (Arora et al. 2023, Zoology, Sec. 3 and Fig. 2; Arora et al.
2024, Based, Fig. 2), from the shared generator ``archlab.data.synthetic.mqar``: sequences of 64 byte ids that
open with key-value pairs and later query each key once; the model must emit the key's value. Every
architecture trains a fresh copy of its matched model (same config, same seed) on the same mixture of 4, 8 and
16 pairs per batch (Based's training mixture), for the same steps and batch, by the one loop
(``archlab.train.loop.fit``) at one learning rate for all (``Budget.recall_lr``); ``recall@k`` is the share of
queries answered right on held-out sequences of ``k`` pairs. Attention can look every pair up; a fixed-size
recurrent state must hold them all, and loses pairs as they grow (the recall gap).

The budget, as measured (issue 18, quick sizes, seed 0, recall@4 / 8 / 16; chance is 1/128 per query, guessing
among the values in context 1/k), with the recipe's AdamW and cosine decay:

- 200 steps of 16 at each architecture's text rate (the former quick budget; 200 held-out sequences per k): no
  architecture past guessing. GPT-2 0.130 / 0.049 / 0.026 at 1e-3 but 0.009 / 0.011 / 0.015 at its swept text
  rate 3e-3; Llama at 3e-3 0.020 / 0.016 / 0.014. The text rate is the wrong one here, so recall trains at one
  rate for all.
- 480 steps of 32 (30 warm-up steps; 100 held-out sequences per k): GPT-2 at 1e-3 reaches the plateau of
  guessing among the values in context by step ~300 (0.198 / 0.091 / 0.058) and stays on it (0.243 / 0.108 /
  0.063 at step 480; 174 s CPU); Llama at 3e-3 stays below it (0.069 / 0.043 / 0.026; 151 s CPU). Neither
  leaves the plateau: without the short convolution the ``ssm.recall-gap`` claim's attention has, a transformer
  must first form a previous-token head from positions (the induction-head phase change), and it did not
  come within 480 steps of 32, about the most the quick budget's 15 minutes hold. The quick budget (300 steps of 32
  at 1e-3) does not show attention solving MQAR. The quick arena at it (2026-12-02, 200 held-out sequences per k,
  two trainings at a time on one thread each): linear 0.271 / 0.147 / 0.079, hybrid 0.250 / 0.113 / 0.053, moe
  0.191 / 0.097 / 0.047, gpt2 0.174 / 0.087 / 0.049, llama 0.151 / 0.081 / 0.047 (all on or near the 1/k
  plateau), mamba 0.015 / 0.008 / 0.009, lstm 0.010 / 0.009 / 0.007, gru 0.007 / 0.006 / 0.010 (chance); recall
  took about 7.6 of the arena's 13 minutes of wall time (the trainings alone: 64-180 s each).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from archlab.core.losses import cross_entropy
from archlab.data.streams import step_generator
from archlab.data.synthetic import mqar
from archlab.data.text import BYTE_VOCAB_SIZE
from archlab.train.loop import fit
from archlab.train.task import LossOutput, Task

PAIRS = (4, 8, 16)  # key-value pairs per sequence, trained as a mixture and scored apart
SEQ_LEN = 64
TEST_EXAMPLES = 200  # held-out sequences per pair count


def recall_batch(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``n`` MQAR sequences, equal shares of each pair count in ``PAIRS``: inputs, labels (n, SEQ_LEN)."""
    parts = [mqar(-(-n // len(PAIRS)), vocab_size=BYTE_VOCAB_SIZE, seq_len=SEQ_LEN, num_kv_pairs=k,
                  generator=generator) for k in PAIRS]
    inputs, labels = (torch.cat(t)[:n] for t in zip(*parts))
    return inputs, labels


def held_out(seed: int) -> dict[int, tuple[Tensor, Tensor]]:
    """The held-out sequences of each pair count (a stream apart from training's)."""
    return {k: mqar(TEST_EXAMPLES, vocab_size=BYTE_VOCAB_SIZE, seq_len=SEQ_LEN, num_kv_pairs=k,
                    generator=step_generator(seed, "arena-recall-test", k)) for k in PAIRS}


class RecallTask(Task):
    """MQAR for a language model: the cross-entropy at the query positions only (labels elsewhere -100), plus
    the output's ``aux_loss`` (a router's balancing loss) when it has one."""

    def __init__(self, model: torch.nn.Module, *, batch_size: int, seed: int) -> None:
        self.model, self.batch_size, self.seed = model, batch_size, seed

    def train_batch(self, step: int, substep: int = 0) -> tuple[Tensor, Tensor]:
        return recall_batch(self.batch_size, step_generator(self.seed, "arena-recall-train", step))

    def loss(self, batch: tuple[Tensor, Tensor], player: str) -> LossOutput:
        inputs, labels = batch
        out = self.model(inputs)
        loss = cross_entropy(out.logits.flatten(0, 1), labels.flatten())  # (B L, V), (B L,)
        aux = getattr(out, "aux_loss", None)
        return LossOutput(loss if aux is None else loss + aux)

    def batch_tokens(self, batch: tuple[Tensor, Tensor]) -> int:
        return batch[0].numel()


@torch.no_grad()
def accuracy(model: torch.nn.Module, inputs: Tensor, labels: Tensor) -> float:
    """The share of labelled positions (queries) where the model's most likely next id is the label."""
    model.eval()
    predicted = model(inputs).logits.argmax(-1)  # (n, L, V) -> (n, L)
    scored = labels != -100
    return float((predicted[scored] == labels[scored]).float().mean())


def train_recall(model: torch.nn.Module, run: Any, *, steps: int, batch_size: int, seed: int) -> dict[str, float]:
    """Train ``model`` on MQAR for ``steps`` of ``batch_size`` with the optimiser and precision of ``run`` (a
    ``RunConfig``); its ``recall@k`` for each pair count."""
    train = dataclasses.replace(run.train, steps=steps, batch_size=batch_size, seed=seed, eval_every=0,
                                checkpoint_every=steps, log_every=max(1, steps // 4))
    fit(RecallTask(model, batch_size=batch_size, seed=seed), dataclasses.replace(run, train=train))
    return {f"recall@{k}": accuracy(model, *data) for k, data in held_out(seed).items()}
