"""The contrastive objective of a dual encoder and the geometry of its embeddings.

- ``symmetric_infonce``: CLIP's loss (Radford et al. 2021, Figure 3; InfoNCE, van den Oord et al. 2018) over a
  batch of B matched pairs: ``logits = s * x_n y_n^T`` with ``x_n``, ``y_n`` the L2-normalised image and text
  embeddings and ``s = 1 / tau`` the logit scale; the loss is the mean of the cross-entropy of each image over
  the texts and of each text over the images, the matched pair being the target: ``(CE(logits, I) + CE(logits^T,
  I)) / 2``.
- ``modality_gap``: Liang et al. 2022, section 4.1: ``Delta = mean_i x_i - mean_i y_i`` over L2-normalised
  embeddings, reported as ``||Delta||``.
- ``mean_pairwise_cosine``: the cone effect's measure (Liang et al. 2022, section 3): the average cosine similarity
  over all pairs of distinct embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def contrastive_logits(image_emb: torch.Tensor, text_emb: torch.Tensor,
                       logit_scale: torch.Tensor | float) -> torch.Tensor:
    """(B, P), (B, P) -> (B, B) ``s * x_n y_n^T``: row i holds image i against every text."""
    return logit_scale * F.normalize(image_emb, dim=-1) @ F.normalize(text_emb, dim=-1).t()  # (B, P) @ (P, B)


def symmetric_infonce(image_emb: torch.Tensor, text_emb: torch.Tensor,
                      logit_scale: torch.Tensor | float) -> torch.Tensor:
    """CLIP's symmetric InfoNCE of B matched pairs (pair i: ``image_emb[i]``, ``text_emb[i]``)."""
    if image_emb.shape != text_emb.shape or image_emb.dim() != 2:
        raise ValueError(f"image and text embeddings must both be (batch, dim), got {tuple(image_emb.shape)} and "
                         f"{tuple(text_emb.shape)}")
    logits = contrastive_logits(image_emb, text_emb, logit_scale)  # (B, B)
    target = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def modality_gap(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``||mean(x_n) - mean(y_n)||`` of two (N, P) sets of embeddings, each L2-normalised first."""
    return (F.normalize(x, dim=-1).mean(0) - F.normalize(y, dim=-1).mean(0)).norm()


def mean_pairwise_cosine(x: torch.Tensor) -> torch.Tensor:
    """The average cosine similarity over the N (N - 1) ordered pairs of distinct rows of ``x`` (N, P)."""
    xn = F.normalize(x, dim=-1)
    sims = xn @ xn.t()  # (N, N)
    n = x.shape[0]
    return (sims.sum() - sims.diagonal().sum()) / (n * (n - 1))


def retrieval_top1(image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
    """The fraction of images whose most similar text (by cosine) is their own."""
    logits = contrastive_logits(image_emb, text_emb, 1.0)
    return (logits.argmax(1) == torch.arange(logits.shape[0], device=logits.device)).float().mean()
