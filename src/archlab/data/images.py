"""Image classification data: scikit-learn's handwritten digits, split into train and test.

The digits (Alpaydin & Kaynak 1998, the UCI "Optical Recognition of Handwritten Digits" test set) are
1,797 greyscale 8x8 images of the digits 0-9 with pixel counts 0..16; they ship inside scikit-learn, so
nothing is downloaded. Images are scaled to [0, 1] by dividing by 16. The train/test split is stratified:
within each class, a seeded permutation sends ``round(test_fraction * class size)`` images to test, so
both splits keep the class proportions. scikit-learn is imported only when the digits are loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

DIGITS_MAX_PIXEL = 16.0


@dataclass
class ImageDataset:
    """Labelled images: ``*_images`` are ``(N, C, H, W)`` float, ``*_labels`` are ``(N,)`` long in [0, num_classes)."""

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    num_classes: int

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if images.dim() != 4 or not images.dtype.is_floating_point:
                raise ValueError(
                    f"{split}_images has shape {tuple(images.shape)} and dtype {images.dtype}; "
                    "it must be a float (N, C, H, W) tensor"
                )
            if labels.shape != images.shape[:1] or labels.dtype != torch.long:
                raise ValueError(
                    f"{split}_labels has shape {tuple(labels.shape)} and dtype {labels.dtype}; "
                    f"it must be long of shape ({images.shape[0]},), one label per image"
                )
            if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
                raise ValueError(f"{split}_labels must lie in [0, num_classes={self.num_classes})")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        _, c, h, w = self.train_images.shape
        return c, h, w


def digits_dataset(*, test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """scikit-learn's 1,797 handwritten digits as ``(N, 1, 8, 8)`` images in [0, 1], stratified by class."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction} must lie in (0, 1)")
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images).float().unsqueeze(1) / DIGITS_MAX_PIXEL  # (N, 8, 8) -> (N, 1, 8, 8)
    labels = torch.from_numpy(digits.target).long()  # (N,)
    num_classes = int(labels.max()) + 1
    test_index = stratified_test_index(labels, num_classes, test_fraction, seed)
    is_test = torch.zeros(labels.numel(), dtype=torch.bool)
    is_test[test_index] = True
    return ImageDataset(
        train_images=images[~is_test],
        train_labels=labels[~is_test],
        test_images=images[is_test],
        test_labels=labels[is_test],
        num_classes=num_classes,
    )


def stratified_test_index(labels: Tensor, num_classes: int, test_fraction: float, seed: int) -> Tensor:
    """Indices of the test images: from each class, the first ``round(fraction * size)`` of a seeded permutation."""
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(num_classes):
        members = torch.nonzero(labels == c).squeeze(1)  # (N_c,)
        n_test = round(test_fraction * members.numel())
        chosen.append(members[torch.randperm(members.numel(), generator=generator)[:n_test]])
    return torch.cat(chosen)
