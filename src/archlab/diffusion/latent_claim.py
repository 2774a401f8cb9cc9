"""``diffusion.latent-saves-compute``: a denoiser in the latent space of an autoencoder that compresses each side
by f costs about f^2 fewer FLOPs per step than the same denoiser on pixels, at comparable sample quality (Rombach
et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion Models", sections 3-4: LDM-f trades
compression against quality; small f keeps quality while the denoiser's cost falls with the latent's area).

Setup (quick scale; digits at 16 x 16 in [-1, 1]): one DiT design (``ImageDenoiser``: model width 64, 3 blocks,
4 heads, patches of 4 x 4, v-prediction on the cosine schedule) trained twice with the same budget (250
AdamW steps of 64, lr 3e-3, 25 warm-up steps, the same seed): on the pixels (1 x 16 x 16, 16 tokens), and on the
latents of a KL autoencoder at f = 2 (4 x 8 x 8, 4 tokens; widths 8 and 16, 150 steps of 32 first, through
the same loop; its cost is outside the denoiser's budget, as the first stage of an LDM is trained once and
reused). FLOPs per denoiser call are counted for one image by ``torch.utils.flop_counter.FlopCounterMode``, with
the CPU attention kernel (which the counter leaves uncounted) given the counter's own SDPA formula. Each model
draws ``N_SAMPLES`` digits with DDIM in ``SAMPLER_STEPS`` steps (the latent ones decoded), scored by the
digit-Fréchet distance (``archlab.lab.frechet``) to the training digits.

The rule, fixed from the issue before any run (``latent_rule``): the FLOP ratio pixel / latent lies within 20%
of f^2 (in [0.8 f^2, 1.2 f^2]), and digit-Fréchet(latent) <= 1.5 x digit-Fréchet(pixel).

The two models train and sample side by side, one thread each (``archlab.lab.side_by_side``): each computes what
it computes alone on one thread. Quick runs at seeds 0 / 1 / 2 (archlab run at raised priority beside another busy
process): FLOP ratio 3.546 at every seed, digit-Fréchet pixel 123.7 / 118.3 / 128.4, latent 156.4 / 96.4 / 75.9
(ratios 1.264 / 0.815 / 0.591), in 35.5 / 37.0 / 36.8 s (63-65 s of process time), against 56.0 s (71 s of
process time) one model after the other at seed 0.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn
from torch.utils import flop_counter

from archlab.data.streams import step_generator
from archlab.diffusion.image_model import ImageDenoiser, ImageDenoiserConfig, ImageDiffusionTask, digit_images
from archlab.diffusion.reverse_claim import _features
from archlab.lab.claim import Evidence, Scale
from archlab.lab.experiment import quick_fit
from archlab.lab.frechet import digit_frechet
from archlab.lab.side_by_side import side_by_side

IMAGE_SIZE = 16
COMPRESSION = 2
N_SAMPLES = 256
SAMPLER_STEPS = 20
FLOP_TOLERANCE = 0.2
MAX_FD_RATIO = 1.5

STATEMENT = ("A latent denoiser at compression f costs f^2 fewer FLOPs per step than the pixel denoiser of the same "
             "design, at a comparable sample quality for the same training budget.")
SOURCE = "Rombach et al. 2022 (Latent Diffusion Models, sections 3-4)"
RULE = ("FLOPs per step pixel / latent within 20% of f^2 (f = 2: in [3.2, 4.8], torch's FLOP counter), and "
        "digit-Fréchet(latent samples) <= 1.5 x digit-Fréchet(pixel samples), same denoiser steps, batch and lr")


def _budget(scale: Scale) -> tuple[int, int]:
    """(denoiser steps, autoencoder steps)."""
    return (250, 150) if scale is Scale.QUICK else (4000, 2000)


def latent_rule(flop_ratio: float, compression: int, fd_latent: float, fd_pixel: float) -> bool:
    """The claim's rule (see the module docstring)."""
    target = compression ** 2
    return (1 - FLOP_TOLERANCE) * target <= flop_ratio <= (1 + FLOP_TOLERANCE) * target \
        and fd_latent <= MAX_FD_RATIO * fd_pixel


def _sdpa_flops(query: torch.Size, key: torch.Size, value: torch.Size, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_flop_count(query, key, value)


def step_flops(network: nn.Module, shape: tuple[int, ...]) -> int:
    """Forward FLOPs of one call ``network(x, t)`` on one input of ``shape`` (C, H, W), attention included."""
    cpu_attention = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops}
    counter = flop_counter.FlopCounterMode(display=False, custom_mapping=cpu_attention)
    with counter, torch.no_grad():
        network(torch.zeros(1, *shape), torch.zeros(1))
    return counter.get_total_flops()


def config(compression: int, ae_steps: int) -> ImageDenoiserConfig:
    """The one denoiser design, on pixels (``compression=1``) or on latents."""
    return ImageDenoiserConfig(denoiser="dit", image_size=IMAGE_SIZE, width=32, dit_layers=3, patch_size=4,
                               prediction_type="v", latent_compression=compression, latent_channels=4,
                               autoencoder_width=8, autoencoder_steps=ae_steps)


def trained_samples(model: ImageDenoiser, *, steps: int, seed: int) -> torch.Tensor:
    """Train ``model`` (its autoencoder first, for a latent model) with the claim's budget and return its
    ``N_SAMPLES`` DDIM samples in [0, 1]; every random draw comes from generators of ``seed``."""
    task = ImageDiffusionTask(model, batch_size=64, seed=seed, eval_size=64)
    quick_fit(task, steps=steps, lr=3e-3, batch_size=64, seed=seed, warmup_steps=25)
    model.eval()
    out = model.sample(N_SAMPLES, step_generator(seed, "sample", 0), sampler="ddim", steps=SAMPLER_STEPS)
    return ((out.sample + 1) / 2).clamp(0, 1)


def latent_saves_compute(scale: Scale, seed: int) -> Evidence:
    """Train the pixel and the latent DiT with one budget, count their FLOPs per step, compare their samples."""
    steps, ae_steps = _budget(scale)
    reference = (digit_images(IMAGE_SIZE)[0] + 1) / 2
    features = _features(IMAGE_SIZE)
    models = {}
    for name, compression in (("pixel", 1), ("latent", COMPRESSION)):
        torch.manual_seed(seed)
        models[name] = ImageDenoiser(config(compression, ae_steps))
    # The two trainings are independent: they run at once, one thread each (archlab.lab.side_by_side).
    samples = dict(zip(models, side_by_side(*(partial(trained_samples, m, steps=steps, seed=seed)
                                              for m in models.values()))))
    flops, fd = {}, {}
    for name, model in models.items():
        c = model.config
        flops[name] = step_flops(model.network, (c.denoiser_channels, c.denoiser_size, c.denoiser_size))
        fd[name] = digit_frechet(samples[name], reference, features)
    flop_ratio = flops["pixel"] / flops["latent"]
    return Evidence(
        metrics={"flop_ratio": flop_ratio, "flop_ratio_over_f2": flop_ratio / COMPRESSION ** 2,
                 "flops_pixel": flops["pixel"], "flops_latent": flops["latent"], "fd_pixel": fd["pixel"],
                 "fd_latent": fd["latent"], "fd_ratio": fd["latent"] / fd["pixel"], "compression": COMPRESSION},
        holds=latent_rule(flop_ratio, COMPRESSION, fd["latent"], fd["pixel"]),
        figure=_figure(samples, flops, fd),
        key_metric="fd_ratio",
    )


def _figure(samples: dict, flops: dict, fd: dict, *, rows: int = 4, cols: int = 8):
    """The two models' first samples side by side, titled with FLOPs per step and digit-Fréchet."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2 * cols * 0.9 + 0.5, rows * 0.9 + 0.8), constrained_layout=True)
    panels = fig.subfigures(1, 2)
    for panel, (name, images) in zip(panels, samples.items()):
        panel.suptitle(f"{name}: {flops[name] / 1e6:.2f} MFLOPs/step, digit-FD {fd[name]:.2f}", fontsize=9)
        axes = panel.subplots(rows, cols)
        for ax, image in zip(axes.flat, images):
            ax.imshow(image[0].cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


__all__ = ["RULE", "SOURCE", "STATEMENT", "latent_rule", "latent_saves_compute", "step_flops"]
