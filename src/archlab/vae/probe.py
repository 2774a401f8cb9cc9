"""A linear probe: multinomial logistic regression from features to labels, fitted on one half of a set and
scored on the other, to ask whether a representation (a VAE's sampled latent z) carries a factor (the topic).

The features are used in their own units, not standardised. The L2 penalty makes the probe blind only to
features far below the prior's unit scale (posterior means scaled by 1e-3 read at chance), not to the spread
of a collapsed VAE's means (std 0.05-0.15): accuracy is an argmax, unchanged by the scale of a separable
feature. So a probe on mu asks whether the encoder's features depend on the factor, not how much of it the
latent z carries: an untrained sequence encoder's mu already reads the topic at 0.32-0.46 (8 topics), which is
why ``archlab.vae.collapse`` probes a sample z ~ q(z|x).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def linear_probe_accuracy(features: Tensor, labels: Tensor, *, n_classes: int, l2: float = 1e-3,
                          iterations: int = 100) -> float:
    """Accuracy on the second half of ``features`` (N, D) of a logistic regression fitted by L-BFGS on the first
    half, with an L2 penalty ``l2`` on the weights."""
    n = features.shape[0] // 2
    if n < 1:
        raise ValueError(f"a probe needs at least 2 examples, got {features.shape[0]}")
    x = features.detach().double()
    weight = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=iterations, line_search_fn="strong_wolfe")

    def objective() -> Tensor:
        optimizer.zero_grad()
        value = F.cross_entropy(x[:n] @ weight + bias, labels[:n]) + l2 * weight.pow(2).sum()
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(objective)
    predicted = (x[n:] @ weight + bias).argmax(-1)
    return float((predicted == labels[n:]).double().mean())
