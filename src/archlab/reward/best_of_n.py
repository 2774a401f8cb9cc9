"""Best-of-n against a proxy reward, exactly, from order statistics over a pool; and its KL to the base policy.

Best-of-n (Nakano et al. 2021; Stiennon et al. 2020): draw ``n`` responses from the base policy and keep the one
the proxy reward scores highest. Gao, Schulman and Hilton 2023 (arXiv 2210.10760, Section 2.2) measure how far
it moves from the base by ``KL_bon = log n - (n - 1) / n`` and plot the gold score against ``d = sqrt(KL)``.

Here the base policy is uniform over a pool of M items. Sort the pool by proxy score, ascending, rank k = 1..M
(ties are assumed away: continuous scores). The kept item has rank <= k exactly when all n draws (with
replacement) have rank <= k, so ``P(rank k is kept) = (k / M)^n - ((k - 1) / M)^n``, and the expected gold and
proxy scores of best-of-n are sums of the pool's scores under those weights, with no sampling.

``KL_bon`` derivation: with u = F(y) the base CDF value of the kept item, best-of-n has density ``n u^(n-1)`` on
[0, 1] against the base's uniform, so ``KL = log n + (n - 1) E[log u] = log n - (n - 1) / n``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def bon_kl(n: int) -> float:
    """``log n - (n - 1) / n``: the KL from the base policy to best-of-n (continuous scores), in nats."""
    if n < 1:
        raise ValueError(f"n={n} must be >= 1")
    return math.log(n) - (n - 1) / n


def bon_probabilities(pool_size: int, n: int) -> torch.Tensor:
    """``P(rank k is kept)`` for ranks k = 1..M ascending by proxy score, (M,) float64, summing to 1."""
    if pool_size < 1 or n < 1:
        raise ValueError(f"pool_size={pool_size} and n={n} must be >= 1")
    k = torch.arange(pool_size + 1, dtype=torch.float64) / pool_size  # (M + 1,) = 0, 1/M, ..., 1
    cdf = k**n  # P(max rank <= k)
    return cdf[1:] - cdf[:-1]  # (M,)


@dataclass
class BestOfN:
    """Exact best-of-n curves over a pool: ``ns``, ``kl`` and ``d = sqrt(kl)``, expected ``proxy`` and ``gold``."""

    ns: list[int]
    kl: list[float]
    d: list[float]
    proxy: list[float]
    gold: list[float]


def best_of_n(proxy: torch.Tensor, gold: torch.Tensor, ns: list[int]) -> BestOfN:
    """Expected proxy and gold score of best-of-n against ``proxy`` for each n, the base uniform over the pool
    whose scores are ``proxy`` and ``gold`` (M,)."""
    if proxy.shape != gold.shape or proxy.dim() != 1:
        raise ValueError(f"proxy {tuple(proxy.shape)} and gold {tuple(gold.shape)} must be the same (M,)")
    order = torch.argsort(proxy.double(), stable=True)  # ascending proxy rank
    proxy_sorted, gold_sorted = proxy.double()[order], gold.double()[order]  # (M,)
    curves = BestOfN(list(ns), [], [], [], [])
    for n in ns:
        weights = bon_probabilities(proxy.numel(), n)  # (M,)
        curves.kl.append(bon_kl(n))
        curves.d.append(math.sqrt(bon_kl(n)))
        curves.proxy.append(float(weights @ proxy_sorted))
        curves.gold.append(float(weights @ gold_sorted))
    return curves


def sample_best_of_n(scores: torch.Tensor, n: int, samples: int, generator: torch.Generator) -> torch.Tensor:
    """Indices (samples,) of the items best-of-n keeps, by simulation: ``n`` uniform draws from the pool of
    ``scores`` (M,) per sample, the highest-scoring one kept."""
    draws = torch.randint(scores.numel(), (samples, n), generator=generator)  # (S, n)
    best = scores[draws].argmax(dim=1)  # (S,)
    return draws.gather(1, best[:, None]).squeeze(1)  # (S,)


def monte_carlo_bon_kl(scores: torch.Tensor, n: int, samples: int, generator: torch.Generator) -> float:
    """A Monte-Carlo estimate of KL(best-of-n || uniform base) over the pool: the mean of
    ``log(P_bon(x) / (1 / M))`` over simulated best-of-n draws x, ``P_bon`` from the pool's ranks."""
    m = scores.numel()
    kept = sample_best_of_n(scores, n, samples, generator)  # (S,)
    rank = torch.empty(m, dtype=torch.long)
    rank[torch.argsort(scores)] = torch.arange(m)  # item -> 0-based ascending rank
    log_ratio = torch.log(bon_probabilities(m, n) * m)  # (M,) by rank
    return float(log_ratio[rank[kept]].mean())


def quadratic_fit(d: list[float], gain: list[float]) -> tuple[float, float, float]:
    """Least-squares fit of ``gain = d (alpha - beta d)`` (no intercept: zero gain at d = 0); ->
    ``(alpha, beta, R^2)`` with R^2 against the mean of ``gain``."""
    x = torch.tensor(d, dtype=torch.float64)
    y = torch.tensor(gain, dtype=torch.float64)
    design = torch.stack([x, -x**2], dim=1)  # (P, 2)
    coef = torch.linalg.lstsq(design, y[:, None]).solution.squeeze(1)  # (2,)
    residual = y - design @ coef
    total = ((y - y.mean()) ** 2).sum()
    r2 = float(1 - (residual**2).sum() / total) if total > 0 else float("nan")
    return float(coef[0]), float(coef[1]), r2
