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

- ``vision.vit-data-hunger`` (``archlab.vision.data_hunger``): the digits ViT against a CNN of as many
  parameters, trained on 100 and 1,437 digits (quick; 50 to 1,437 full) with the same AdamW budget.
- ``vision.residual-depth`` (``archlab.vision.depth``): plain CNNs and ResNets of 11, 17 and 23 layers, three
  training seeds each, their training-set loss after the same SGD budget.

All four train on one thread each: tiny models whose speed a second thread does not buy on a shared machine.
``vision.vit-data-hunger`` declares two threads and trains its models side by side, one thread each
(``archlab.lab.side_by_side``); the others declare one (``threads=1``).
"""

from __future__ import annotations

import torch

from archlab.data.images import digits_dataset
from archlab.lab.claim import Evidence, Scale
from archlab.lab.figures import new_figure
from archlab.lab.registry import claim
from archlab.vision import data_hunger, depth, positions
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
    threads=1,
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
    threads=1,
    rule=f"mean cosine with the 4 grid neighbours - mean cosine with all other positions >= {positions.MARGIN} "
         f"after training (margin written before the first run), and < {positions.MARGIN} in the untrained table",
)
def vit_position_structure(scale: Scale, seed: int) -> Evidence:
    return positions.measure(scale, seed)


@claim(
    "vision.vit-data-hunger",
    statement="With little data a small CNN beats a ViT of the same size by a wide margin; with more data the gap "
              "closes, and both learn the digits.",
    source="Dosovitskiy et al. 2021 (ViT), section 4.3 and Fig. 3-4 ('the convolutional inductive bias is useful "
           "for smaller datasets'); claims reference section 9",
    threads=2,
    rule="CNN - ViT test accuracy >= 0.08 at every measured n <= 200; gap at the full 1,437 <= 0.5 x gap at n = 100; "
         "both >= 0.90 at the full set; accuracies are means over the run's training seeds (full: three; quick: "
         "the run's one, held at run seeds 0, 1 and 2)",
)
def vit_data_hunger(scale: Scale, seed: int) -> Evidence:
    return data_hunger.measure(scale, seed)


@claim(
    "vision.residual-depth",
    statement="A plain deep CNN's training loss after a fixed budget gets worse as depth grows, while a ResNet of the "
              "same depths gets better or holds (the degradation problem).",
    source="He et al. 2016 (ResNet), section 4.1, Fig. 1 and 4",
    threads=1,
    rule="at depths 11, 17, 23 (quick; + 47 full), after the same SGD budget: the plain nets' training loss rises at "
         "every step of depth, and each ResNet's loss is <= 1.1 x the one at the depth before; losses are means over "
         "three training seeds",
)
def residual_depth(scale: Scale, seed: int) -> Evidence:
    return depth.measure(scale, seed)

