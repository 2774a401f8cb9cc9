"""The Bradley-Terry preference loss and the pairwise accuracy of a reward model.

Bradley and Terry 1952 model the probability that item ``w`` is preferred to item ``l`` as
``P(w > l) = sigmoid(r(w) - r(l))``; a reward model is fitted by maximum likelihood on labelled pairs,
``L = -E log sigmoid(r(x, y_w) - r(x, y_l))`` (Stiennon et al. 2020; Ouyang et al. 2022, InstructGPT, eq. 1).
Llama 2 (Touvron et al. 2023, eq. 2) subtracts a margin ``m(r)`` inside the sigmoid for pairs rated far apart:
``L = -log sigmoid(r_w - r_l - m)``.

Code names: ``chosen`` is ``r(x, y_w)``, ``rejected`` is ``r(x, y_l)``, ``margin`` is ``m``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_pair(chosen: torch.Tensor, rejected: torch.Tensor) -> None:
    if chosen.shape != rejected.shape or chosen.dim() != 1:
        raise ValueError(f"chosen {tuple(chosen.shape)} and rejected {tuple(rejected.shape)} must both be (B,)")


def bradley_terry_loss(
    chosen: torch.Tensor, rejected: torch.Tensor, *, margin: torch.Tensor | float | None = None
) -> torch.Tensor:
    """Mean of ``-log sigmoid(chosen - rejected - margin)`` over the pairs; rewards (B,), margin a scalar or (B,)."""
    _check_pair(chosen, rejected)
    diff = chosen - rejected  # (B,)
    if margin is not None:
        diff = diff - margin
    return -F.logsigmoid(diff).mean()


def preference_probability(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """The model's probability that ``chosen`` is preferred, ``sigmoid(chosen - rejected)``, (B,)."""
    _check_pair(chosen, rejected)
    return torch.sigmoid(chosen - rejected)


def pairwise_accuracy(chosen: torch.Tensor, rejected: torch.Tensor) -> float:
    """The fraction of pairs the model orders as labelled (``chosen > rejected``); a tie counts one half."""
    _check_pair(chosen, rejected)
    if chosen.numel() == 0:
        raise ValueError("pairwise accuracy of no pairs is undefined")
    wins = (chosen > rejected).float() + 0.5 * (chosen == rejected).float()  # (B,)
    return float(wins.mean())
