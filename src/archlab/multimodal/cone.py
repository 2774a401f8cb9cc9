"""The cone effect at initialisation (Liang et al. 2022, section 3): random encoders map their inputs into a narrow
cone, and two independently initialised encoders into two different cones, so a gap between modalities exists
before any training.

Setup (the paper's random-MLP protocol, section 3.1 and its appendix): ``N_INPUTS`` inputs drawn from a 512-d
standard normal; MLPs of width 512 whose weights and biases are drawn from N(0, 1/512); each layer is Linear then
the nonlinearity (none, ReLU or sigmoid), and the average pairwise cosine is read after every layer, depths 1-8,
one network per nonlinearity (depth d is its first d layers). The gap: two encoders, each a ReLU MLP of depth 4 then
a linear projection of the same initialisation (CLIP's towers end in one), drawn independently, on the same inputs;
``||mean x_n - mean y_n||`` over normalised outputs. Computed in float64, on CPU.

Also measured and reported, outside the rule: the same gap between two independently initialised CLIP image
towers (``CLIP.encode_image``) on the same digit images.
"""

from __future__ import annotations

import torch

from archlab.data.images import digits_dataset
from archlab.lab.claim import Evidence, Scale
from archlab.lab.figures import new_figure
from archlab.multimodal.clip import CLIP, CLIPConfig
from archlab.multimodal.contrastive import mean_pairwise_cosine, modality_gap

WIDTH = 512
DEPTHS = tuple(range(1, 9))
N_INPUTS = 1000
GAP_DEPTH = 4
ACTIVATIONS = {"linear": lambda z: z, "relu": torch.relu, "sigmoid": torch.sigmoid}


def _layer(h: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random Linear(512, 512), weights and biases ~ N(0, 1/512): (N, 512) -> (N, 512)."""
    w = torch.randn(WIDTH, WIDTH, generator=generator, dtype=torch.float64) / WIDTH ** 0.5
    b = torch.randn(WIDTH, generator=generator, dtype=torch.float64) / WIDTH ** 0.5
    return h @ w.t() + b


def cosine_by_depth(x: torch.Tensor, activation: str, generator: torch.Generator) -> list[float]:
    """The average pairwise cosine after each of ``len(DEPTHS)`` random layers of ``activation``."""
    out, h = [], x
    for _ in DEPTHS:
        h = ACTIVATIONS[activation](_layer(h, generator))
        out.append(mean_pairwise_cosine(h).item())
    return out


def random_encoder(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A ReLU MLP of depth ``GAP_DEPTH`` then a linear projection, freshly drawn: (N, 512) -> (N, 512)."""
    h = x
    for _ in range(GAP_DEPTH):
        h = torch.relu(_layer(h, generator))
    return _layer(h, generator)


def clip_tower_gap(seed: int) -> float:
    """The gap between two independently initialised CLIP image towers on the same 500 digit images."""
    images = digits_dataset(seed=seed).test_images[:500]
    embeddings = []
    for k in range(2):
        torch.manual_seed(seed * 2 + k)
        with torch.no_grad():
            embeddings.append(CLIP(CLIPConfig()).eval().encode_image(images))
    return modality_gap(*embeddings).item()


def cone_effect(scale: Scale, seed: int) -> Evidence:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(N_INPUTS, WIDTH, generator=generator, dtype=torch.float64)
    cosines = {act: cosine_by_depth(x, act, generator) for act in ACTIVATIONS}
    gap = modality_gap(random_encoder(x, generator), random_encoder(x, generator)).item()
    tower_gap = clip_tower_gap(seed)
    linear_ok = max(cosines["linear"]) < 0.1
    deep = [i for i, d in enumerate(DEPTHS) if d >= 2]
    cone_ok = all(max(cosines["relu"][i], cosines["sigmoid"][i]) >= 0.5 for i in deep)
    rising = all(all(b >= a for a, b in zip(c, c[1:])) and c[-1] > c[0]
                 for c in (cosines["relu"], cosines["sigmoid"]))
    metrics = {"gap_two_random_encoders": gap, "linear_max_cosine": max(cosines["linear"]),
               **{f"{act}_cosine_depth{d}": cosines[act][i] for act in ("relu", "sigmoid")
                  for i, d in enumerate(DEPTHS) if d in (1, 2, 8)},
               "nonlinear_rising_with_depth": rising, "gap_two_clip_image_towers": tower_gap}
    fig, (ax1, ax2) = new_figure(1, 2, width=10, height=4)
    for act, values in cosines.items():
        ax1.plot(DEPTHS, values, marker="o", label=act)
    ax1.axhline(0.5, color="gray", ls=":")
    ax1.axhline(0.1, color="gray", ls="--")
    ax1.set(xlabel="depth (random layers)", ylabel="average pairwise cosine", title="cone effect at init")
    ax1.legend(fontsize=8)
    ax2.bar(["two ReLU MLP encoders", "two CLIP image towers"], [gap, tower_gap])
    ax2.axhline(0.5, color="gray", ls=":")
    ax2.set(ylabel="||mean x - mean y|| (normalised)", title="gap between two random encoders, same inputs")
    return Evidence(metrics=metrics, holds=linear_ok and cone_ok and rising and gap >= 0.5, figure=fig,
                    key_metric="gap_two_random_encoders",
                    details={"cosine_by_depth": cosines, "depths": list(DEPTHS)})
