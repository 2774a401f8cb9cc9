"""``diffusion-sampler``: archlab's samplers against diffusers' schedulers driving the same tiny denoiser.

Two loops over 4,096 2-D points: DPM-Solver++ (2M) in 50 steps and DDPM ancestral in 1,000 steps, both
on the linear schedule (T = 1000, epsilon prediction, ``"trailing"`` timesteps, no clipping). Each side is the
usual loop (``x = noise * init_noise_sigma``; per step the denoiser on ``scale_model_input(x, t)``, then
``step``), the archlab sampler being ``from_diffusers`` of the peer scheduler, so the denoiser's work is the
same and the schedulers' own overhead is what differs; the DDPM side draws its noise from one generator
seed on both sides. The headline ratio is both loops together, ``speedup = diffusers / archlab`` (target
>= 1.0: archlab no slower); each loop's ratio and the largest sample difference are in ``extra``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from archlab.bench.harness import BenchResult, compare
from archlab.bench.registry import benchmark
from archlab.errors import UserError


@dataclass(frozen=True)
class SamplerBenchConfig:
    points: int
    dpm_steps: int
    ddpm_steps: int
    d_hidden: int


CONFIGS = {
    "default": SamplerBenchConfig(points=4096, dpm_steps=50, ddpm_steps=1000, d_hidden=64),
    "tiny": SamplerBenchConfig(points=64, dpm_steps=10, ddpm_steps=20, d_hidden=16),
}


def _loop(scheduler, denoiser, noise: torch.Tensor, steps: int, seed: int) -> torch.Tensor:
    scheduler.set_timesteps(steps, device=noise.device)
    generator = torch.Generator(device=noise.device).manual_seed(seed)
    x = noise * scheduler.init_noise_sigma
    with torch.no_grad():
        for t in scheduler.timesteps:
            out = denoiser(scheduler.scale_model_input(x, t), t.float().expand(x.shape[0]))
            x = scheduler.step(out, t, x, generator=generator).prev_sample
    return x


@benchmark(
    "diffusion-sampler",
    description="DPM-Solver++ 50 steps + DDPM 1000 steps over one tiny MLP denoiser on 4096 2-D points vs "
    "diffusers' DPMSolverMultistepScheduler / DDPMScheduler",
    target=1.0,
)
def diffusion_sampler(*, device: str = "cpu", repeats: int | None = None, size: str = "default",
                      seed: int = 0) -> BenchResult:
    try:
        from diffusers import DDPMScheduler, DPMSolverMultistepScheduler
    except ImportError:
        raise UserError("the diffusion-sampler benchmark needs diffusers as its peer: pip install diffusers") from None
    from archlab.diffusion.denoiser import MLPDenoiser, MLPDenoiserConfig
    from archlab.interop import from_diffusers

    cfg = CONFIGS[size]
    repeats = repeats or (5 if size == "default" else 1)
    torch.manual_seed(seed)
    denoiser = MLPDenoiser(MLPDenoiserConfig(d_hidden=cfg.d_hidden, n_layers=2, time_dim=32)).to(device).eval()
    noise = torch.randn(cfg.points, 2, generator=torch.Generator().manual_seed(seed + 1)).to(device)
    common = dict(timestep_spacing="trailing")
    peers = {"dpm": DPMSolverMultistepScheduler(**common), "ddpm": DDPMScheduler(clip_sample=False, **common)}
    ours = {name: from_diffusers(peer) for name, peer in peers.items()}
    steps = {"dpm": cfg.dpm_steps, "ddpm": cfg.ddpm_steps}

    def both(side: dict) -> list[torch.Tensor]:
        return [_loop(side[name], denoiser, noise, steps[name], seed) for name in ("dpm", "ddpm")]

    difference = max(float((a - b).abs().max()) for a, b in zip(both(ours), both(peers)))
    sync = torch.cuda.synchronize if device == "cuda" else None
    common_timing = dict(repeats=repeats, sync=sync, work=cfg.points, unit="samples", device=device)
    result = compare("diffusion-sampler", lambda: both(ours), lambda: both(peers),
                     peer="diffusers DPMSolverMultistepScheduler + DDPMScheduler", **common_timing)
    per_loop = {name: compare(f"diffusion-sampler-{name}", lambda n=name: _loop(ours[n], denoiser, noise, steps[n], seed),
                              lambda n=name: _loop(peers[n], denoiser, noise, steps[n], seed), **common_timing)
                for name in ("dpm", "ddpm")}
    result.config = {**asdict(cfg), "dtype": "float32", "threads": torch.get_num_threads()}
    result.extra = {
        "max_abs_difference": difference,
        "dpm_solver_speedup": per_loop["dpm"].speedup,
        "ddpm_speedup": per_loop["ddpm"].speedup,
        "seconds": {name: {"archlab": r.archlab_median, "diffusers": r.peer_median} for name, r in per_loop.items()},
    }
    return result
