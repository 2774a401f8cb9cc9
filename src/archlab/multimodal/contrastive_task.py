"""The training task of the CLIP recipe: two-digit canvases with their compositional captions (90 distinct
captions, so a batch rarely pairs one caption with two images), symmetric InfoNCE; evaluated by the loss and the
in-batch image-to-text retrieval top-1 on the test canvases (a caption shared by two canvases of a batch counts as
a miss for one of them, so the top-1 is a lower bound)."""

from __future__ import annotations

from typing import Iterable

import torch

from archlab.data.streams import step_generator
from archlab.multimodal import vocab
from archlab.multimodal.clip import CLIP
from archlab.multimodal.digits import DigitsSplit
from archlab.train.task import LossOutput, Task


def caption_batch(split: DigitsSplit) -> dict[str, torch.Tensor]:
    """Every canvas of ``split`` with its caption: ``images`` (M, 1, 8, 16), ``ids`` / ``mask`` (M, L)."""
    ids, mask = vocab.pad([vocab.encode(split.canvas_caption(i)) for i in range(split.canvas_labels.shape[0])])
    return {"images": split.canvases, "ids": ids, "mask": mask}


class ContrastiveTask(Task):
    """CLIP on captioned canvases."""

    def __init__(self, model: CLIP, train: DigitsSplit, test: DigitsSplit, *, batch_size: int, seed: int,
                 eval_size: int = 256) -> None:
        self.model, self.batch_size, self.seed = model, batch_size, seed
        self.train_set = caption_batch(train)
        test_set = caption_batch(test)
        self.held_out = {k: v[:eval_size] for k, v in test_set.items()}

    def train_batch(self, step: int, substep: int = 0) -> dict[str, torch.Tensor]:
        n = self.train_set["ids"].shape[0]
        index = torch.randperm(n, generator=step_generator(self.seed, "train", step))[:self.batch_size]
        return {k: v[index] for k, v in self.train_set.items()}

    def loss(self, batch: dict[str, torch.Tensor], player: str) -> LossOutput:
        out = self.model(batch["images"], batch["ids"], batch["mask"])
        target = torch.arange(batch["ids"].shape[0], device=out.logits_per_image.device)
        top1 = (out.logits_per_image.argmax(1) == target).float().mean()  # ties among equal captions count wrong
        return LossOutput(out.loss, {"retrieval_top1": top1, "temperature": 1 / self.model.scale().detach()})

    def eval_batches(self) -> Iterable[dict[str, torch.Tensor]]:
        return [self.held_out]
