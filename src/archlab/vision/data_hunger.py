"""``vision.vit-data-hunger``: a ViT against a small CNN as the training set grows (Dosovitskiy et al. 2021,
section 4.3 and Fig. 3-4: "the convolutional inductive bias is useful for smaller datasets").

Setup (claims reference, section 9, "CPU miniature"): scikit-learn's digits, the stratified 360-image test
split of ``archlab.data.images`` (seed 0, the same for every run); training subsets of n images drawn at random
from the 1,437 training images by the run's seed. ViT: 2x2 patches (16 tokens) and a class token, width 64,
depth 4, 4 heads, MLP 128, learned positions (136,138 parameters). CNN: two 3x3 convolutions of 96 and 160
channels with BatchNorm and ReLU, 2x2 max pooling between them, global average pooling, a linear head
(``PlainCNN``, 141,226 parameters: within the reference's 30 % of the ViT's). Both: AdamW, lr 1e-3, weight
decay 0.05, betas (0.9, 0.999), 20 warm-up steps then cosine decay, batches of 64 drawn with replacement, no
augmentation, the same fixed number of steps at every n (300 quick, 600 full). Quick scale: n in {50, 100, 1437}; full: {50, 100, 200, 500, 1000, 1437}. Three seeds
per run of the claim (``3 * seed + i``); accuracies are means over them.

Not registered yet. Calibration (quick, seeds 0-2 of run seed 0, 1,644 s on a machine shared five ways) with
the reference's literal "16 and 32 channels" CNN (5,178 parameters): CNN 0.612 / 0.709 / 0.866 against ViT
0.684 / 0.771 / 0.943 at n = 50 / 100 / 1437: the 5k-parameter CNN lost everywhere (gap -0.07), a capacity
and budget failure of the CNN, not evidence about ViTs; the CNN now matches the ViT's size as the reference
asks (params within 30 %), not yet measured.
"""

from __future__ import annotations

import statistics

import torch

from archlab.data.images import ImageDataset, digits_dataset
from archlab.lab.claim import Evidence, Scale
from archlab.lab.experiment import quick_fit
from archlab.lab.figures import new_figure
from archlab.vision.plain import PlainCNN, PlainCNNConfig
from archlab.vision.task import ClassifyTask
from archlab.vision.vit import ViT, ViTConfig

SIZES = {Scale.QUICK: (50, 100, 1437), Scale.FULL: (50, 100, 200, 500, 1000, 1437)}
STEPS = {Scale.QUICK: 300, Scale.FULL: 600}
SEEDS_PER_RUN = 3
BATCH = 64


def digits_vit(num_classes: int = 10) -> ViT:
    return ViT(ViTConfig(image_size=8, patch_size=2, in_channels=1, d_model=64, n_layers=4, n_heads=4, d_ff=128,
                         num_classes=num_classes))


def digits_cnn(num_classes: int = 10) -> PlainCNN:
    return PlainCNN(PlainCNNConfig(in_channels=1, num_classes=num_classes, widths=(96, 160), depths=(1, 1)))


def subset(data: ImageDataset, n: int, seed: int) -> ImageDataset:
    """``data`` with ``n`` training images drawn at random by ``seed`` (the test split unchanged)."""
    index = torch.randperm(data.train_labels.numel(), generator=torch.Generator().manual_seed(seed))[:n]
    return ImageDataset(data.train_images[index], data.train_labels[index], data.test_images, data.test_labels,
                        data.num_classes)


def trained_accuracy(model_fn, data: ImageDataset, *, steps: int, seed: int) -> float:
    """Train a fresh ``model_fn()`` (seeded) on ``data`` and return its test accuracy."""
    torch.manual_seed(seed)
    task = ClassifyTask(model_fn(), data, batch_size=BATCH, seed=seed)
    result = quick_fit(task, steps=steps, lr=1e-3, batch_size=BATCH, seed=seed, weight_decay=0.05,
                       betas=(0.9, 0.999), warmup_steps=20)
    return float(result.history[-1]["val_accuracy"])


def measure(scale: Scale, seed: int) -> Evidence:
    data = digits_dataset(seed=0)
    sizes, steps = SIZES[scale], STEPS[scale]
    seeds = [SEEDS_PER_RUN * seed + i for i in range(SEEDS_PER_RUN)]
    acc = {name: {n: [trained_accuracy(fn, subset(data, n, s), steps=steps, seed=s) for s in seeds] for n in sizes}
           for name, fn in (("cnn", digits_cnn), ("vit", digits_vit))}
    mean = {name: {n: statistics.fmean(v) for n, v in by_n.items()} for name, by_n in acc.items()}
    gap = {n: mean["cnn"][n] - mean["vit"][n] for n in sizes}
    full = sizes[-1]
    small_gap = min(g for n, g in gap.items() if n <= 200)
    holds = small_gap >= 0.08 and gap[full] <= 0.5 * gap[100] and min(mean["cnn"][full], mean["vit"][full]) >= 0.90

    fig, ax = new_figure()
    for name, marker in (("cnn", "o"), ("vit", "s")):
        ax.plot(sizes, [mean[name][n] for n in sizes], marker + "-", label=f"{name.upper()} (mean of 3 seeds)")
        for n in sizes:
            ax.scatter([n] * len(seeds), acc[name][n], marker=marker, s=10, alpha=0.4)
    ax.set_xscale("log")
    ax.set_xlabel("training images")
    ax.set_ylabel("test accuracy (360 digits)")
    ax.axhline(0.90, color="grey", ls=":", lw=1)
    ax.set_title("digits: the CNN's inductive bias wins when data is scarce")
    ax.legend()
    metrics = {"gap_small_min": small_gap, "gap_100": gap[100], "gap_full": gap[full]}
    metrics.update({f"{name}_acc_{n}": mean[name][n] for name in ("cnn", "vit") for n in sizes})
    metrics.update({"cnn_params": sum(p.numel() for p in digits_cnn().parameters()),
                    "vit_params": sum(p.numel() for p in digits_vit().parameters())})
    return Evidence(metrics=metrics, holds=holds, figure=fig, key_metric="gap_small_min",
                    details={"accuracy_per_seed": {name: {str(n): v for n, v in by_n.items()}
                                                   for name, by_n in acc.items()}, "seeds": seeds})
