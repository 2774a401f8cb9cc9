"""The claim ``vae.posterior-collapse`` (Bowman et al. 2016; reference/claims.md section 7a); the experiment,
the choice of probe and of the free-bits lambda are in ``archlab.vae.collapse``.

Rule, from the issue and fixed before any run: vanilla KL <= 0.2 nats, topic probe <= 0.3, <= 1 active unit;
annealing + word dropout, and free bits, each KL >= 1 nat, probe >= 0.8, >= 3 active units. The probe reads a
sampled z ~ q(z|x) (the latent the decoder receives), active units the posterior mean (Burda et al. 2016).

Measured at quick scale (400 steps, lr 1e-2), seeds 0/1/2: vanilla KL 0.033/0.008/0.020 nats, probe
0.136/0.126/0.140, active units 1/0/0; annealing + word dropout KL 3.84/3.42/3.20, probe 0.872/0.858/0.886,
8/7/7 units; free bits (0.6 nats/dim) KL 4.71/4.66/4.60, probe 0.854/0.898/0.862, 8/8/8 units. About 33 s
CPU per seed on one thread.
"""

from __future__ import annotations

from archlab.lab.claim import Evidence, Scale
from archlab.lab.figures import new_figure
from archlab.lab.registry import claim
from archlab.vae.collapse import collapse_holds, condition_configs, run_condition

QUICK_STEPS, FULL_STEPS, LR = 400, 2000, 1e-2


@claim(
    "vae.posterior-collapse",
    statement="A sequence VAE with a strong autoregressive decoder ignores its latent (posterior collapse); KL "
    "annealing with word dropout, or free bits, keep the topic in the latent.",
    source="Bowman et al. 2016 (Generating Sentences from a Continuous Space); Kingma et al. 2016 (free bits)",
    rule="vanilla: KL <= 0.2 nats, topic probe on z ~ q(z|x) <= 0.3, <= 1 active unit; annealing + word dropout "
    "and free bits: each KL >= 1 nat, probe >= 0.8, >= 3 active units",
    threads=1,
)
def posterior_collapse(scale: Scale, seed: int) -> Evidence:
    steps = QUICK_STEPS if scale is Scale.QUICK else FULL_STEPS
    results = {name: run_condition(config, steps=steps, seed=seed, lr=LR)
               for name, config in condition_configs(steps).items()}
    names = list(results)
    fig, (ax_kl, ax_probe, ax_au) = new_figure(1, 3, width=13)
    for ax, values, threshold_low, threshold_high, label in (
            (ax_kl, [results[n].kl for n in names], 0.2, 1.0, "KL(q(z|x) || p(z)) (nats)"),
            (ax_probe, [results[n].probe for n in names], 0.3, 0.8, "topic probe accuracy on z"),
            (ax_au, [results[n].active_units for n in names], 1, 3, "active units (Var_x mu_j > 0.01)")):
        ax.bar(range(len(names)), values, color=["tab:red", "tab:blue", "tab:green"])
        ax.axhline(threshold_low, color="red", ls="--", lw=1, label="vanilla at most")
        ax.axhline(threshold_high, color="green", ls="--", lw=1, label="fixes at least")
        ax.set_xticks(range(len(names)), names, rotation=15, fontsize=8)
        ax.set(ylabel=label)
    ax_probe.axhline(1 / 8, color="gray", ls=":", lw=1, label="chance")
    ax_probe.legend(fontsize=7)
    metrics = {}
    for name, r in results.items():
        metrics.update({f"{name}_kl": r.kl, f"{name}_probe": r.probe, f"{name}_active_units": float(r.active_units),
                        f"{name}_probe_on_mean": r.probe_mean})
    return Evidence(metrics=metrics, holds=collapse_holds(results), figure=fig, key_metric="vanilla_kl",
                    details={"steps": steps, "lr": LR})
