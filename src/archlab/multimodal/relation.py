"""Relation grounding on two-digit canvases: a projector-fused model learns which digits are on a canvas before it
learns which is where.

Setup: the projector-fusion model of ``archlab.multimodal.grounding`` over 4 x 4 patches of 8 x 16 canvases of two
different digits, trained on "what digit is on the left ?" and "what digit is on the right ?" (equal numbers)
for ``BUDGET`` AdamW steps of batch 64. On the test canvases' questions, from the same answers: identity
accuracy is the fraction of answers naming one of the two digits on the canvas (which digits are present),
relation accuracy the fraction naming the asked one (which is left of which); chance is 0.2 and 0.1. Naming the
other digit of the canvas is the bag-of-words failure that Yuksekgonul et al. 2023 ("When and why vision-language
models behave like bags-of-words") and Thrush et al. 2022 (Winoground) report for relations.

Budget, measured while building (seed 0, constant learning rate 3e-3, test accuracies identity / relation): 100
steps 0.68 / 0.34, 200 steps 0.79 / 0.65, 300 steps 0.87 / 0.83, 400 steps 0.93 / 0.90. In this toy the failure is
an order of learning: relations come later and, with enough steps, come; at 400 steps the gap is gone.

Not registered: through ``quick_fit`` (20 warm-up steps, cosine decay) the rule ``identity - relation >= 0.2``
held at 200 steps at seeds 0 and 2 (0.389, 0.295) but not at seed 1 (0.160: identity still 0.32, the model barely
off chance), and at 100 steps at none (0.185, 0.106, 0.110). When learning takes off varies with the seed more
than the gap lasts, so a fixed budget does not yet give the effect at every seed.
"""

from __future__ import annotations

import dataclasses

import torch

from archlab.lab.claim import Evidence, Scale
from archlab.lab.experiment import quick_fit
from archlab.lab.figures import new_figure
from archlab.multimodal import vocab
from archlab.multimodal.digits import multimodal_digits
from archlab.multimodal.fusion import FusionModel
from archlab.multimodal.grounding import BATCH, LR, SMALL
from archlab.multimodal.qa import QATask, question_set

BUDGET = 200
KINDS = ("left", "right")


def identity_and_relation(guess: torch.Tensor, present: torch.Tensor, answer: torch.Tensor) -> tuple[float, float]:
    """From answer ids ``guess`` (Q,), the digits ``present`` (Q, 2) and the right ``answer`` ids (Q,): the
    fraction naming a digit present, and the fraction naming the asked one."""
    words = torch.tensor([vocab.INDEX[w] for w in vocab.NUMBER_WORDS])
    identity = (guess[:, None] == words[present]).any(1).float().mean().item()
    return identity, (guess == answer).float().mean().item()


def relation_grounding(scale: Scale, seed: int) -> Evidence:
    data = multimodal_digits(seed=0)
    train = question_set(data.train, [q for q in data.train.questions() if q.kind in KINDS])
    questions = [q for q in data.test.questions() if q.kind in KINDS]
    test = question_set(data.test, questions)
    torch.manual_seed(seed)
    model = FusionModel(dataclasses.replace(SMALL, image_width=16))
    quick_fit(QATask(model, train, test, batch_size=BATCH, seed=seed), steps=BUDGET, lr=LR, batch_size=BATCH,
              seed=seed, warmup_steps=20)
    with torch.no_grad():
        logits = model.eval()(test.ids, test.images, test.mask)
    guess = logits[torch.arange(len(questions)), test.answer_at].argmax(-1)  # (Q,)
    present = torch.stack([data.test.canvas_labels[q.index] for q in questions])  # (Q, 2)
    identity, relation = identity_and_relation(guess, present, test.answer)
    fig, ax = new_figure()
    ax.bar(["identity: names a digit present", "relation: names the asked one"], [identity, relation])
    ax.axhline(0.2, color="gray", ls="--", label="identity chance (0.2)")
    ax.axhline(0.1, color="gray", ls=":", label="relation chance (0.1)")
    ax.set(ylabel="test accuracy", title=f"left / right questions, {BUDGET} steps of batch {BATCH}")
    ax.legend(fontsize=8)
    return Evidence(metrics={"identity_minus_relation": identity - relation, "identity_accuracy": identity,
                             "relation_accuracy": relation, "budget_steps": BUDGET},
                    holds=identity - relation >= 0.2, figure=fig)
