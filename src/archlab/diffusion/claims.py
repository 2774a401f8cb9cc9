"""Claims of the diffusion family, on the ring of 8 Gaussians (reference/claims.md section 10).

``diffusion.flow-matching-few-steps``: two denoisers of one architecture and budget
(``archlab.diffusion.experiments``: 64 wide, 2 blocks, 800 steps of 256 points at quick scale, trained once per
process and seed), one predicting epsilon on the DDPM linear schedule, one the rectified-flow velocity; 4000
samples of each at 4 denoiser calls (DDPM ancestral, ``"trailing"`` timesteps; flow-matching Euler) scored by the
sliced Wasserstein-2 distance to 4000 fresh points.
"""

from __future__ import annotations


from archlab.data.streams import step_generator
from archlab.diffusion.experiments import ring_reference, sw_to_data, train_ring_denoiser
from archlab.diffusion import guidance_claim, latent_claim
from archlab.diffusion.reverse_claim import RULE, SOURCE, STATEMENT, reverse_denoises
from archlab.diffusion import steps_claim
from archlab.lab.claim import Evidence, Scale
from archlab.lab.figures import new_figure
from archlab.lab.registry import claim
from archlab.lab.ring_modes import ring_mode_stats


def _train_steps(scale: Scale) -> int:
    return 800 if scale is Scale.QUICK else 5000


@claim(
    "diffusion.flow-matching-few-steps",
    statement="At 4 Euler steps, flow matching (rectified-flow path) samples closer to the data than DDPM "
    "ancestral sampling at 4 steps, with the same denoiser and training budget.",
    source="Lipman et al. 2023 (Flow Matching, Table 1); Liu et al. 2023 (Rectified Flow); Ho et al. 2020",
    rule="sliced Wasserstein-2 to the data: flow matching at 4 Euler steps < DDPM ancestral at 4 steps",
    threads=1,
)
def flow_matching_few_steps(scale: Scale, seed: int) -> Evidence:
    steps, n = _train_steps(scale), 4000
    reference, _ = ring_reference(n, seed)
    samples = {}
    for name, kind, sampler in (("DDPM ancestral", "epsilon", "ddpm"), ("flow matching", "flow", "flow")):
        model = train_ring_denoiser(kind, seed=seed, steps=steps)
        samples[name] = model.sample(n, step_generator(seed, "sample", 0), sampler=sampler, steps=4).sample
    sw = {name: sw_to_data(x, reference) for name, x in samples.items()}
    hq = {name: ring_mode_stats(x).high_quality_fraction for name, x in samples.items()}
    fig, axes = new_figure(1, 2, width=9, height=4.5)
    for ax, (name, x) in zip(axes, samples.items()):
        ax.scatter(reference[:, 0], reference[:, 1], s=1, c="0.8")
        ax.scatter(x[:, 0], x[:, 1], s=1)
        ax.set_title(f"{name}, 4 steps: SW {sw[name]:.3f}")
        ax.set_aspect("equal")
    return Evidence(
        metrics={"sw_flow_4_steps": sw["flow matching"], "sw_ddpm_4_steps": sw["DDPM ancestral"],
                 "high_quality_flow_4_steps": hq["flow matching"], "high_quality_ddpm_4_steps": hq["DDPM ancestral"]},
        holds=sw["flow matching"] < sw["DDPM ancestral"],
        figure=fig,
    )


claim("diffusion.reverse-denoises", statement=STATEMENT, source=SOURCE, rule=RULE)(reverse_denoises)
claim("diffusion.latent-saves-compute", statement=latent_claim.STATEMENT, source=latent_claim.SOURCE,
      rule=latent_claim.RULE)(latent_claim.latent_saves_compute)
claim("diffusion.guidance-tradeoff", statement=guidance_claim.STATEMENT, source=guidance_claim.SOURCE,
      rule=guidance_claim.RULE, threads=1)(guidance_claim.guidance_tradeoff)
claim("diffusion.steps-vs-quality", statement=steps_claim.STATEMENT, source=steps_claim.SOURCE,
      rule=steps_claim.RULE, threads=1)(steps_claim.steps_vs_quality)
