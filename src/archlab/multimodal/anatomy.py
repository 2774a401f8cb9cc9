"""The multimodal family's representative model for its atlas page: the projector-fusion model of
``archlab train multimodal --fusion projector`` (a ViT over 4 x 4 patches of a two-digit 8 x 16 canvas, a two-layer
MLP projector, a 2-layer decoder of width 64) asked two questions about two canvases (the hook
``representative_model`` of ``archlab.atlas.anatomy``)."""

from __future__ import annotations

import torch

from archlab.multimodal import vocab
from archlab.multimodal.fusion import FusionConfig, FusionModel


def representative_model() -> tuple[FusionModel, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    model = FusionModel(FusionConfig(fusion="projector")).eval()
    ids, mask = vocab.pad([vocab.encode("what digit is on the left ?"), vocab.encode("is there a three ?")])
    images = torch.rand(2, 1, 8, 16, generator=torch.Generator().manual_seed(0))  # (B, C, H, W) canvases
    return model, (ids, images, mask)
