"""``reward.overoptimization``: best-of-n against a proxy raises the proxy score for ever, the gold score only
for a while (Gao, Schulman and Hilton 2023, arXiv 2210.10760, Figure 1 and Section 3.1).

Setup (claims.md section 11's CPU miniature, with heavy-tailed items): items ``phi`` in R^16 are multivariate
Student-t with 3 degrees of freedom; the gold reward is ``GoldReward`` (64 Gaussian bumps, 0 far out); proxies
(``archlab.reward.proxy``) are trained on 300, 1,000 and 10,000 deterministically labelled pairs; best-of-n for
n = 1, 2, 4, ..., 8192 over a pool of 100,000 items, the expected proxy and gold scores exact from order
statistics (``archlab.reward.best_of_n``), plotted against d = sqrt(log n - (n - 1)/n). Gold is reported
relative to n = 1 (the base policy), so R(0) = 0 as in the paper's fits.
"""

from __future__ import annotations

import time

import torch

from archlab.data.streams import step_generator
from archlab.lab.claim import Evidence, Scale
from archlab.reward.best_of_n import best_of_n, quadratic_fit
from archlab.reward.proxy import train_proxy
from archlab.reward.synthetic import GoldReward, PreferenceSetup

SIZES = (300, 1000, 10_000)
NS = [2**i for i in range(14)]

RULE = ("best-of-n for n = 1, 2, 4, ..., 8192, d = sqrt(log n - (n - 1)/n): the expected proxy score rises "
        "strictly with n for every proxy; with 300 and with 1,000 training pairs the gold score peaks at an interior "
        "n* (1 < n* < 8192) and gold(8192) <= gold(n*) - 0.1 (gold(n*) - gold(1)), and the fit gold(n) - gold(1) = "
        "d (alpha - beta d) has R^2 >= 0.9 with beta > 0; with 10,000 pairs the peak gold (relative to n = 1) is "
        "higher than with 300 and comes at a d no smaller")


def overoptimization(scale: Scale, seed: int) -> Evidence:
    start = time.perf_counter()
    setup = PreferenceSetup(in_features=16, tails=3)
    gold = GoldReward(16, seed=seed)
    pool = setup.items(100_000, step_generator(seed, "pool", 0))
    held = setup.pairs(2000, gold, step_generator(seed, "eval", 0))
    gold_pool = gold(pool)
    steps = 500 if scale == Scale.QUICK else 3000
    metrics: dict[str, float] = {}
    curves = {}
    holds = True
    for size in SIZES:
        proxy = train_proxy(setup, gold, size, held, seed=seed, steps=steps)
        with torch.no_grad():
            curve = best_of_n(proxy(pool), gold_pool, NS)
        gain = [g - curve.gold[0] for g in curve.gold]
        peak = max(range(len(NS)), key=lambda i: gain[i])
        alpha, beta, r2 = quadratic_fit(curve.d, gain)
        rising = all(b > a for a, b in zip(curve.proxy, curve.proxy[1:]))
        fall = (gain[peak] - gain[-1]) / gain[peak] if gain[peak] > 0 else 0.0
        curves[size] = (curve, gain, alpha, beta)
        metrics.update({f"peak_gold_{size}": gain[peak], f"peak_n_{size}": NS[peak], f"peak_d_{size}": curve.d[peak],
                        f"fall_fraction_{size}": fall, f"r2_{size}": r2, f"beta_{size}": beta,
                        f"proxy_rises_{size}": rising})
        holds = holds and rising
        if size in (300, 1000):
            holds = holds and 0 < peak < len(NS) - 1 and fall >= 0.1 and r2 >= 0.9 and beta > 0
    holds = (holds and metrics["peak_gold_10000"] > metrics["peak_gold_300"]
             and metrics["peak_d_10000"] >= metrics["peak_d_300"])
    metrics["seconds"] = time.perf_counter() - start
    return Evidence(metrics=metrics, holds=holds, figure=_figure(curves), key_metric="fall_fraction_300")


def _figure(curves):
    import matplotlib.pyplot as plt

    fig, (ax_gold, ax_proxy) = plt.subplots(1, 2, figsize=(10, 4))
    for size, (curve, gain, alpha, beta) in curves.items():
        line = ax_gold.plot(curve.d, gain, "o", label=f"{size:,} pairs")[0]
        d = torch.linspace(0, max(curve.d), 100)
        ax_gold.plot(d, d * (alpha - beta * d), "-", color=line.get_color(), alpha=0.6)
        ax_proxy.plot(curve.d, [p - curve.proxy[0] for p in curve.proxy], "o-", color=line.get_color(),
                      label=f"{size:,} pairs")
    ax_gold.set(xlabel="d = sqrt(KL_bon)", ylabel="gold score - gold(n=1)", title="gold (fit d(alpha - beta d))")
    ax_proxy.set(xlabel="d = sqrt(KL_bon)", ylabel="proxy score - proxy(n=1)", title="proxy")
    ax_gold.legend()
    ax_proxy.legend()
    fig.tight_layout()
    return fig
