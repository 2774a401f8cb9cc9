"""A trained fusion experiment: a projector-fused language model answers questions about digits only with the
image.

- ``projector_fusion``: LLaVA-style fusion (Liu et al. 2023): a ViT over 4 x 4 patches of the 8 x 8 digit, a
  two-layer MLP projector, a small decoder; trained on "what digit is this ?" over the training split's images
  (``STEPS`` AdamW steps, batch ``BATCH``), then asked about the 359 test images with the image prefixed, and
  without it (the same model, text alone).
"""

from __future__ import annotations

import torch

from archlab.lab.claim import Evidence, Scale
from archlab.lab.experiment import quick_fit
from archlab.lab.figures import new_figure
from archlab.multimodal.digits import multimodal_digits
from archlab.multimodal.fusion import FusionConfig, FusionModel
from archlab.multimodal.qa import QATask, answer_accuracy, question_set

SMALL = FusionConfig(fusion="projector", image_width=8, vision_width=32, vision_layers=1, vision_heads=2,
                     d_model=32, n_layers=2, n_heads=2)
STEPS, BATCH, LR = 400, 64, 3e-3


def _accuracy(model: FusionModel, qs, use_images: bool) -> torch.Tensor:
    with torch.no_grad():
        logits = model(qs.ids, qs.images if use_images else None, qs.mask)
    return answer_accuracy(logits, qs.answer_at, qs.answer)


def _train(config: FusionConfig, train, test, steps: int, seed: int) -> FusionModel:
    torch.manual_seed(seed)
    model = FusionModel(config)
    task = QATask(model, train, test, batch_size=BATCH, seed=seed)
    quick_fit(task, steps=steps, lr=LR, batch_size=BATCH, seed=seed, warmup_steps=20)
    return model.eval()


def projector_fusion(scale: Scale, seed: int) -> Evidence:
    data = multimodal_digits(seed=0)
    train = question_set(data.train, [q for q in data.train.questions() if q.kind == "digit"])
    test = question_set(data.test, [q for q in data.test.questions() if q.kind == "digit"])
    model = _train(SMALL, train, test, STEPS, seed)
    with_image = _accuracy(model, test, True).mean().item()
    without = _accuracy(model, test, False).mean().item()
    fig, ax = new_figure()
    ax.bar(["with the image", "without the image"], [with_image, without])
    ax.axhline(0.9, color="gray", ls=":", label="0.9")
    ax.axhline(0.1, color="gray", ls="--", label="chance (0.1)")
    ax.set(ylabel="test accuracy", title=f"'what digit is this ?' after {STEPS} steps")
    ax.legend(fontsize=8)
    return Evidence(metrics={"accuracy_with_image": with_image, "accuracy_without_image": without},
                    holds=with_image >= 0.9 and without <= 0.2, figure=fig)
