"""``reward.bradley-terry-recovers``: a Bradley-Terry proxy trained on gold-labelled pairs recovers the gold
ranking, better with more pairs (Bradley and Terry 1952; Gao, Schulman and Hilton 2023's synthetic setup).

Setup: items ``phi ~ N(0, I_8)``, gold ``GoldReward(8)``, proxies from ``archlab.reward.proxy`` (800 steps).
Recovery: proxies on 100, 1,000, 3,000 and 10,000 deterministic pairs; Spearman correlation of proxy and gold
over 5,000 held-out items and pairwise accuracy on 2,000 held-out pairs.
"""

from __future__ import annotations

import time

import torch

from archlab.data.streams import step_generator
from archlab.lab.claim import Evidence, Scale
from archlab.reward.losses import pairwise_accuracy
from archlab.reward.proxy import train_proxy
from archlab.reward.synthetic import GoldReward, PreferenceSetup

SIZES = (100, 1000, 3000, 10_000)
RECOVERY_RULE = ("proxies trained on 100, 1,000, 3,000 and 10,000 gold-labelled pairs: Spearman correlation of the "
                 "proxy with the gold over 5,000 held-out items >= 0.9 at 10,000 pairs, and held-out pairwise "
                 "accuracy rises with the number of pairs: acc(10,000) >= acc(100) + 0.05 and no larger size is "
                 "more than 0.01 below the size before it")


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two score vectors (N,) without ties."""
    ranks = [torch.argsort(torch.argsort(x)).double() for x in (a, b)]
    ra, rb = (r - r.mean() for r in ranks)
    return float((ra @ rb) / (ra.norm() * rb.norm()))


def _steps(scale: Scale) -> int:
    return 800 if scale == Scale.QUICK else 4000


def bradley_terry_recovers(scale: Scale, seed: int) -> Evidence:
    start = time.perf_counter()
    setup, gold = PreferenceSetup(in_features=8), GoldReward(8, seed=seed)
    held = setup.pairs(2000, gold, step_generator(seed, "eval", 0))
    items = setup.items(5000, step_generator(seed, "items", 0))
    accuracy, rho = [], []
    with torch.no_grad():
        gold_items = gold(items)
    for size in SIZES:
        proxy = train_proxy(setup, gold, size, held, seed=seed, steps=_steps(scale))
        with torch.no_grad():
            accuracy.append(pairwise_accuracy(proxy(held.chosen), proxy(held.rejected)))
            rho.append(spearman(proxy(items), gold_items))
    rises = accuracy[-1] >= accuracy[0] + 0.05 and all(b >= a - 0.01 for a, b in zip(accuracy, accuracy[1:]))
    metrics = {"spearman_10000": rho[-1], **{f"accuracy_{n}": a for n, a in zip(SIZES, accuracy)},
               **{f"spearman_{n}": r for n, r in zip(SIZES[:-1], rho[:-1])}, "seconds": time.perf_counter() - start}
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.semilogx(SIZES, accuracy, "o-", label="held-out pairwise accuracy")
    ax.semilogx(SIZES, rho, "s-", label="Spearman(proxy, gold)")
    ax.set(xlabel="training pairs", ylabel="agreement with the gold reward", title="Bradley-Terry recovery")
    ax.legend()
    fig.tight_layout()
    return Evidence(metrics=metrics, holds=rho[-1] >= 0.9 and rises, figure=fig, key_metric="spearman_10000")
