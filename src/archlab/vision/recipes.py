"""Training recipes of the vision family: ``archlab train classify --arch lenet|plain|resnet|convnext|vit
--data digits|FOLDER`` and ``archlab predict --ckpt DIR IMAGE...`` (the top-5 classes of each image; the target
``classify`` is read from the checkpoint, or named: ``archlab predict classify --ckpt DIR IMAGE...``).

``--data digits`` (the default) trains on scikit-learn's 8x8 digits (``archlab.data.images``); a folder path
trains on a user's images (``archlab.vision.folder``: one subfolder per class, resized to ``--image-size``,
``--channels`` 3 or 1, ``--skip-bad`` to skip unreadable files). ``--augment standard`` turns on the random
resized crop, flip and translation of ``archlab.vision.augment`` (off by default: flipping a digit changes it).
The model's ``in_channels``, ``num_classes`` and (where it has one) ``image_size`` are set from the data when
the task is built. Optimisers, as their papers train them: SGD with momentum 0.9 for LeNet, the plain CNN and
ResNet (He et al. 2016); AdamW for ConvNeXt and ViT (Liu et al. 2022; Dosovitskiy et al. 2021). At the end the
final model folder holds ``evaluation.json`` (test accuracy, confusion matrix) and ``confusion.png``
(``archlab.vision.task``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import torch

from archlab.errors import UserError
from archlab.train.config import OptimConfig, RunConfig, TrainConfig
from archlab.vision.augment import AugmentConfig
from archlab.vision.convnext import ConvNeXt, ConvNeXtConfig
from archlab.vision.lenet import LeNet5, LeNetConfig
from archlab.vision.plain import PlainCNN, PlainCNNConfig
from archlab.vision.resnet import ResNet, ResNetConfig
from archlab.vision.task import CLASSES_NAME, ClassifyTask
from archlab.vision.vit import ViT, ViTConfig

DIGITS = "digits"


@dataclass
class ClassifyDataConfig:
    """``source`` is ``"digits"`` or an image folder; ``image_size`` and ``channels`` apply to folders."""

    source: str = DIGITS
    image_size: int = 32
    channels: int = 3
    test_fraction: float = 0.2
    skip_bad: bool = False
    augment: Literal["none", "standard"] = "none"

    def __post_init__(self) -> None:
        if self.image_size < 1:
            raise ValueError(f"image_size={self.image_size} must be >= 1")
        if self.channels not in (1, 3):
            raise ValueError(f"channels={self.channels} must be 1 (greyscale) or 3 (RGB)")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction={self.test_fraction} must lie in (0, 1)")
        if self.augment not in ("none", "standard"):
            raise ValueError(f"augment={self.augment!r} is not one of 'none', 'standard'")


def load_classify_data(config: ClassifyDataConfig, seed: int = 0):
    """``(ImageDataset, class names)`` of ``config``."""
    if config.source == DIGITS:
        from archlab.data.images import digits_dataset

        data = digits_dataset(test_fraction=config.test_fraction, seed=seed)
        return data, [str(i) for i in range(data.num_classes)]
    from archlab.vision.folder import read_image_folder, split_folder

    folder = read_image_folder(config.source, image_size=config.image_size, channels=config.channels,
                               skip_bad=config.skip_bad)
    return split_folder(folder, test_fraction=config.test_fraction, seed=seed), folder.classes


SGD = OptimConfig(name="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4, warmup_steps=20)
ADAMW = OptimConfig(name="adamw", lr=1e-3, weight_decay=0.05, betas=(0.9, 0.999), warmup_steps=50)


@dataclass
class ClassifyRecipe:
    """One architecture of ``archlab train classify``: its model class, the small config of an 8x8 digits run,
    and its optimiser."""

    summary = "an image classifier (the digits or a folder of images)"

    name: str
    model_class: Callable[[Any], torch.nn.Module]
    model_config: Callable[[], Any]
    optim: OptimConfig

    def default_config(self) -> RunConfig:
        return RunConfig(model=self.model_config(), data=ClassifyDataConfig(), optim=self.optim,
                         train=TrainConfig(steps=600, batch_size=64, eval_every=200, checkpoint_every=200))

    def build_task(self, config: RunConfig) -> ClassifyTask:
        """The data, then the model with its input and output sizes set from the data."""
        data, classes = load_classify_data(config.data)
        c, h, w = data.image_shape
        updates = dict(in_channels=c, num_classes=data.num_classes)
        if "image_size" in {f.name for f in dataclasses.fields(config.model)}:
            updates["image_size"] = h
        model = self.model_class(dataclasses.replace(config.model, **updates))
        augment = AugmentConfig() if config.data.augment == "standard" else None
        return ClassifyTask(model, data, batch_size=config.train.batch_size, seed=config.train.seed,
                            augment=augment, classes=classes)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data", default=DIGITS, metavar="digits|FOLDER",
                            help="the digits (default) or a folder with one subfolder of images per class")
        parser.add_argument("--image-size", type=int, metavar="N", help="side images are resized to (folders; 32)")
        parser.add_argument("--channels", type=int, choices=(1, 3), help="3 for RGB (default), 1 for greyscale")
        parser.add_argument("--skip-bad", action="store_true", help="skip unreadable images instead of stopping")
        parser.add_argument("--augment", choices=("none", "standard"),
                            help="random resized crop, flip and translation (default: none)")

    def apply_arguments(self, config: RunConfig, args: argparse.Namespace) -> RunConfig:
        if args.data != DIGITS and not Path(args.data).expanduser().is_dir():
            raise UserError(f"--data {args.data!r} is neither 'digits' nor an existing folder of class subfolders")
        updates: dict[str, Any] = {"source": args.data}
        if args.skip_bad:
            updates["skip_bad"] = True
        for key in ("image_size", "channels", "augment"):
            if getattr(args, key) is not None:
                updates[key] = getattr(args, key)
        try:
            data = dataclasses.replace(config.data, **updates)
        except ValueError as err:
            raise UserError(str(err)) from None
        return dataclasses.replace(config, data=data)

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files to classify")
        parser.add_argument("--top", type=int, default=5, metavar="K", help="classes shown per image (default: 5)")

    def predict(self, model: torch.nn.Module, args: argparse.Namespace) -> str:
        """The ``--top`` classes of each image with their probabilities, one block per image."""
        from archlab.train.command import resolve_model_dir

        return predict_text(model, resolve_model_dir(args.ckpt), args.images, top=args.top)


@torch.no_grad()
def predict_text(model: torch.nn.Module, model_dir: Path, images: list[str], *, top: int = 5) -> str:
    """Read ``images`` as the model was trained (``classes.json``) and list each one's ``top`` classes."""
    from archlab.vision.folder import load_image

    if top < 1:
        raise UserError(f"--top {top} must be >= 1")
    path = Path(model_dir) / CLASSES_NAME
    if not path.is_file():
        raise UserError(f"{model_dir} has no {CLASSES_NAME}: it was not trained by 'archlab train classify'")
    meta = json.loads(path.read_text())
    batch = torch.stack([load_image(p, image_size=meta["image_size"], channels=meta["channels"]) for p in images])
    model.eval()
    probs = torch.softmax(model(batch), dim=-1)  # (N, K)
    k = min(top, probs.shape[1])
    values, index = probs.topk(k, dim=-1)
    lines = []
    for name, vals, idx in zip(images, values.tolist(), index.tolist()):
        lines.append(name)
        lines += [f"  {rank}. {meta['classes'][i]}  {v:.4f}" for rank, (v, i) in enumerate(zip(vals, idx), 1)]
    return "\n".join(lines)


def _lenet() -> LeNetConfig:
    return LeNetConfig(in_channels=1, image_size=8, padding=2)


def _plain() -> PlainCNNConfig:
    return PlainCNNConfig(in_channels=1, widths=(32, 64), depths=(2, 2))


def _resnet() -> ResNetConfig:
    return ResNetConfig(in_channels=1, num_classes=10, stem="small", stem_width=16, widths=(16, 32, 64),
                        depths=(1, 1, 1))


def _convnext() -> ConvNeXtConfig:
    return ConvNeXtConfig(in_channels=1, num_classes=10, widths=(32, 64), depths=(2, 2), stem_patch=2)


def _vit() -> ViTConfig:
    return ViTConfig(image_size=8, patch_size=2, in_channels=1, d_model=64, n_layers=4, n_heads=4, d_ff=128,
                     num_classes=10)


# The family's training targets (``archlab.train.recipe``): {target: {arch: recipe}}.
RECIPES = {"classify": {
    "lenet": ClassifyRecipe("lenet", LeNet5, _lenet, SGD),
    "plain": ClassifyRecipe("plain", PlainCNN, _plain, SGD),
    "resnet": ClassifyRecipe("resnet", ResNet, _resnet, SGD),
    "convnext": ClassifyRecipe("convnext", ConvNeXt, _convnext, ADAMW),
    "vit": ClassifyRecipe("vit", ViT, _vit, ADAMW),
}}
