"""Visual question answering on the built-in digits: questions as padded id tensors, and the training task of the
fusion models.

A question with its answer is ``<bos> q_1 .. q_n a <eos>``; the loss is the next-token cross-entropy at the last
question word (target ``a``) and at the answer (target ``<eos>``), every other position ignored. ``answer_accuracy``
reads the arg-max at the last question word. The task's batch of step ``s`` draws questions from the training split
with ``step_generator(seed, "train", s)``; the held-out set is the test split's questions (at most ``eval_size``,
a seeded choice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F

from archlab.data.streams import step_generator
from archlab.multimodal import vocab
from archlab.multimodal.digits import DigitsSplit, Question
from archlab.multimodal.fusion import FusionModel
from archlab.train.task import LossOutput, Task

IGNORE = -100


@dataclass
class QuestionSet:
    """``ids`` (Q, L) with ``mask`` (Q, L), ``labels`` (Q, L), ``answer_at`` (Q,) the position predicting the
    answer, ``answer`` (Q,) its id, ``images`` (Q, C, H, W), ``kinds`` the question kinds."""

    ids: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor
    answer_at: torch.Tensor
    answer: torch.Tensor
    images: torch.Tensor
    kinds: list[str]

    def take(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"ids": self.ids[index], "mask": self.mask[index], "labels": self.labels[index],
                "answer_at": self.answer_at[index], "answer": self.answer[index], "images": self.images[index]}


def question_set(split: DigitsSplit, questions: Sequence[Question]) -> QuestionSet:
    """The tensors of ``questions`` about ``split`` (kind ``"digit"`` reads ``images``, the others ``canvases``)."""
    sequences = [vocab.encode(f"{q.question} {q.answer}") for q in questions]
    ids, mask = vocab.pad(sequences)
    labels = torch.full_like(ids, IGNORE)
    answer_at = torch.tensor([len(s) - 3 for s in sequences])  # the "?" before "a <eos>"
    rows = torch.arange(len(sequences))
    labels[rows, answer_at] = ids[rows, answer_at + 1]
    labels[rows, answer_at + 1] = vocab.EOS
    images = torch.stack([split.images[q.index] if q.kind == "digit" else split.canvases[q.index] for q in questions])
    return QuestionSet(ids=ids, mask=mask, labels=labels, answer_at=answer_at, answer=ids[rows, answer_at + 1],
                       images=images, kinds=[q.kind for q in questions])


def qa_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the labelled positions: (B, L, V), (B, L) -> scalar."""
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE)  # (B*L, V), (B*L,)


def answer_accuracy(logits: torch.Tensor, answer_at: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
    """(B,) 1.0 where the arg-max at ``answer_at`` is the answer."""
    rows = torch.arange(logits.shape[0], device=logits.device)
    return (logits[rows, answer_at].argmax(-1) == answer).float()


class QATask(Task):
    """Train a ``FusionModel`` to answer questions about images; ``use_images=False`` trains the language model
    alone on the same questions (the no-image control)."""

    def __init__(self, model: FusionModel, train: QuestionSet, test: QuestionSet, *, batch_size: int, seed: int,
                 eval_size: int = 512, use_images: bool = True) -> None:
        self.model, self.train_set, self.use_images = model, train, use_images
        self.batch_size, self.seed = batch_size, seed
        chosen = torch.randperm(test.ids.shape[0], generator=torch.Generator().manual_seed(seed))[:eval_size]
        self.held_out = test.take(chosen)

    def train_batch(self, step: int, substep: int = 0) -> dict[str, torch.Tensor]:
        generator = step_generator(self.seed, "train", step)
        return self.train_set.take(torch.randint(0, self.train_set.ids.shape[0], (self.batch_size,),
                                                 generator=generator))

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model(batch["ids"], batch["images"] if self.use_images else None, batch["mask"])

    def loss(self, batch: dict[str, torch.Tensor], player: str) -> LossOutput:
        logits = self.logits(batch)
        accuracy = answer_accuracy(logits, batch["answer_at"], batch["answer"]).mean()
        return LossOutput(qa_loss(logits, batch["labels"]), {"answer_accuracy": accuracy})

    def eval_batches(self) -> Iterable[dict[str, torch.Tensor]]:
        return [self.held_out]
