"""The digit-Fréchet distance: how far generated digit images are from real ones, in the feature space of a
small classifier trained on the digits (the FID of Heusel et al. 2017, with a digit classifier in place of
Inception, which this project cannot download).

Fit a Gaussian to each set's features; the Fréchet (2-Wasserstein) distance between N(mu_a, S_a) and
N(mu_b, S_b) is ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^(1/2) S_b S_a^(1/2))^(1/2))`` (Dowson and Landau
1982). The matrix square roots are taken by symmetric eigendecomposition, in float64.

``DigitFeatures`` is the classifier: two 3 x 3 convolutions and a hidden layer whose 64 activations are the
features, trained for a fixed number of minibatch Adam steps from a fixed seed on the training digits,
resized to the image size in use. Training is deterministic and takes seconds; ``digit_features`` caches the
weights in a folder (a run folder) as safetensors and reloads them on the next call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from archlab.data.images import digits_dataset

FEATURES = 64
TRAIN_STEPS = 400
BATCH = 128


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """The Fréchet distance between Gaussians fitted to feature sets ``a`` (N, D) and ``b`` (M, D)."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D) with the same D, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if min(a.shape[0], b.shape[0]) < 2:
        raise ValueError("each feature set needs at least 2 rows to estimate a covariance")
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    root_a = _psd_sqrt(cov_a)
    cross = _psd_sqrt(root_a @ cov_b @ root_a)
    return float((mu_a - mu_b).pow(2).sum() + torch.trace(cov_a + cov_b - 2 * cross))


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """The square root of a symmetric positive semi-definite matrix (negative rounding noise clipped to 0)."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


class DigitFeatures(nn.Module):
    """``features(images (B, 1, S, S) in [0, 1]) -> (B, 64)``; ``forward`` gives the 10 class logits."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.convs = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4))
        self.hidden = nn.Linear(16 * 16, FEATURES)
        self.head = nn.Linear(FEATURES, 10)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1:] != (1, self.size, self.size):
            raise ValueError(f"images must be (batch, 1, {self.size}, {self.size}), got {tuple(images.shape)}")
        return F.relu(self.hidden(self.convs(images).flatten(1)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def resize_digits(images: torch.Tensor, size: int) -> torch.Tensor:
    """8 x 8 digits (B, 1, 8, 8) to ``size`` x ``size`` by bilinear interpolation (identity at 8)."""
    if images.shape[-1] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


def train_digit_features(size: int) -> DigitFeatures:
    """The feature classifier for ``size`` x ``size`` digits, trained deterministically (seed 0)."""
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(0)
        data = digits_dataset()
        images, labels = resize_digits(data.train_images, size), data.train_labels
        model = DigitFeatures(size)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(TRAIN_STEPS):
            batch = torch.randint(len(labels), (BATCH,))
            optimizer.zero_grad()
            F.cross_entropy(model(images[batch]), labels[batch]).backward()
            optimizer.step()
    finally:
        torch.random.set_rng_state(generator_state)
    return model.eval().requires_grad_(False)


def digit_features(size: int, cache: Optional[Path] = None) -> DigitFeatures:
    """The trained feature classifier, loaded from ``cache/digit_features_{size}.safetensors`` when there, else
    trained and (with a ``cache`` folder) saved there."""
    from safetensors.torch import load_file, save_file

    path = None if cache is None else Path(cache) / f"digit_features_{size}.safetensors"
    if path is not None and path.is_file():
        model = DigitFeatures(size)
        model.load_state_dict(load_file(str(path)))
        return model.eval().requires_grad_(False)
    model = train_digit_features(size)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model


def digit_frechet(images: torch.Tensor, reference: torch.Tensor, features: DigitFeatures) -> float:
    """The digit-Fréchet distance between two image sets (B, 1, S, S) in [0, 1]."""
    with torch.no_grad():
        return frechet_distance(features.features(images.clamp(0, 1)), features.features(reference.clamp(0, 1)))
