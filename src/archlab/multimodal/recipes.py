"""``archlab train multimodal --fusion clip|projector|cross-attention`` and ``archlab sample multimodal --ckpt DIR``.

Data: the built-in multimodal digits (``archlab.multimodal.digits``), always drawn with data seed 0 so that the
sampler knows the test split; the run's ``--seed`` drives initialisation and batches. ``clip`` trains the dual
encoder on two-digit canvases and their compositional captions (symmetric InfoNCE, learnable temperature);
``projector`` and ``cross-attention`` train a fusion model to answer questions: about two-digit canvases
(``--questions canvas``: which digit is left / right, is there an X, is X left of Y) or single digits
(``--questions digit``: what digit is this). ``archlab train`` names the architecture ``--arch``; ``--fusion`` is
the same option, the spelling of the issue.

The sampler answers the built-in questions for ``--n`` test images and reports the accuracy over the test
questions by kind; for CLIP it prints each image's best caption among all captions and the zero-shot retrieval
accuracy over the test canvases.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch

from archlab.errors import UserError
from archlab.multimodal import vocab
from archlab.multimodal.clip import CLIP, CLIPConfig
from archlab.multimodal.contrastive_task import ContrastiveTask
from archlab.multimodal.digits import DigitsSplit, multimodal_digits
from archlab.multimodal.fusion import FusionConfig, FusionModel
from archlab.multimodal.qa import QATask, answer_accuracy, question_set
from archlab.train.config import OptimConfig, RunConfig, TrainConfig
from archlab.train.task import Task

FUSIONS = ("clip", "projector", "cross-attention")
DATA_SEED = 0


@dataclass
class QADataConfig:
    """``questions``: ``"canvas"`` (questions about two-digit canvases) or ``"digit"`` (single digits)."""

    questions: Literal["canvas", "digit"] = "canvas"

    def __post_init__(self) -> None:
        if self.questions not in ("canvas", "digit"):
            raise ValueError(f"questions={self.questions!r} is not one of 'canvas', 'digit'")


def questions_of(split: DigitsSplit, kind: str):
    """The split's questions of ``kind`` ``"digit"`` (single images) or ``"canvas"`` (every other kind)."""
    return [q for q in split.questions() if (q.kind == "digit") == (kind == "digit")]


@dataclass
class MultimodalRecipe:
    """A ``Recipe`` (``archlab.train.recipe``) of the ``multimodal`` target for one fusion pattern."""

    name: str
    summary = "CLIP, projector (LLaVA) or gated cross-attention (Flamingo) fusion on the built-in multimodal digits"

    def default_config(self) -> RunConfig:
        train = TrainConfig(steps=400, batch_size=64, eval_every=100, eval_batches=1, checkpoint_every=200,
                            log_every=10)
        optim = OptimConfig(lr=2e-3, weight_decay=0.0, warmup_steps=20)
        if self.name == "clip":
            return RunConfig(model=CLIPConfig(image_width=16), optim=optim, train=train)
        return RunConfig(model=FusionConfig(fusion=self.name), data=QADataConfig(), optim=optim, train=train)

    def build_task(self, config: RunConfig) -> Task:
        data = multimodal_digits(seed=DATA_SEED)
        train = config.train
        if self.name == "clip":
            return ContrastiveTask(CLIP(config.model), data.train, data.test, batch_size=train.batch_size,
                                   seed=train.seed)
        kind = config.data.questions
        model_config = dataclasses.replace(config.model, image_width=8 if kind == "digit" else 16)
        return QATask(FusionModel(model_config), question_set(data.train, questions_of(data.train, kind)),
                      question_set(data.test, questions_of(data.test, kind)), batch_size=train.batch_size,
                      seed=train.seed)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--fusion", dest="arch", choices=FUSIONS, default=argparse.SUPPRESS,
                            help="the same as --arch")
        parser.add_argument("--questions", choices=("canvas", "digit"), default=None,
                            help="questions about two-digit canvases (default) or single digits")

    def apply_arguments(self, config: RunConfig, args: argparse.Namespace) -> RunConfig:
        if args.questions is None:
            return config
        if config.data is None:
            raise UserError("--questions is for the projector and cross-attention fusions; clip trains on captions")
        return dataclasses.replace(config, data=QADataConfig(questions=args.questions))

    def add_sample_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--n", type=int, default=4, help="test images to show (default 4)")

    def sample(self, model: torch.nn.Module, args: argparse.Namespace) -> str:
        """Answer the built-in questions for ``--n`` test images; for CLIP, caption them and report zero-shot
        retrieval accuracy."""
        if args.n < 1:
            raise UserError(f"--n {args.n} must be >= 1")
        test = multimodal_digits(seed=DATA_SEED).test
        model.eval()
        with torch.no_grad():
            if isinstance(model, CLIP):
                return clip_report(model, test, args.n)
            if isinstance(model, FusionModel):
                return qa_report(model, test, args.n)
        raise UserError(f"--ckpt holds a {type(model).__name__}, not a multimodal model (CLIP or FusionModel)")


def clip_report(model: CLIP, test: DigitsSplit, n: int) -> str:
    """Each test canvas scored against every caption of the ten-by-nine pairs: the best caption of the first
    ``n`` and the zero-shot accuracy over all of them."""
    pairs = [(a, b) for a in range(10) for b in range(10) if a != b]
    captions = [f"{vocab.article(vocab.NUMBER_WORDS[a])} {vocab.NUMBER_WORDS[a]} to the left of "
                f"{vocab.article(vocab.NUMBER_WORDS[b])} {vocab.NUMBER_WORDS[b]}" for a, b in pairs]
    ids, mask = vocab.pad([vocab.encode(c) for c in captions])
    text = torch.nn.functional.normalize(model.encode_text(ids, mask), dim=-1)  # (90, P)
    image = torch.nn.functional.normalize(model.encode_image(test.canvases), dim=-1)  # (M, P)
    best = (image @ text.t()).argmax(1)  # (M,)
    truth = torch.tensor([pairs.index(tuple(p)) for p in test.canvas_labels.tolist()])
    lines = [f"canvas {i}: {captions[int(best[i])]!r} (truth: {test.canvas_caption(i)!r})" for i in range(n)]
    accuracy = (best == truth).float().mean().item()
    lines.append(f"zero-shot retrieval accuracy over {len(truth)} test canvases among {len(captions)} captions: "
                 f"{accuracy:.3f} (chance {1 / len(captions):.3f})")
    return "\n".join(lines)


def qa_report(model: FusionModel, test: DigitsSplit, n: int) -> str:
    """Answers to the questions about the first ``n`` test images, then the accuracy by kind of question."""
    kind = "digit" if model.config.image_width == 8 else "canvas"
    questions = questions_of(test, kind)
    lines = []
    for q in [q for q in questions if q.index < n]:
        qs = question_set(test, [q])
        logits = model(qs.ids, qs.images, qs.mask)
        guess = vocab.WORDS[int(logits[0, qs.answer_at[0]].argmax())]
        lines.append(f"image {q.index}: {q.question} -> {guess} (answer: {q.answer})")
    qs = question_set(test, questions)
    correct = answer_accuracy(model(qs.ids, qs.images, qs.mask), qs.answer_at, qs.answer)
    for k in sorted(set(qs.kinds)):
        picked = torch.tensor([kk == k for kk in qs.kinds])
        lines.append(f"{k} questions: accuracy {correct[picked].mean().item():.3f} over {int(picked.sum())}")
    return "\n".join(lines)


# The family's training targets (``archlab.train.recipe``): {target: {arch: recipe}}.
RECIPES = {"multimodal": {name: MultimodalRecipe(name) for name in FUSIONS}}
