"""Image patch embedding: an image cut into non-overlapping P x P patches, each mapped linearly to a token.

Dosovitskiy et al. 2021 (ViT), eq. 1: ``z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos`` with ``x_p^i`` the
i-th flattened patch (length ``P^2 C``) and ``E`` a ``(P^2 C, D)`` matrix. A convolution with kernel and
stride ``P`` computes exactly ``x_p^i E + b`` for every patch at once (``PatchEmbedding``, the fast path, as
DiT and the multimodal encoders use it); ``patch_embedding_ref`` is the equation written out (``patchify``
then a matrix product), and tests hold the two equal. Patches are numbered row-major over the grid
(``N = (H / P) * (W / P)``), a patch flattened in (C, P, P) order, which is the order of the convolution
weight ``(D, C, P, P)`` reshaped to ``(D, P^2 C)``. The class token and positions belong to the model.
"""

from __future__ import annotations

import torch
from torch import nn

from archlab.core.validation import check_at_least


def patch_grid(height: int, width: int, patch_size: int) -> tuple[int, int]:
    """``(H / P, W / P)``, the grid of patches of an image; a side that ``patch_size`` does not divide is an error."""
    for name, side in (("height", height), ("width", width)):
        if side % patch_size:
            raise ValueError(f"image {name}={side} must be divisible by patch_size={patch_size}")
    return height // patch_size, width // patch_size


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C * P * P): the flattened patches ``x_p``, row-major over the grid."""
    b, c, h, w = images.shape
    gh, gw = patch_grid(h, w, patch_size)
    p = patch_size
    x = images.reshape(b, c, gh, p, gw, p)  # (B, C, H, W) -> (B, C, gh, P, gw, P)
    x = x.permute(0, 2, 4, 1, 3, 5)  # -> (B, gh, gw, C, P, P)
    return x.reshape(b, gh * gw, c * p * p)  # -> (B, N, C*P*P)


def patch_embedding_ref(
    images: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, patch_size: int
) -> torch.Tensor:
    """ViT eq. 1 written out: ``patchify(images) @ E + b`` with ``E`` the conv ``weight`` (D, C, P, P) as
    (C*P*P, D): (B, C, H, W) -> (B, N, D)."""
    tokens = patchify(images, patch_size) @ weight.reshape(weight.shape[0], -1).t()  # (B, N, CPP) @ (CPP, D)
    return tokens if bias is None else tokens + bias


class PatchEmbedding(nn.Module):
    """Strided-convolution patch embedding: (B, C, H, W) -> (B, N, D), N = (H / P) * (W / P).

    ``proj`` is the ``Conv2d(C, D, kernel_size=P, stride=P)`` whose weight is ``E`` of ViT eq. 1.
    """

    def __init__(self, *, in_channels: int, d_model: int, patch_size: int, bias: bool = True) -> None:
        super().__init__()
        check_at_least(dict(in_channels=in_channels, d_model=d_model, patch_size=patch_size), 1)
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, d_model, kernel_size=patch_size, stride=patch_size, bias=bias)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """The patch grid ``(H / P, W / P)`` of an image of this size."""
        return patch_grid(height, width, self.patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != self.proj.in_channels:
            raise ValueError(f"images must be (batch, {self.proj.in_channels}, height, width), "
                             f"got shape {tuple(images.shape)}")
        self.grid(images.shape[2], images.shape[3])
        return self.proj(images).flatten(2).transpose(1, 2)  # (B, D, gh, gw) -> (B, D, N) -> (B, N, D)
