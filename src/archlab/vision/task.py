"""Image classification as a training task of the one loop (``archlab.train``), and what a trained classifier
leaves beside its weights.

The batch of step ``s`` is ``batch_size`` training images drawn with replacement by ``step_generator(seed,
"train", s)``, augmented (``archlab.vision.augment``) with the same generator when an ``AugmentConfig`` is
given: a pure function of the seed and the step, as the loop's exact resume needs. The loss is the mean
cross-entropy; accuracy is logged beside it. Evaluation runs over the whole test split (``val_loss``,
``val_accuracy``). Every saved model folder also holds ``classes.json`` (class names, image size and channels:
what ``archlab predict classify`` needs to read new images), ``evaluation.json`` (test accuracy and the
confusion matrix, rows the true class, columns the predicted one) and ``confusion.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.data.images import ImageDataset
from archlab.data.streams import step_generator
from archlab.train.task import LossOutput, Task
from archlab.vision.augment import AugmentConfig, augment_images

CLASSES_NAME = "classes.json"


def confusion_matrix(predicted: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """(K, K) counts: row ``i`` the images of true class ``i``, column ``j`` those predicted ``j``."""
    index = target * num_classes + predicted  # (N,)
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def plot_confusion(matrix: Tensor, classes: list[str], path: Path) -> None:
    """Write ``matrix`` as a labelled heat map PNG."""
    from archlab.lab.figures import new_figure

    size = max(4.0, 0.5 * len(classes) + 2)
    fig, ax = new_figure(width=size, height=size)
    ax.imshow(matrix.numpy(), cmap="Blues")
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes, rotation=90)
    ax.set_yticks(ticks, classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = matrix.diag().sum().item() / max(matrix.sum().item(), 1)
    ax.set_title(f"test accuracy {accuracy:.3f}")
    if len(classes) <= 20:
        for i in ticks:
            for j in ticks:
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7)
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)


class ClassifyTask(Task):
    """``model`` trained on ``data``'s train split and evaluated on its test split."""

    def __init__(self, model: nn.Module, data: ImageDataset, *, batch_size: int, seed: int,
                 augment: AugmentConfig | None = None, classes: list[str] | None = None,
                 eval_batch_size: int = 256) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        self.model, self.data, self.batch_size, self.seed, self.augment = model, data, batch_size, seed, augment
        self.classes = classes or [str(i) for i in range(data.num_classes)]
        self.eval_batch_size = eval_batch_size

    def train_batch(self, step: int, substep: int = 0) -> tuple[Tensor, Tensor]:
        generator = step_generator(self.seed, "train", step)
        index = torch.randint(self.data.train_labels.numel(), (self.batch_size,), generator=generator)  # (B,)
        images = self.data.train_images[index]
        if self.augment is not None:
            images = augment_images(images, self.augment, generator)
        return images, self.data.train_labels[index]

    def loss(self, batch: tuple[Tensor, Tensor], player: str) -> LossOutput:
        images, labels = batch
        logits = self.model(images)  # (B, K)
        accuracy = (logits.argmax(-1) == labels).float().mean()
        return LossOutput(F.cross_entropy(logits, labels), {"accuracy": accuracy.detach()})

    def eval_batches(self) -> Iterable[tuple[Tensor, Tensor]]:
        images, labels = self.data.test_images, self.data.test_labels
        return [(images[i:i + self.eval_batch_size], labels[i:i + self.eval_batch_size])
                for i in range(0, labels.numel(), self.eval_batch_size)]

    @torch.no_grad()
    def predictions(self) -> Tensor:
        """The model's class for every test image (N_test,), in eval mode."""
        was_training = self.model.training
        self.model.eval()
        device = next(self.model.parameters()).device
        out = torch.cat([self.model(x.to(device)).argmax(-1).cpu() for x, _ in self.eval_batches()])
        self.model.train(was_training)
        return out

    def save_model(self, directory: Path) -> None:
        super().save_model(directory)
        c, h, _ = self.data.image_shape
        (directory / CLASSES_NAME).write_text(json.dumps({"classes": self.classes, "image_size": h, "channels": c},
                                                         indent=2) + "\n")
        if self.data.test_labels.numel() == 0:
            return
        matrix = confusion_matrix(self.predictions(), self.data.test_labels, self.data.num_classes)
        accuracy = matrix.diag().sum().item() / matrix.sum().item()
        (directory / "evaluation.json").write_text(json.dumps(
            {"test_accuracy": accuracy, "test_images": int(matrix.sum()), "classes": self.classes,
             "confusion_matrix": matrix.tolist()}, indent=2) + "\n")
        plot_confusion(matrix, self.classes, directory / "confusion.png")
