"""The vision family's representative model for its atlas page: the ViT of the data-hunger claim (2x2 patches
of an 8x8 digit, width 64, depth 4, CLS pooling) on a batch of four images (the hook ``representative_model`` of
``archlab.atlas.anatomy``)."""

from __future__ import annotations

import torch

from archlab.vision.data_hunger import digits_vit
from archlab.vision.vit import ViT


def representative_model() -> tuple[ViT, tuple[torch.Tensor]]:
    torch.manual_seed(0)
    images = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))  # (B, C, H, W) in [0, 1]
    return digits_vit().eval(), (images,)
