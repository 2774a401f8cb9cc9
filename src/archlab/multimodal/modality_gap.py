"""The modality gap of a contrastively trained dual encoder, and how temperature keeps it (Liang et al. 2022,
section 4).

Setup (the CPU miniature of ``reference/claims.md`` section 12): paired synthetic data, ``x`` in R^32 standard
normal and ``y = tanh(A x) + 0.1 n`` for a fixed random ``A`` (drawn from the seed), with 5 % of the training pairs
deliberately mismatched (``y`` from another ``x``: the repulsion that keeps the gap needs mismatched pairs, Liang
et al. section 4.2). Two encoders, each a 3-layer ReLU MLP (32 -> 128 -> 128 -> 64), independently initialised;
symmetric InfoNCE on normalised embeddings with a fixed temperature ``tau`` in {0.01, 0.03, 0.1, 1.0}, batch 64,
``STEPS`` AdamW steps each (``lab.experiment.quick_fit``). Measured on 256 held-out clean pairs: the gap
``||mean x_n - mean y_n||`` and image-to-text retrieval top-1 among them.

Shift probe (Liang et al. section 4.3): on the ``tau = 0.01`` model, embed held-out pairs drawn as the training
pairs are (5 % mismatched, since the loss's repulsion comes from them), move each side half the gap vector
``Delta`` towards the other, ``x' = normalise(x_n - Delta / 2)``, ``y' = normalise(y_n + Delta / 2)``, which closes
the gap, and compare the symmetric InfoNCE before and after, over batches of 64 as in training, evaluated at
``tau = 0.01`` and at ``tau = 1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archlab.data.streams import step_generator
from archlab.lab.claim import Evidence, Scale
from archlab.lab.experiment import SampledTask, quick_fit
from archlab.lab.figures import new_figure
from archlab.multimodal.contrastive import modality_gap, retrieval_top1, symmetric_infonce

TEMPERATURES = (0.01, 0.03, 0.1, 1.0)
DIM, EMBED, HIDDEN = 32, 64, 128
STEPS, BATCH, LR = 800, 64, 1e-3
MISMATCHED, HELD_OUT, PROBE_BATCHES = 0.05, 256, 16


def _mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(DIM, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN, EMBED))


class DualEncoder(nn.Module):
    """Two independently initialised MLP towers: (B, 32), (B, 32) -> (B, 64), (B, 64)."""

    def __init__(self) -> None:
        super().__init__()
        self.image, self.text = _mlp(), _mlp()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.image(x), self.text(y)


class PairedTask(SampledTask):
    """Pairs ``(x, tanh(A x) + 0.1 n)``, a fraction ``mismatched`` of them shuffled, at a fixed temperature."""

    def __init__(self, model: DualEncoder, mixing: torch.Tensor, temperature: float, *, seed: int) -> None:
        super().__init__(batch_size=BATCH, seed=seed, eval_size=HELD_OUT)
        self.model, self.mixing, self.temperature = model, mixing, temperature

    def sample(self, size: int, generator: torch.Generator, mismatched: float = MISMATCHED) -> torch.Tensor:
        x = torch.randn(size, DIM, generator=generator)
        y = torch.tanh(x @ self.mixing.t()) + 0.1 * torch.randn(size, DIM, generator=generator)
        wrong = torch.rand(size, generator=generator) < mismatched
        y[wrong] = y[torch.randint(0, size, (int(wrong.sum()),), generator=generator)]
        return torch.stack([x, y], dim=1)  # (B, 2, 32)

    def held_out(self) -> torch.Tensor:
        if self._held_out is None:
            self._held_out = self.sample(HELD_OUT, step_generator(self.seed, "eval", 0), mismatched=0.0)
        return self._held_out

    def loss(self, batch: torch.Tensor, player: str) -> torch.Tensor:
        a, b = self.model(batch[:, 0], batch[:, 1])
        return symmetric_infonce(a, b, 1.0 / self.temperature)


def shift_to_close(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised embeddings moved half the gap vector towards each other and renormalised."""
    xn, yn = F.normalize(x, dim=-1), F.normalize(y, dim=-1)
    delta = xn.mean(0) - yn.mean(0)
    return F.normalize(xn - delta / 2, dim=-1), F.normalize(yn + delta / 2, dim=-1)


def shift_probe(model: DualEncoder, pairs: torch.Tensor) -> dict[str, float]:
    """The mean symmetric InfoNCE over batches of ``BATCH`` of ``pairs`` (N, 2, 32), as trained and with the gap
    closed, at temperatures 0.01 and 1."""
    with torch.no_grad():
        x, y = model.eval()(pairs[:, 0], pairs[:, 1])
    xs, ys = shift_to_close(x, y)
    out = {}
    for t in (0.01, 1.0):
        for state, (a, b) in (("trained", (x, y)), ("shifted", (xs, ys))):
            losses = [symmetric_infonce(a[i:i + BATCH], b[i:i + BATCH], 1.0 / t) for i in range(0, len(a), BATCH)]
            out[f"loss_tau{t}_{state}"] = torch.stack(losses).mean().item()
    return out


def modality_gap_claim(scale: Scale, seed: int) -> Evidence:
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(DIM, DIM, generator=generator) / DIM ** 0.5
    gaps, top1, models = {}, {}, {}
    for tau in TEMPERATURES:
        torch.manual_seed(seed)
        model = DualEncoder()
        task = PairedTask(model, mixing, tau, seed=seed)
        quick_fit(task, steps=STEPS, lr=LR, batch_size=BATCH, seed=seed, warmup_steps=50)
        held = task.held_out()
        with torch.no_grad():
            x, y = model.eval()(held[:, 0], held[:, 1])
        gaps[tau], top1[tau] = modality_gap(x, y).item(), retrieval_top1(x, y).item()
        models[tau] = model
    probe = shift_probe(models[0.01], task.sample(PROBE_BATCHES * BATCH, step_generator(seed, "probe", 0)))
    monotone = all(gaps[a] >= gaps[b] for a, b in zip(TEMPERATURES, TEMPERATURES[1:]))
    holds = (monotone and gaps[0.01] >= 2 * gaps[1.0] and min(top1.values()) >= 0.5
             and probe["loss_tau0.01_shifted"] > probe["loss_tau0.01_trained"]
             and probe["loss_tau1.0_shifted"] < probe["loss_tau1.0_trained"])
    fig, (ax1, ax2) = new_figure(1, 2, width=10, height=4)
    ax1.semilogx(TEMPERATURES, [gaps[t] for t in TEMPERATURES], marker="o", label="gap")
    ax1.semilogx(TEMPERATURES, [top1[t] for t in TEMPERATURES], marker="s", label="retrieval top-1 (of 256)")
    ax1.set(xlabel="temperature tau", title="gap after training at fixed tau")
    ax1.legend(fontsize=8)
    ax2.bar(["tau 0.01: trained", "tau 0.01: shifted", "tau 1: trained", "tau 1: shifted"],
            [probe["loss_tau0.01_trained"], probe["loss_tau0.01_shifted"], probe["loss_tau1.0_trained"],
             probe["loss_tau1.0_shifted"]])
    ax2.set(ylabel="symmetric InfoNCE", title="closing the gap of the tau = 0.01 model")
    ax2.tick_params(axis="x", labelsize=7)
    metrics = {**{f"gap_tau{t}": gaps[t] for t in TEMPERATURES}, **{f"top1_tau{t}": top1[t] for t in TEMPERATURES},
               **probe}
    return Evidence(metrics=metrics, holds=holds, figure=fig, key_metric="gap_tau0.01")
