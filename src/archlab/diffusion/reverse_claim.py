"""``diffusion.reverse-denoises``: the reverse process turns noise into digits step by step (Ho et al. 2020,
"Denoising Diffusion Probabilistic Models", Fig. 6 and section 4; the deterministic sampler of Song, Meng and
Ermon 2021, DDIM, eq. 12).

A small DiT (``ImageDenoiser``: model width 64, 3 blocks, 4 x 4 patches, 300 Adam steps at quick scale; it
learns faster per CPU second than the U-Net) learns the digits at 16 x 16; ``N_SAMPLES`` of them are drawn with DDIM
(``SAMPLER_STEPS`` steps, ``"trailing"`` timesteps, the x0-prediction clipped to the data's [-1, 1] as in Ho et al.
2020). The denoiser predicts v (Salimans and Ho 2022), which stays well conditioned at t near T on the cosine
schedule, where an epsilon-prediction's implied x0 blows up. ``denoise_with_predictions`` runs the sampler protocol
itself (``set_timesteps``, ``scale_model_input``, ``step``) so as to keep each step's ``pred_original_sample``.

The rule, fixed from the issue before any run (``reverse_rule``):

- the error of step k's x0-prediction against the sample finally produced (root mean square over all pixels of
  all samples, in [-1, 1]) falls as t goes to 0: the Spearman correlation of (t_k, error_k) over the steps
  is >= 0.9;
- the digit-Fréchet distance (``archlab.lab.frechet``) of the final samples to the training digits is <= 0.5 x
  that of the samples after half the steps, i.e. the current x_t after ``SAMPLER_STEPS // 2`` steps mapped
  from [-1, 1] to [0, 1].
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import torch

from archlab.data.streams import step_generator
from archlab.diffusion.ddim import DDIMConfig, DDIMSampler
from archlab.diffusion.image_model import ImageDenoiser, ImageDenoiserConfig, ImageDiffusionTask, digit_images
from archlab.lab.claim import Evidence, Scale
from archlab.lab.experiment import quick_fit
from archlab.lab.frechet import DigitFeatures, digit_features, digit_frechet

IMAGE_SIZE = 16
N_SAMPLES = 256
SAMPLER_STEPS = 20
MIN_SPEARMAN = 0.9
MAX_FD_RATIO = 0.5

STATEMENT = ("The reverse process denoises: the x0-prediction approaches the sample finally produced as t goes to "
             "0, and the final digits are much closer to the data than the samples halfway along.")
SOURCE = "Ho et al. 2020 (DDPM, Fig. 6, section 4); Song, Meng and Ermon 2021 (DDIM)"
RULE = ("Spearman(t, RMS error of the x0-prediction against the final sample) over the DDIM steps >= 0.9, and "
        "digit-Fréchet(final samples) <= 0.5 x digit-Fréchet(x_t after half the steps, mapped to [0, 1])")


def _train_steps(scale: Scale) -> int:
    return 300 if scale is Scale.QUICK else 4000


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """The Spearman rank correlation of two 1-D sequences (Pearson correlation of their ranks; ties broken by
    order, which is exact for the distinct values used here)."""
    if a.shape != b.shape or a.dim() != 1 or a.numel() < 2:
        raise ValueError(f"need two 1-D sequences of one length >= 2, got {tuple(a.shape)} and {tuple(b.shape)}")
    ra = a.double().argsort().argsort().double()
    rb = b.double().argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def reverse_rule(rho: float, fd_final: float, fd_half: float) -> bool:
    """The claim's rule (see the module docstring)."""
    return rho >= MIN_SPEARMAN and fd_final <= MAX_FD_RATIO * fd_half


@torch.no_grad()
def denoise_with_predictions(model: ImageDenoiser, noise: torch.Tensor, steps: int
                             ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """DDIM from ``noise`` in ``steps`` steps: the timesteps (steps,), the path ``[x_T, ..., x_0]`` (steps + 1
    tensors) and each step's x0-prediction (steps tensors)."""
    c = model.config
    sampler = DDIMSampler(DDIMConfig(num_train_timesteps=c.num_train_timesteps, beta_schedule=c.beta_schedule,
                                     beta_start=c.beta_start, beta_end=c.beta_end, prediction_type=c.prediction_type,
                                     timestep_spacing="trailing", x0_clip=1.0))
    sampler.set_timesteps(steps, device=noise.device)
    x = noise * sampler.init_noise_sigma
    path, predictions = [x], []
    for t in sampler.timesteps:
        output = model(sampler.scale_model_input(x, t), t.to(torch.float32).expand(x.shape[0]))
        out = sampler.step(output, t, x)
        x = out.prev_sample
        path.append(x)
        predictions.append(out.pred_original_sample)
    return sampler.timesteps.clone(), path, predictions


@functools.lru_cache(maxsize=None)
def _features(size: int) -> DigitFeatures:
    """The digit-feature network, trained once per process (cached in a per-process temporary folder)."""
    return digit_features(size, Path(tempfile.mkdtemp(prefix="archlab-digit-features-")))


def reverse_denoises(scale: Scale, seed: int) -> Evidence:
    """Train the DiT on the digits, sample with DDIM keeping the x0-predictions, and apply ``reverse_rule``."""
    model = ImageDenoiser(ImageDenoiserConfig(denoiser="dit", image_size=IMAGE_SIZE, width=32, dit_layers=3,
                                              patch_size=4, prediction_type="v"))
    task = ImageDiffusionTask(model, batch_size=64, seed=seed, eval_size=64)
    quick_fit(task, steps=_train_steps(scale), lr=3e-3, batch_size=64, seed=seed, warmup_steps=25)
    model.eval()
    generator = step_generator(seed, "sample", 0)
    noise = torch.randn(N_SAMPLES, 1, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    timesteps, path, predictions = denoise_with_predictions(model, noise, SAMPLER_STEPS)
    final = path[-1]
    errors = torch.stack([(p - final).pow(2).mean().sqrt() for p in predictions])
    rho = spearman(timesteps.double(), errors.double())
    reference = (digit_images(IMAGE_SIZE)[0] + 1) / 2
    features = _features(IMAGE_SIZE)
    fd_final = digit_frechet((final + 1) / 2, reference, features)
    fd_half = digit_frechet((path[SAMPLER_STEPS // 2] + 1) / 2, reference, features)
    fig = _figure(path, timesteps, errors)
    return Evidence(
        metrics={"spearman_error_t": rho, "fd_final": fd_final, "fd_half": fd_half,
                 "fd_ratio": fd_final / fd_half, "error_first_step": float(errors[0]),
                 "error_last_step": float(errors[-1])},
        holds=reverse_rule(rho, fd_final, fd_half),
        figure=fig,
        key_metric="fd_ratio",
    )


def _figure(path: list[torch.Tensor], timesteps: torch.Tensor, errors: torch.Tensor, *, rows: int = 6):
    """Rows of samples, columns of steps from noise to digit, and the error-vs-t curve on the right."""
    import matplotlib.pyplot as plt

    columns = list(range(0, len(path), max(1, (len(path) - 1) // 8)))
    if columns[-1] != len(path) - 1:
        columns.append(len(path) - 1)
    fig = plt.figure(figsize=(1.1 * len(columns) + 4, 1.1 * rows), constrained_layout=True)
    grid = fig.add_gridspec(rows, len(columns) + 4)
    for r in range(rows):
        for j, k in enumerate(columns):
            ax = fig.add_subplot(grid[r, j])
            ax.imshow(((path[k][r, 0] + 1) / 2).clamp(0, 1).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"step {k}", fontsize=8)
    ax = fig.add_subplot(grid[:, len(columns):])
    ax.plot(timesteps.cpu().numpy(), errors.cpu().numpy(), marker="o")
    ax.set_xlabel("t")
    ax.set_ylabel("RMS(x0-prediction - final sample)")
    ax.set_title("x0-prediction error vs t")
    return fig


__all__ = ["RULE", "SOURCE", "STATEMENT", "denoise_with_predictions", "reverse_denoises", "reverse_rule", "spearman"]
