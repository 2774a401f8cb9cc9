"""The synthetic routing task of the MoE claims: tokens from 8 Gaussian clusters, a label that needs an expert.

Section 4 of the claims reference ("CPU miniature"): tokens in R^32 drawn from 8 Gaussian clusters of equal
weight (centres ``N(0, I)`` scaled to norm ``radius`` = 3, plus one common offset of norm 4 shared by all
clusters, as hidden states share a mean direction; within-cluster noise ``N(0, I)``); the label of a token of
cluster c is ``2c + [(x - centre_c) . w_c > 0]`` with a random direction ``w_c`` per cluster, 16 classes in all,
so every cluster needs its own (non-linear across clusters) rule. The model is ``x -> x + MoE(x) -> linear
head``: one MoE layer of 8 SwiGLU experts, trained with Adam on fresh batches through the one loop
(``archlab.train.fit``), the learning rate annealed to zero on a cosine (Loshchilov & Hutter 2017; with a
constant rate the router keeps moving to the last step and the load of the final router is that of a random
point of an oscillation). ``RoutingTask`` is a ``SampledTask`` (``archlab.lab.experiment``): the batch of step
``s`` comes from the ``"train"`` stream of the seed, the held-out batches from its ``"eval"`` stream, and the
task's clusters from the ``"task"`` stream of ``task_seed`` (``archlab.data.streams``).

``train_routing`` trains one condition (a router and a balancing method) and evaluates it on a held-out set of
``eval_batches`` fresh batches of the training batch size:

- load statistics over the whole set (per-expert load, max/mean load, CV(load), MaxVio; with many tokens the
  multinomial noise of the cluster sizes, about 6% per expert in one batch of 2048, stays out of the measure:
  Wang et al. 2024's MaxVio_global, on the validation set), and MaxVio of each batch averaged (their
  MaxVio_batch, which includes that noise);
- the fraction of assignments that a capacity factor of 1.0, 1.25 or 2.0 drops, capacity counted per batch of
  the training batch size, as a capacity limit applies;
- task accuracy, the mean squared logsumexp of the router logits and the share of tokens no expert serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from archlab.data.streams import step_generator
from archlab.lab.experiment import SampledTask, quick_fit
from archlab.moe.layer import MoELayer, expert_capacity
from archlab.moe.losses import coefficient_of_variation, max_violation

N_CLUSTERS, D_INPUT, N_CLASSES = 8, 32, 16
CAPACITY_FACTORS = (1.0, 1.25, 2.0)


class ClusterTask:
    """Batches ``(x (N, 32), label (N,))`` of the 8-cluster task; the task itself is fixed by ``task_seed``."""

    def __init__(self, *, task_seed: int = 0, radius: float = 3.0, noise: float = 1.0, offset: float = 4.0) -> None:
        g = step_generator(task_seed, "task", 0)
        centres = torch.randn(N_CLUSTERS, D_INPUT, generator=g)
        common = torch.randn(D_INPUT, generator=g)
        self.centres = radius * centres / centres.norm(dim=-1, keepdim=True)  # (8, 32)
        self.centres = self.centres + offset * common / common.norm()
        self.directions = torch.randn(N_CLUSTERS, D_INPUT, generator=g)  # w_c (8, 32)
        self.noise = noise

    def batch(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        cluster = torch.randint(0, N_CLUSTERS, (n,), generator=generator)
        offset = self.noise * torch.randn(n, D_INPUT, generator=generator)  # (N, 32)
        x = self.centres[cluster] + offset
        side = (offset * self.directions[cluster]).sum(dim=-1) > 0  # (N,)
        return x, 2 * cluster + side.long()


class RoutedClassifier(nn.Module):
    """``x -> head(x + MoE(x))``: one MoE layer between the input and a linear classifier."""

    def __init__(self, **moe_kwargs) -> None:
        super().__init__()
        self.moe = MoELayer(d_model=D_INPUT, **moe_kwargs)
        self.head = nn.Linear(D_INPUT, N_CLASSES)

    def forward(self, x: torch.Tensor):
        out = self.moe(x)
        return self.head(x + out.hidden), out


@dataclass
class RoutingResult:
    """What one trained condition measured on the held-out batches (see the module docstring); ``history`` is
    the max/mean load of each training batch."""

    load: list[float]
    max_over_mean: float
    cv: float
    max_violation: float
    max_violation_batch: float
    dropped: dict[float, float]
    accuracy: float
    lse_squared: float
    unserved_tokens: float
    aux_grad_norm: float
    history: list[float] = field(default_factory=list)


def dropped_fraction(loads: torch.Tensor, n_tokens: int, top_k: int, capacity_factor: float) -> float:
    """Share of the assignments counted in ``loads`` (batches, K), batches of ``n_tokens`` tokens each, that
    exceed each batch's ``expert_capacity`` at ``capacity_factor``."""
    capacity = expert_capacity(n_tokens, loads.shape[-1], capacity_factor, top_k)
    return float((loads - capacity).clamp_min(0).sum() / loads.sum())


class RoutingTask(SampledTask):
    """Train a ``RoutedClassifier`` on the cluster task: cross-entropy plus the layer's balancing loss. ``loss``
    records each training batch's max/mean load (``history``) and, at the first step, the norm of the balancing
    loss's gradient on the router weight (``aux_grad_norm``, zero for a loss-free router); ``after_step`` lowers
    a loss-free router's bias step ``gamma`` tenfold for the last quarter of ``steps`` (DeepSeek-V3 lowers it late)."""

    def __init__(self, model: RoutedClassifier, clusters: ClusterTask, *, batch_size: int, seed: int, steps: int,
                 eval_batches: int) -> None:
        super().__init__(batch_size=batch_size, seed=seed, eval_size=eval_batches * batch_size)
        self.model, self.clusters, self.steps = model, clusters, steps
        self.history: list[float] = []
        self.aux_grad_norm: float | None = None

    def sample(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return self.clusters.batch(size, generator)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor], player: str) -> torch.Tensor:
        x, y = batch
        logits, out = self.model(x)
        if self.aux_grad_norm is None:
            self.aux_grad_norm = 0.0
            if out.aux_loss.requires_grad:
                grads = torch.autograd.grad(out.aux_loss, self.model.moe.router.weight, retain_graph=True,
                                            allow_unused=True)
                self.aux_grad_norm = 0.0 if grads[0] is None else float(grads[0].norm())
        self.history.append(max_violation(out.router_stats.load) + 1)
        return F.cross_entropy(logits, y) + out.aux_loss

    def after_step(self, step: int) -> None:
        super().after_step(step)
        router = self.model.moe.router
        if step + 1 == int(0.75 * self.steps) and getattr(router, "gamma", 0.0):
            router.gamma = router.gamma / 10

    def eval_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The held-out set cut into batches of the training batch size (capacity applies per batch)."""
        x, y = self.held_out()
        return list(zip(x.split(self.batch_size), y.split(self.batch_size)))

    def evaluate(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"val_accuracy": (self.model(x)[0].argmax(-1) == y).float().mean()}


def routing_model(*, seed: int, d_expert: int = 64, **moe_kwargs) -> RoutedClassifier:
    """``RoutedClassifier(**moe_kwargs)`` with ``N_CLUSTERS`` experts, initialised from ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return RoutedClassifier(n_experts=N_CLUSTERS, d_expert=d_expert, **moe_kwargs)


def train_routing(*, seed: int, steps: int, batch: int = 4096, lr: float = 3e-3, d_expert: int = 64,
                  eval_batches: int = 8, task: ClusterTask | None = None, **moe_kwargs) -> RoutingResult:
    """Train ``routing_model(seed=seed, d_expert=d_expert, **moe_kwargs)`` for ``steps`` Adam steps and evaluate
    it (``fit_routing``)."""
    return fit_routing(routing_model(seed=seed, d_expert=d_expert, **moe_kwargs), seed=seed, steps=steps,
                       batch=batch, lr=lr, eval_batches=eval_batches, task=task)


def fit_routing(model: RoutedClassifier, *, seed: int, steps: int, batch: int = 4096, lr: float = 3e-3,
                eval_batches: int = 8, task: ClusterTask | None = None) -> RoutingResult:
    """Train ``model`` for ``steps`` Adam steps on batches drawn by ``seed`` and evaluate it. Only a router that
    draws noise while training (``noisy_topk``) draws from torch's global generator."""
    routing = RoutingTask(model, task or ClusterTask(), batch_size=batch, seed=seed, steps=steps,
                          eval_batches=eval_batches)
    quick_fit(routing, steps=steps, lr=lr, batch_size=batch, seed=seed, betas=(0.9, 0.999), min_lr_ratio=0.0,
              grad_clip=0.0, eval_batches=eval_batches)
    model.eval()
    loads, correct, lse2, unserved = [], 0, 0.0, 0
    with torch.no_grad():
        for x, y in routing.eval_batches():
            logits, out = model(x)
            loads.append(out.router_stats.load)
            correct += int((logits.argmax(-1) == y).sum())
            lse2 += float(torch.logsumexp(model.moe.router(x).logits.float(), dim=-1).pow(2).mean()) / eval_batches
            unserved += int(out.router_stats.dropped_tokens)
        top_k = max(model.moe.router(x[:1]).top_k, 1)
    per_batch = torch.stack(loads)  # (eval_batches, K)
    load = per_batch.sum(0)  # (K,)
    return RoutingResult(
        load=load.tolist(),
        max_over_mean=float(load.max() / load.mean()),
        cv=coefficient_of_variation(load),
        max_violation=max_violation(load),
        max_violation_batch=sum(max_violation(b) for b in per_batch) / eval_batches,
        dropped={cf: dropped_fraction(per_batch, batch, top_k, cf) for cf in CAPACITY_FACTORS},
        accuracy=correct / (eval_batches * batch),
        lse_squared=lse2,
        unserved_tokens=unserved / (eval_batches * batch),
        aux_grad_norm=routing.aux_grad_norm or 0.0,
        history=routing.history,
    )
