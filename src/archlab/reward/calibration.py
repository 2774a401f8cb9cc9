"""Calibration of predicted preference probabilities: expected calibration error and the reliability diagram.

Naeini, Cooper and Hauskrecht 2015 (ECE); Guo et al. 2017, "On Calibration of Modern Neural Networks", eq. 3:
predictions are grouped into ``n_bins`` equal-width bins of confidence, and
``ECE = sum_b (|B_b| / n) * |acc(B_b) - conf(B_b)|``.

For a pair the model predicts ``p = P(chosen preferred)``; the binary event is "the first item of the pair is
the preferred one". Pairs are symmetric, so the confidence is ``max(p, 1 - p)`` in [0.5, 1] and the outcome is
whether that more likely item was the labelled winner: with ``p`` from ``sigmoid(r_chosen - r_rejected)`` the
outcome is ``p > 0.5``. ``reliability`` returns the per-bin numbers, ``reliability_figure`` draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Reliability:
    """Per-bin numbers of a reliability diagram: bin edges (n_bins + 1,), each bin's mean confidence,
    accuracy (NaN where empty) and count (n_bins,), and the expected calibration error over them."""

    edges: torch.Tensor
    confidence: torch.Tensor
    accuracy: torch.Tensor
    count: torch.Tensor
    ece: float


def reliability(probability: torch.Tensor, outcome: torch.Tensor, *, n_bins: int = 10) -> Reliability:
    """Reliability of ``probability`` (N,) that each pair's labelled winner wins, against ``outcome`` (N,)
    (1 where the labelled winner is the true winner: always for clean labels, 0 for a flipped label).
    Confidences ``max(p, 1 - p)`` fill ``n_bins`` equal bins of [0.5, 1]."""
    if n_bins < 1:
        raise ValueError(f"n_bins={n_bins} must be >= 1")
    if probability.shape != outcome.shape or probability.dim() != 1 or probability.numel() == 0:
        raise ValueError(f"probability {tuple(probability.shape)} and outcome {tuple(outcome.shape)} must be "
                         "the same non-empty (N,)")
    p = probability.double()
    y = outcome.double()
    confidence = torch.maximum(p, 1 - p)  # (N,)
    correct = torch.where(p >= 0.5, y, 1 - y)  # (N,) did the more likely side win
    edges = torch.linspace(0.5, 1.0, n_bins + 1, dtype=torch.float64)
    index = torch.bucketize(confidence, edges[1:-1], right=True)  # (N,) in [0, n_bins)
    count = torch.bincount(index, minlength=n_bins).double()
    conf_sum = torch.bincount(index, weights=confidence, minlength=n_bins)
    acc_sum = torch.bincount(index, weights=correct, minlength=n_bins)
    nonempty = count > 0
    mean_conf = torch.where(nonempty, conf_sum / count.clamp_min(1), torch.nan)
    mean_acc = torch.where(nonempty, acc_sum / count.clamp_min(1), torch.nan)
    ece = float(((conf_sum - acc_sum).abs()).sum() / p.numel())
    return Reliability(edges, mean_conf, mean_acc, count.long(), ece)


def expected_calibration_error(probability: torch.Tensor, outcome: torch.Tensor, *, n_bins: int = 10) -> float:
    """``sum_b |B_b| / n * |acc(B_b) - conf(B_b)|`` over ``n_bins`` equal bins of confidence in [0.5, 1]."""
    return reliability(probability, outcome, n_bins=n_bins).ece


def reliability_figure(result: Reliability, *, title: str = "reliability"):
    """The reliability diagram: accuracy per confidence bin as bars against the diagonal of perfect calibration."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4))
    edges = result.edges.numpy()
    width = edges[1:] - edges[:-1]
    accuracy = torch.nan_to_num(result.accuracy, nan=0.0).numpy()
    ax.bar(edges[:-1], accuracy, width=width, align="edge", edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot([0.5, 1.0], [0.5, 1.0], "k--", label="perfect calibration")
    ax.set_xlim(0.5, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("confidence max(p, 1 - p)")
    ax.set_ylabel("fraction where the more likely side won")
    ax.set_title(f"{title} (ECE {result.ece:.3f})")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig
