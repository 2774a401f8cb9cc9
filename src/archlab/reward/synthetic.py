"""The synthetic preference setup: items with a hidden gold reward, and pairs labelled from it.

Gao, Schulman and Hilton 2023 (arXiv 2210.10760, Section 2) replace human labellers by a fixed "gold" reward
model ``R*`` that labels the comparisons a proxy is trained on. In this miniature an item is a feature vector
``phi ~ N(0, I_F)`` (or multivariate Student-t with ``tails`` degrees of freedom, for rare outliers) and ``R*`` is
a fixed random network (``GoldReward``: a two-layer network of Gaussian bumps drawn from a seed, mean 0 and
standard deviation 1 over a reference sample, 0 far from the data). A pair ``(a, b)`` of independent
items is labelled

- ``"deterministic"``: the item with the higher gold reward wins (Gao et al.'s setup);
- ``"bradley-terry"``: ``a`` wins with probability ``sigmoid(beta * (R*(a) - R*(b)))`` (Bradley and Terry
  1952), ``beta`` the inverse temperature;

and then, with label noise rate ``e``, each label is flipped independently with probability ``e``. A pair is
stored as ``(chosen, rejected)`` features with ``gold_rejected`` saying whether the gold reward prefers the
rejected item (a flipped or Bradley-Terry-sampled label against the gold ordering), so that accuracy against the
gold ordering and against the labels themselves can both be measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from archlab.core.validation import check_at_least, check_choices

Labelling = Literal["deterministic", "bradley-terry"]


class GoldReward(nn.Module):
    """A fixed random network ``phi (B, F) -> R* (B,)`` of ``hidden`` Gaussian bumps; no trainable parameters.

    ``R*(phi) = sum_j w2_j exp(-z_j^2 / 2)`` with ``z = phi W1 + b1``, ``W1 ~ N(0, 1/F)``, ``b1 ~ N(0, 1)``,
    ``w2 ~ N(0, 1/hidden)`` drawn from ``seed``. Far from the data every bump is 0, so ``R*`` is 0 there; ``w2``
    is then projected so that the mean of ``R*`` over 20,000 items ``N(0, I)`` is 0 too, and scaled to standard
    deviation 1 over them. An item far out is thus an average item, not a good one: the proxy's extrapolation
    on outliers is what best-of-n exploits (Gao et al. 2023's over-optimisation).
    """

    def __init__(self, in_features: int, *, hidden: int = 64, seed: int = 0) -> None:
        super().__init__()
        check_at_least(dict(in_features=in_features, hidden=hidden), 1)
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("w1", torch.randn(in_features, hidden, generator=g) / in_features**0.5)
        self.register_buffer("b1", torch.randn(hidden, generator=g))
        self.register_buffer("w2", torch.randn(hidden, generator=g) / hidden**0.5)
        with torch.no_grad():
            sample = torch.randn(20_000, in_features, generator=g)
            mean_bumps = self.bumps(sample).mean(dim=0)  # (H,)
            self.w2.sub_((self.w2 @ mean_bumps) / (mean_bumps @ mean_bumps) * mean_bumps)
            self.w2.div_(self(sample).std())

    def bumps(self, features: torch.Tensor) -> torch.Tensor:
        z = features @ self.w1 + self.b1  # (B, F) @ (F, H) -> (B, H)
        return torch.exp(-z**2 / 2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.bumps(features) @ self.w2  # (B, H) @ (H,) -> (B,)


@dataclass
class PairBatch:
    """Labelled pairs: ``chosen`` and ``rejected`` features (B, F), and ``gold_rejected`` (B,), True where the
    gold reward prefers the rejected item."""

    chosen: torch.Tensor
    rejected: torch.Tensor
    gold_rejected: torch.Tensor

    def __len__(self) -> int:
        return self.chosen.shape[0]

    def subset(self, index: torch.Tensor) -> "PairBatch":
        return PairBatch(self.chosen[index], self.rejected[index], self.gold_rejected[index])


@dataclass
class PreferenceSetup:
    """How pairs are drawn and labelled: feature width, labelling rule, BT inverse temperature, noise rate."""

    in_features: int = 16
    labelling: Labelling = "deterministic"
    beta: float = 1.0
    noise: float = 0.0
    tails: int | None = None

    def __post_init__(self) -> None:
        check_at_least(self, 1, "in_features")
        check_choices(self, {"labelling": ("deterministic", "bradley-terry")})
        if not self.beta > 0:
            raise ValueError(f"beta={self.beta} must be > 0")
        if self.tails is not None and self.tails < 1:
            raise ValueError(f"tails={self.tails} must be >= 1 (or None for Gaussian items)")
        if not 0.0 <= self.noise < 0.5:
            raise ValueError(f"noise={self.noise} must be in [0, 0.5)")

    def items(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` items (n, F): ``N(0, I)``, or with ``tails = nu`` multivariate Student-t with nu degrees of
        freedom (``z / sqrt(chi2_nu / nu)``, one scale per item: rare items far out in every direction)."""
        z = torch.randn(n, self.in_features, generator=generator)
        if self.tails is None:
            return z
        chi2 = torch.randn(n, self.tails, generator=generator).pow(2).sum(dim=1)  # (n,) ~ chi^2_nu
        return z / torch.sqrt(chi2 / self.tails)[:, None]

    def pairs(self, n: int, gold: nn.Module, generator: torch.Generator) -> PairBatch:
        """``n`` pairs of independent items, labelled from ``gold`` by the rule, then flipped at rate ``noise``."""
        a, b = self.items(n, generator), self.items(n, generator)  # (n, F) each
        with torch.no_grad():
            diff = gold(a) - gold(b)  # (n,)
        if self.labelling == "deterministic":
            a_wins = diff > 0
        else:
            a_wins = torch.rand(n, generator=generator) < torch.sigmoid(self.beta * diff)
        flipped = torch.rand(n, generator=generator) < self.noise
        a_chosen = a_wins ^ flipped  # (n,)
        chosen = torch.where(a_chosen[:, None], a, b)  # (n, F)
        rejected = torch.where(a_chosen[:, None], b, a)
        return PairBatch(chosen, rejected, gold_rejected=torch.where(a_chosen, diff < 0, diff > 0))
