"""Softmax cross-entropy with a fused backward, beside the plain reference.

The loss of logits ``z`` (N, V) at targets ``t`` is ``mean_i [logsumexp(z_i) - z_i[t_i]]`` over targets that
are not ``ignore_index``; its gradient is ``(softmax(z_i) - onehot(t_i)) / n_valid`` (e.g. Bishop 2006,
eq. 4.109). ``cross_entropy`` turns the saved log-probabilities into that gradient in place (exp, subtract the one-hot,
scale), instead of the zero-filled one-hot gradient and the separate log-softmax backward that autograd
chains through ``torch.nn.functional.cross_entropy`` (``cross_entropy_ref``): two passes over (N, V) and one
allocation fewer. Values and gradients are equal. The backward consumes its saved tensor, so it runs once
(no ``retain_graph`` double backward).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class _SoftmaxCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, ignore_index: int) -> torch.Tensor:
        valid = targets != ignore_index  # (N,)
        safe_targets = torch.where(valid, targets, 0)  # (N,)
        n_valid = valid.sum()
        log_probs = torch.log_softmax(logits, dim=-1)  # (N, V)
        target_log_probs = log_probs.gather(1, safe_targets[:, None]).squeeze(1)  # (N,)
        loss = -(target_log_probs * valid).sum() / n_valid
        ctx.save_for_backward(log_probs, safe_targets, valid, n_valid)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss: torch.Tensor):
        log_probs, safe_targets, valid, n_valid = ctx.saved_tensors
        grad = log_probs.exp_()  # (N, V): softmax, written over the saved log-probabilities (used once)
        grad.scatter_add_(1, safe_targets[:, None], torch.full_like(safe_targets[:, None], -1, dtype=grad.dtype))
        grad.mul_((valid * (grad_loss / n_valid))[:, None].to(grad.dtype))
        return grad, None, None


def _check(logits: torch.Tensor, targets: torch.Tensor) -> None:
    if logits.dim() != 2 or targets.dim() != 1 or logits.shape[0] != targets.shape[0]:
        raise ValueError(f"cross_entropy takes logits (N, V) and targets (N,), got {tuple(logits.shape)} "
                         f"and {tuple(targets.shape)}")


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, *, ignore_index: int = -100) -> torch.Tensor:
    """Mean cross-entropy (nats) of ``logits`` (N, V) at integer ``targets`` (N,), skipping ``ignore_index``."""
    _check(logits, targets)
    return _SoftmaxCrossEntropy.apply(logits, targets, ignore_index)


def cross_entropy_ref(logits: torch.Tensor, targets: torch.Tensor, *, ignore_index: int = -100) -> torch.Tensor:
    """The same loss through ``torch.nn.functional.cross_entropy``."""
    _check(logits, targets)
    return F.cross_entropy(logits, targets, ignore_index=ignore_index)
