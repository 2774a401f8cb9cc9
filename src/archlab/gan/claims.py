"""Claims of the GAN family.

- ``gan.saturating-loss`` (Goodfellow et al. 2014, section 3): a generator and a discriminator on the ring of
  8 Gaussians (``archlab.gan.ring``); the generator is frozen at its initialisation and only the
  discriminator trains (through the one loop), so it learns to reject the generator's samples. Along its
  training the generator's gradient norm is measured under both generator losses on one fixed batch of z:
  the minimax loss log(1 - D(G(z))) has d/dlogit = -D(G(z)), which vanishes as D(G(z)) -> 0, the
  non-saturating -log D(G(z)) has -(1 - D(G(z))), which does not.
- ``gan.mode-collapse`` (Metz et al. 2017; Srivastava et al. 2017; Lin et al. 2018): a collapse-prone vanilla
  GAN and PacGAN2 on the ring of 8 (``archlab.gan.ring``: the arms, the loop and the rule), each at three
  internal seeds, scored by VEEGAN's metric. The arms are calibrated settings, so the full scale runs the
  same experiment as the quick one.
"""

from __future__ import annotations

import torch

from archlab.data.streams import step_generator
from archlab.gan.losses import generator_loss
from archlab.gan.model import GAN, GANConfig
from archlab.data.toy2d import ring_means
from archlab.gan.ring import (
    COLLAPSE_RADIUS,
    adam,
    mode_collapse_holds,
    mode_collapse_runs,
    ring_sampler,
)
from archlab.gan.task import GANTask
from archlab.lab.claim import Evidence, Scale
from archlab.lab.experiment import quick_fit
from archlab.lab.figures import new_figure
from archlab.lab.registry import claim
from archlab.train.task import Player


class _RejectingDiscriminator(GANTask):
    """Only the discriminator trains; each evaluation measures the generator's gradient under both losses."""

    def players(self) -> list[Player]:
        return [Player("discriminator", self.model.discriminator, self.discriminator_optim)]

    def _generator_grad_norm(self, noise: torch.Tensor, kind: str) -> torch.Tensor:
        params = list(self.model.generator.parameters())
        loss = generator_loss(kind, self.model.discriminator(self.model.generator(noise)))
        grads = torch.autograd.grad(loss, params)
        return torch.sqrt(sum(g.pow(2).sum() for g in grads))

    def evaluate(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        with torch.enable_grad():
            minimax = self._generator_grad_norm(batch["noise"], "minimax")
            non_saturating = self._generator_grad_norm(batch["noise"], "non-saturating")
        with torch.no_grad():
            d_fake = torch.sigmoid(self.model.discriminator(self.model.generator(batch["noise"]))).mean()
            d_real = torch.sigmoid(self.model.discriminator(batch["real"])).mean()
        return {"d_fake": d_fake, "d_real": d_real, "grad_minimax": minimax, "grad_non_saturating": non_saturating}


@claim(
    "gan.saturating-loss",
    statement="When the discriminator confidently rejects generated samples, the minimax generator loss "
    "log(1 - D(G(z))) saturates: its gradient is far smaller than that of the non-saturating loss -log D(G(z)).",
    source="Goodfellow et al. 2014 (Generative Adversarial Nets), section 3",
    rule="once D is trained to mean D(G(z)) <= 0.05: ||grad_G minimax|| <= ||grad_G non-saturating|| / 10; "
    "at the untrained D (mean D(G(z)) in [0.3, 0.7]) the ratio non-saturating / minimax lies in [0.5, 2]",
    threads=1,
)
def saturating_loss(scale: Scale, seed: int) -> Evidence:
    steps = 300 if scale is Scale.QUICK else 2000
    torch.manual_seed(seed)
    model = GAN(GANConfig(latent_dim=2, hidden_dim=64, n_layers=2))
    task = _RejectingDiscriminator(model, ring_sampler, batch_size=128, seed=seed,
                                   discriminator_optim=adam(1e-3, (0.5, 0.999)), eval_size=512)
    start = task.evaluate(task.draw(512, step_generator(seed, "eval", 0)))
    result = quick_fit(task, steps=steps, lr=1e-3, batch_size=128, seed=seed, eval_every=max(steps // 15, 1))
    history = [{"step": 0, **{k: float(v) for k, v in start.items()}}]
    history += [r for r in result.history if "grad_minimax" in r]
    first, last = history[0], history[-1]
    ratio = [r["grad_non_saturating"] / r["grad_minimax"] for r in history]
    holds = (last["d_fake"] <= 0.05 and ratio[-1] >= 10.0
             and 0.3 <= first["d_fake"] <= 0.7 and 0.5 <= ratio[0] <= 2.0)

    fig, (ax, ax_ratio) = new_figure(1, 2, width=11)
    steps_axis = [r["step"] for r in history]
    ax.semilogy(steps_axis, [r["grad_minimax"] for r in history], "o-", label="minimax log(1 - D(G(z)))")
    ax.semilogy(steps_axis, [r["grad_non_saturating"] for r in history], "o-", label="non-saturating -log D(G(z))")
    ax.set(xlabel="discriminator steps (G frozen)", ylabel="||grad_G loss||", title="generator gradient")
    ax.legend(fontsize=8)
    ax_ratio.loglog([r["d_fake"] for r in history], ratio, "o-")
    ax_ratio.axhline(10.0, color="red", ls="--", label="rule: ratio >= 10 at D(G(z)) <= 0.05")
    ax_ratio.axvline(0.05, color="gray", ls=":")
    ax_ratio.set(xlabel="mean D(G(z))", ylabel="non-saturating / minimax", title="gradient ratio")
    ax_ratio.invert_xaxis()
    ax_ratio.legend(fontsize=8)
    return Evidence(
        metrics={"ratio_when_rejected": ratio[-1], "d_fake_when_rejected": last["d_fake"],
                 "ratio_untrained": ratio[0], "d_fake_untrained": first["d_fake"],
                 "grad_minimax_when_rejected": last["grad_minimax"],
                 "grad_non_saturating_when_rejected": last["grad_non_saturating"]},
        holds=holds,
        figure=fig,
        key_metric="ratio_when_rejected",
        details={"history": history},
    )


@claim(
    "gan.mode-collapse",
    statement="On the ring of 8 Gaussians a collapse-prone vanilla GAN puts its mass on a few modes (it hops "
    "between them), while packing the discriminator's inputs (PacGAN) recovers every mode with sharp samples.",
    source="Metz et al. 2017 (Unrolled GANs), section 3.1; Srivastava et al. 2017 (VEEGAN), section 5 (the "
    "metric); Lin et al. 2018 (PacGAN)",
    rule="over 3 internal seeds (3s, 3s + 1, 3s + 2), 2,500 samples each, a sample high quality within 3 std of "
    "its nearest mode and a mode covered when nearest to >= 1 high-quality sample: vanilla covers <= 4 modes in "
    ">= 2 of 3 seeds; PacGAN2 covers >= 7.5 modes on average with >= 70 % high-quality samples on average; "
    "mean modes of vanilla <= mean modes of PacGAN2",
    threads=1,
)
def mode_collapse(scale: Scale, seed: int) -> Evidence:
    runs = mode_collapse_runs(seed)
    metrics: dict[str, float] = {
        "vanilla_seeds_collapsed": sum(r.modes <= 4 for r in runs["vanilla"]),
        "pacgan2_modes_mean": sum(r.modes for r in runs["pacgan2"]) / 3,
        "pacgan2_high_quality_mean": sum(r.high_quality for r in runs["pacgan2"]) / 3,
        "vanilla_modes_mean": sum(r.modes for r in runs["vanilla"]) / 3,
    }
    for name, results in runs.items():
        for i, r in enumerate(results):
            metrics[f"{name}_modes_{3 * seed + i}"] = r.modes
            metrics[f"{name}_high_quality_{3 * seed + i}"] = r.high_quality
            # sqrt of the trace of the samples' covariance: ~2 for the whole ring, small for a collapsed G
            metrics[f"{name}_spread_{3 * seed + i}"] = float(r.samples.var(dim=0).sum().sqrt())

    fig, axes = new_figure(2, 3, width=12, height=8)
    means = ring_means(radius=COLLAPSE_RADIUS)
    for row, name in enumerate(("vanilla", "pacgan2")):
        for col, r in enumerate(runs[name]):
            ax = axes[3 * row + col]
            ax.scatter(r.samples[:, 0], r.samples[:, 1], s=2, alpha=0.4)
            ax.scatter(means[:, 0], means[:, 1], marker="x", color="red", s=30)
            ax.set(xlim=(-3, 3), ylim=(-3, 3), aspect="equal",
                   title=f"{name} seed {3 * seed + col}: {r.modes} modes, {100 * r.high_quality:.0f} % HQ")
    return Evidence(metrics=metrics, holds=mode_collapse_holds(runs), figure=fig, key_metric="pacgan2_modes_mean",
                    details={"rule_inputs": {k: [(r.modes, r.high_quality) for r in v] for k, v in runs.items()}})
