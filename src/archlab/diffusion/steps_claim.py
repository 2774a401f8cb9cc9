"""``diffusion.steps-vs-quality``: the deterministic DDIM sampler needs far fewer steps than DDPM's ancestral
sampler, and DPM-Solver++ fewer still (Song, Meng and Ermon 2021, "Denoising Diffusion Implicit Models",
Table 1; Lu et al. 2022, "DPM-Solver++").

Setup (reference/claims.md section 10): one epsilon-prediction ``MLPDenoiser`` (128 wide, 3 blocks, the
section's miniature) trained on the ring of 8 Gaussians (radius 2, std 0.1) on the DDPM schedule of Ho et al.
2020 (T = 1000, linear beta from 1e-4 to 0.02), ``TRAIN_STEPS`` AdamW steps of ``BATCH`` points, the learning
rate annealed to 0.01x. Every sampler uses ``"leading"`` timesteps ``0, T/S, 2T/S, ...`` (the DDIM paper's
sub-sequence; ``"trailing"`` ends a 50-step deterministic run at t = 19, whose posterior-mean x0 already
shrinks the modes). "DDPM ancestral" is Ho et al.'s Algorithm 2 with the variance they sample CIFAR-10 with,
``sigma_t^2 = beta_t`` of the strided chain (``"fixed_large"``; Song et al.'s sigma-hat row of Table 1); the
posterior variance (eta = 1, ``"fixed_small"``) is reported beside it, outside the rule.

The distance: sliced Wasserstein-2 (``archlab.lab.distances``, 256 fixed directions) between ``N_SAMPLES``
samples and as many data points. Two independent draws of the ring already sit ~0.1 apart, because the
multinomial split of points among the 8 modes moves mass between modes 1.5 apart; that floor would swamp the
samplers' differences. Both sides are therefore stratified by the ring's symmetry (rotations by 45 degrees):
the reference is one Gaussian blob of ``N_SAMPLES / 8`` points copied onto every mode, and the samples are drawn
from 8 rotated copies of one noise draw, initial noise and every step's noise alike (``symmetric_samples``:
the denoiser is run in the rotated frame, so a denoiser that is not rotation-equivariant still shows its own
imbalance). Two such reference draws sit ~0.02 apart (``reference_floor`` in the metrics).

The rule, fixed from the issue before the first run (``steps_rule``): SW(DDIM, 10 steps) <= 0.6 x SW(DDPM
ancestral, 10 steps); SW(DDIM, 50) within 1.5x of SW(DDPM ancestral, 1000) on either side; SW(DPM-Solver++(2M),
10 function evaluations) <= SW(DDIM, 10).
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch

from archlab.data.toy2d import ring_means
from archlab.diffusion.ddim import DDIMConfig, DDIMSampler
from archlab.diffusion.ddpm import DDPMConfig, DDPMSampler
from archlab.diffusion.dpm_solver import DPMSolverConfig, DPMSolverSampler
from archlab.diffusion.experiments import RING, sw_to_data, train_ring_denoiser
from archlab.diffusion.sampling import Denoiser, sampling_loop
from archlab.lab.claim import Evidence, Scale
from archlab.lab.figures import new_figure

N_MODES = 8
N_SAMPLES = 1024
SPACING = "leading"
WIDTH, LAYERS, BATCH, MIN_LR_RATIO = 128, 3, 512, 0.01
RATIO_10 = 0.6
RATIO_50_1000 = 1.5

STATEMENT = ("DDIM at 10 steps samples much closer to the data than DDPM's ancestral sampler at 10 steps; DDIM at "
             "50 steps is about as good as DDPM at 1000; DPM-Solver++ at 10 evaluations is at least as good as "
             "DDIM at 10.")
SOURCE = "Song, Meng and Ermon 2021 (DDIM, Table 1); Lu et al. 2022 (DPM-Solver++); Ho et al. 2020 (DDPM)"
RULE = ("sliced Wasserstein-2 to the data: DDIM@10 <= 0.6 x DDPM ancestral@10; DDIM@50 within 1.5x of DDPM "
        "ancestral@1000 (either side); DPM-Solver++@10 NFE <= DDIM@10")

# name -> (sampler kind, steps); the samplers of the rule and the posterior-variance DDPM reported beside it
RUNS = {"ddim_10": ("ddim", 10), "ddpm_10": ("ddpm", 10), "dpm_10": ("dpm++", 10), "ddim_50": ("ddim", 50),
        "ddpm_1000": ("ddpm", 1000), "ddpm_posterior_var_10": ("ddpm-small", 10)}


def train_steps(scale: Scale) -> int:
    return 1500 if scale is Scale.QUICK else 6000


def rotation(k: int, n: int = N_MODES) -> torch.Tensor:
    """The 2 x 2 matrix of a rotation by ``2 pi k / n``."""
    angle = 2 * math.pi * k / n
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]])


def rotate(points: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """``points`` (m, 2) rotated by ``matrix`` (rows are points: ``x R^T``)."""
    return points @ matrix.T.to(points.dtype)


def symmetric_reference(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` ring points (a multiple of 8): one blob of ``n / 8`` points around mode 0, copied onto every mode."""
    if n % N_MODES:
        raise ValueError(f"n={n} must be a multiple of {N_MODES}")
    blob = ring_means(radius=RING["radius"], n_modes=N_MODES)[0] + RING["std"] * torch.randn(n // N_MODES, 2,
                                                                                                generator=generator)
    return torch.cat([rotate(blob, rotation(k)) for k in range(N_MODES)])


def make_sampler(kind: str, prediction_type: str = "epsilon"):
    """A sampler of ``RUNS`` on the DDPM linear schedule with ``SPACING`` timesteps: ``"ddim"`` (eta 0),
    ``"ddpm"`` (beta_t variance), ``"ddpm-small"`` (posterior variance) or ``"dpm++"`` (2M)."""
    fields = dict(prediction_type=prediction_type, timestep_spacing=SPACING)
    if kind == "ddim":
        return DDIMSampler(DDIMConfig(**fields))
    if kind in ("ddpm", "ddpm-small"):
        return DDPMSampler(DDPMConfig(variance_type="fixed_large" if kind == "ddpm" else "fixed_small", **fields))
    if kind == "dpm++":
        return DPMSolverSampler(DPMSolverConfig(**fields))
    raise ValueError(f"sampler kind={kind!r} is not one of ddim, ddpm, ddpm-small, dpm++")


def symmetric_samples(denoiser: Denoiser, make: Callable[[], object], steps: int, n: int, seed: int,
                      cond: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``n`` samples (a multiple of 8): for each rotation R_k by 45 k degrees, ``n / 8`` samples whose initial
    noise and step noises are R_k times one shared draw (seeded by ``seed``). Run as the denoiser
    ``R_k^-1 f(R_k x)`` on the shared draw, rotated by R_k at the end (every sampler step is linear in the
    sample, the model output and the noise). ``make()`` returns a fresh sampler."""
    if n % N_MODES:
        raise ValueError(f"n={n} must be a multiple of {N_MODES}")
    parts = []
    for k in range(N_MODES):
        matrix = rotation(k)

        def in_frame(x: torch.Tensor, t: torch.Tensor, c: Optional[torch.Tensor] = None, matrix=matrix):
            return rotate(denoiser(rotate(x, matrix), t, c), matrix.T)

        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn(n // N_MODES, 2, generator=generator)
        out = sampling_loop(in_frame, make(), noise, steps, cond=cond, generator=generator).sample
        parts.append(rotate(out, matrix))
    return torch.cat(parts)


def steps_rule(sw: dict[str, float]) -> bool:
    """The claim's rule on the distances of ``RUNS`` (see the module docstring)."""
    ratio_50 = sw["ddim_50"] / sw["ddpm_1000"]
    return (sw["ddim_10"] <= RATIO_10 * sw["ddpm_10"] and 1 / RATIO_50_1000 <= ratio_50 <= RATIO_50_1000
            and sw["dpm_10"] <= sw["ddim_10"])


def steps_vs_quality(scale: Scale, seed: int) -> Evidence:
    """Train the denoiser, sample with every run of ``RUNS`` and apply ``steps_rule``."""
    model = train_ring_denoiser("epsilon", seed=seed, steps=train_steps(scale), batch=BATCH, d_hidden=WIDTH,
                                n_layers=LAYERS, min_lr_ratio=MIN_LR_RATIO)
    reference = symmetric_reference(N_SAMPLES, torch.Generator().manual_seed(seed))
    samples = {name: symmetric_samples(model, lambda kind=kind: make_sampler(kind), steps, N_SAMPLES, seed)
               for name, (kind, steps) in RUNS.items()}
    sw = {name: sw_to_data(x, reference) for name, x in samples.items()}
    floor = sw_to_data(symmetric_reference(N_SAMPLES, torch.Generator().manual_seed(seed + 1000)), reference)
    metrics = {f"sw_{name}": value for name, value in sw.items()}
    metrics.update(ratio_ddim10_ddpm10=sw["ddim_10"] / sw["ddpm_10"],
                   ratio_ddim50_ddpm1000=sw["ddim_50"] / sw["ddpm_1000"],
                   ratio_dpm10_ddim10=sw["dpm_10"] / sw["ddim_10"], reference_floor=floor)
    return Evidence(metrics=metrics, holds=steps_rule(sw), figure=_figure(samples, sw, reference),
                    key_metric="ratio_ddim10_ddpm10")


def _figure(samples: dict[str, torch.Tensor], sw: dict[str, float], reference: torch.Tensor):
    fig, axes = new_figure(2, 3, width=12, height=8)
    for ax, (name, x) in zip(axes, samples.items()):
        ax.scatter(reference[:, 0], reference[:, 1], s=1, c="0.8")
        ax.scatter(x[:, 0], x[:, 1], s=1)
        ax.set_title(f"{name}: SW {sw[name]:.3f}", fontsize=9)
        ax.set_aspect("equal")
    return fig


__all__ = ["RULE", "SOURCE", "STATEMENT", "make_sampler", "rotation", "steps_rule", "steps_vs_quality",
           "symmetric_reference", "symmetric_samples"]
