"""A user's image folder as a classification dataset: one subfolder per class, read with Pillow, resized.

    root/
      cat/  a.jpg b.png ...
      dog/  c.jpg ...

Classes are the subfolders in sorted order (label i is the i-th name); images are the files with an image
suffix (``IMAGE_SUFFIXES``, any case) inside each, read in sorted order, converted to RGB (``channels=3``) or
greyscale (``channels=1``), resized to ``image_size x image_size`` with bilinear filtering (the aspect ratio is
not kept) and scaled to [0, 1]. Errors a user can fix raise ``UserError``: a missing root, a root without class
subfolders, a class subfolder without images, and an unreadable image (its path named); with
``skip_bad=True`` unreadable images are skipped and counted instead. Pillow is imported only when a folder is
read. The train/test split is stratified by class as the digits' (``archlab.data.images``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from archlab.data.images import ImageDataset, stratified_test_index
from archlab.errors import UserError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")


@dataclass
class ImageFolder:
    """The images (N, C, S, S) in [0, 1], their labels (N,), the class names, and the paths skipped as unreadable."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    skipped: list[Path] = field(default_factory=list)


def load_image(path: str | Path, *, image_size: int, channels: int) -> torch.Tensor:
    """One image file as a (C, S, S) float tensor in [0, 1]; an unreadable file raises ``UserError`` naming it."""
    from PIL import Image, UnidentifiedImageError

    if channels not in (1, 3):
        raise ValueError(f"channels={channels} must be 1 (greyscale) or 3 (RGB)")
    try:
        with Image.open(path) as img:
            img = img.convert("RGB" if channels == 3 else "L").resize((image_size, image_size),
                                                                       Image.Resampling.BILINEAR)
            data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise UserError(f"cannot read image {path}: {err}") from None
    return data.reshape(image_size, image_size, channels).permute(2, 0, 1).float() / 255.0  # (S, S, C) -> (C, S, S)


def read_image_folder(root: str | Path, *, image_size: int, channels: int = 3, skip_bad: bool = False) -> ImageFolder:
    """Every image of ``root``'s class subfolders (see the module docstring)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"image folder {root} does not exist or is not a folder")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise UserError(f"image folder {root} is empty: it needs one subfolder of images per class")
    images, labels, skipped = [], [], []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        read = 0
        for path in files:
            try:
                images.append(load_image(path, image_size=image_size, channels=channels))
            except UserError as err:
                if not skip_bad:
                    raise UserError(f"{err}; fix or remove it, or pass --skip-bad to skip unreadable images") from None
                skipped.append(path)
                continue
            labels.append(label)
            read += 1
        if read == 0:
            what = "no readable images" if files else f"no images (suffixes: {', '.join(IMAGE_SUFFIXES)})"
            raise UserError(f"class folder {class_dir} holds {what}; add images or remove the folder")
    if skipped:
        logger.warning("skipped %d unreadable image(s) in %s", len(skipped), root)
    return ImageFolder(torch.stack(images), torch.tensor(labels, dtype=torch.long), [p.name for p in class_dirs],
                       skipped)


def split_folder(folder: ImageFolder, *, test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """``folder`` split into train and test, stratified by class."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction} must lie in (0, 1)")
    num_classes = len(folder.classes)
    is_test = torch.zeros(folder.labels.numel(), dtype=torch.bool)
    is_test[stratified_test_index(folder.labels, num_classes, test_fraction, seed)] = True
    return ImageDataset(train_images=folder.images[~is_test], train_labels=folder.labels[~is_test],
                        test_images=folder.images[is_test], test_labels=folder.labels[is_test],
                        num_classes=num_classes)
