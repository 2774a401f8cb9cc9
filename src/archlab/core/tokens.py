"""Validation of token-id inputs, shared by every family's language models."""

from __future__ import annotations

import torch


def check_token_ids(input_ids: torch.Tensor, *, vocab_size: int, max_len: int | None = None, past: int = 0) -> None:
    """ValueError unless ``input_ids`` is (B, L) of integer ids in [0, vocab_size) and, when ``max_len`` is
    given, ``past + L <= max_len`` (``past``: positions already consumed, or tokens still to be generated)."""
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}")
    if input_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"input_ids must be integer token ids (torch.long), got dtype {input_ids.dtype}")
    if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= vocab_size):
        raise ValueError(f"token ids must be in [0, {vocab_size}), got range "
                         f"[{int(input_ids.min())}, {int(input_ids.max())}]")
    if max_len is not None and past + input_ids.shape[1] > max_len:
        raise ValueError(f"sequence of {past + input_ids.shape[1]} tokens exceeds max_seq_len={max_len}")


def check_labels(labels: torch.Tensor, *, vocab_size: int, shape: tuple[int, ...]) -> None:
    """ValueError unless ``labels`` has ``shape`` (B, L) and holds integer ids in [0, vocab_size) or -100
    (a position the loss ignores), as ``check_token_ids`` holds the inputs."""
    if tuple(labels.shape) != tuple(shape):
        raise ValueError(f"labels must have the shape of input_ids {tuple(shape)}, got {tuple(labels.shape)}")
    if labels.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"labels must be integer token ids (torch.long), got dtype {labels.dtype}")
    real = labels[labels != -100]
    if real.numel() and (int(real.min()) < 0 or int(real.max()) >= vocab_size):
        raise ValueError(f"labels must be token ids in [0, {vocab_size}) or -100 (ignored), got range "
                         f"[{int(real.min())}, {int(real.max())}]")
