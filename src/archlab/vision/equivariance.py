"""Measurements of translation equivariance: a convolution commutes with shifts, a patch grid does not.

A map ``f`` from images to feature maps is translation equivariant when ``f(shift_k x) = shift_k f(x)``. A
stack of stride-1 convolutions with zero padding is, exactly, away from the borders (LeCun et al. 1989; the
zero padding breaks it within the receptive radius of an edge). A ViT's patch tokens are equivariant only to
shifts by whole patches, and then only up to its position embeddings: a shift of ``k`` pixels, not a multiple
of the patch size ``P``, moves every patch boundary through the content, so no rearrangement of the old tokens
gives the new ones (Dosovitskiy et al. 2021, section 3.1, "much less image-specific inductive bias than CNNs").

``shift_image`` moves content right and down by ``k`` pixels, filling with zeros. ``conv_shift_error`` is the
largest absolute difference between the two sides over the region at least ``margin`` pixels from every
border; ``token_shift_change`` compares a ViT's patch tokens of the shifted image with its tokens of the
original shifted by ``k // P`` grid cells (the nearest whole-patch shift), relative to the tokens' norm, over
the cells not at the border.
"""

from __future__ import annotations

import torch
from torch import nn

from archlab.vision.vit import ViT


def shift_image(x: torch.Tensor, k: int) -> torch.Tensor:
    """(B, C, H, W) with its content moved ``k`` pixels right and down, zeros shifted in."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., k:, k:] = x[..., : h - k, : w - k]
    return out


@torch.no_grad()
def conv_shift_error(features: nn.Module, x: torch.Tensor, k: int, margin: int) -> float:
    """``max |f(shift_k x) - shift_k f(x)|`` over pixels at least ``margin`` from every border of the map."""
    shifted_first = features(shift_image(x, k))  # (B, C, H, W)
    shifted_after = shift_image(features(x), k)
    m = margin
    return (shifted_first - shifted_after)[..., m:-m, m:-m].abs().max().item()


@torch.no_grad()
def token_shift_change(model: ViT, x: torch.Tensor, k: int) -> float:
    """``|T(shift_k x) - shift_{k // P} T(x)| / |T(x)|`` over the ViT's patch tokens ``T`` (grid cells of both
    sides that are away from the border), Frobenius norms."""
    p = model.config.patch_size
    gh, gw = model.patch_embed.grid(*x.shape[-2:])
    n_prefix = model.n_prefix

    def tokens(images: torch.Tensor) -> torch.Tensor:
        hidden = model.forward_hidden(images)[:, n_prefix:]  # (B, gh*gw, D)
        return hidden.reshape(hidden.shape[0], gh, gw, -1)  # (B, gh, gw, D)

    cells = k // p
    new, old = tokens(shift_image(x, k)), tokens(x)
    old = old[:, : gh - cells, : gw - cells]  # cell (i, j) of the original moves to (i + cells, j + cells)
    new = new[:, cells:, cells:]
    inner = slice(1, -1)
    diff, ref = new[:, inner, inner] - old[:, inner, inner], old[:, inner, inner]
    return (diff.norm() / ref.norm()).item()
