"""Claims of the vision family: the inductive biases of convolutions against the Vision Transformer's.

Setups (claims reference, section 9, and issue 13); each claim's module holds its experiment:

- ``vision.translation-equivariance`` (``archlab.vision.equivariance``): digits (8x8) placed in the middle of
  16x16 zero canvases; a stack of three 3x3 stride-1 convolutions (16 channels, ReLU, zero padding, no
  BatchNorm) against a ViT with 4x4 patches (width 64, depth 2, learned positions), both at their seeded
  initialisation (the property is architectural, not learned). Shifts of k = 1, 2, 3 pixels (not multiples of
  the patch size) are the rule's; k = 4 (a whole patch) is reported beside it, with and without the ViT's
  position table, to show what does commute.
- ``vision.vit-position-structure`` (``archlab.vision.positions``): the digits ViT (2x2 patches, width 64, depth
  4) trained 300 steps with one-pixel translations; cosine similarities of its 16 learned patch positions.

``vision.vit-data-hunger`` (``archlab.vision.data_hunger``) and ``vision.residual-depth``
(``archlab.vision.depth``) are not registered until they hold at seeds 0, 1 and 2; their modules say where
their calibration stands.
"""

from __future__ import annotations

import torch

from archlab.data.images import digits_dataset
from archlab.lab.claim import Evidence, Scale
from archlab.lab.figures import new_figure
from archlab.lab.registry import claim
from archlab.vision import positions
from archlab.vision.equivariance import conv_shift_error, token_shift_change
from archlab.vision.plain import PlainCNN, PlainCNNConfig
from archlab.vision.vit import ViT, ViTConfig

SHIFTS = (1, 2, 3)
PATCH = 4


@claim(
    "vision.translation-equivariance",
    statement="Shifting the input by k pixels shifts a convolutional feature map by k pixels, while a ViT's "
              "patch tokens change beyond such a shift when k is not a multiple of the patch size.",
    source="LeCun et al. 1989; Dosovitskiy et al. 2021 (ViT), section 3.1 'Inductive bias'",
    rule="for k in {1, 2, 3}: max |conv(shift_k x) - shift_k conv(x)| < 1e-5 away from the borders, and the ViT's "
         "(4x4 patches) relative patch-token change >= 0.1",
)
def translation_equivariance(scale: Scale, seed: int) -> Evidence:
    torch.manual_seed(seed)
    n_images = 16 if scale == Scale.QUICK else 128
    digits = digits_dataset(seed=seed).test_images[:n_images]
    x = torch.zeros(n_images, 1, 16, 16)
    x[..., 4:12, 4:12] = digits  # (N, 1, 16, 16): room to shift without losing content
    conv = PlainCNN(PlainCNNConfig(in_channels=1, num_classes=0, widths=(16,), depths=(3,),
                                   batch_norm=False)).eval()
    vit = ViT(ViTConfig(image_size=16, patch_size=PATCH, in_channels=1, d_model=64, n_layers=2, n_heads=4,
                        d_ff=128, num_classes=0)).eval()
    radius = 3  # three 3x3 convolutions see 3 pixels to each side
    conv_errors = [conv_shift_error(conv.features, x, k, margin=radius + k) for k in SHIFTS + (PATCH,)]
    vit_changes = [token_shift_change(vit, x, k) for k in SHIFTS + (PATCH,)]
    with torch.no_grad():
        vit.pos_embed.zero_()
    whole_patch_without_positions = token_shift_change(vit, x, PATCH)
    conv_max, vit_min = max(conv_errors[:-1]), min(vit_changes[:-1])

    fig, ax = new_figure()
    ks = list(SHIFTS + (PATCH,))
    ax.semilogy(ks, [max(e, 1e-12) for e in conv_errors], "o-", label="conv: max |f(shift x) - shift f(x)|")
    ax.semilogy(ks, vit_changes, "s-", label="ViT: relative patch-token change")
    ax.axhline(1e-5, color="grey", ls=":", lw=1)
    ax.axhline(0.1, color="grey", ls="--", lw=1)
    ax.set_xticks(ks)
    ax.set_xlabel(f"shift k (pixels); patch size {PATCH}")
    ax.set_ylabel("change (1e-12 floor for exact zeros)")
    ax.set_title("translation: convolution commutes, a patch grid does not")
    ax.legend(fontsize=8)
    return Evidence(
        metrics={"conv_max_error": conv_max, "vit_min_relative_change": vit_min,
                 **{f"vit_relative_change_k{k}": c for k, c in zip(SHIFTS, vit_changes)},
                 "vit_relative_change_whole_patch": vit_changes[-1],
                 "vit_relative_change_whole_patch_no_positions": whole_patch_without_positions},
        holds=conv_max < 1e-5 and vit_min >= 0.1,
        figure=fig,
        key_metric="vit_min_relative_change",
    )


@claim(
    "vision.vit-position-structure",
    statement="The learned 1D position embeddings of a trained ViT are most similar to their 2D grid neighbours.",
    source="Dosovitskiy et al. 2021 (ViT), section 4.5, Fig. 7 (centre)",
    rule=f"mean cosine with the 4 grid neighbours - mean cosine with all other positions >= {positions.MARGIN} "
         f"after training (margin written before the first run), and < {positions.MARGIN} in the untrained table",
)
def vit_position_structure(scale: Scale, seed: int) -> Evidence:
    return positions.measure(scale, seed)
