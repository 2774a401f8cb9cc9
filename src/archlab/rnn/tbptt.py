"""Truncated backpropagation through time (Williams and Peng 1990; Sutskever 2013, Section 3.3; Zaremba et al.
2014) as a task of the one training loop.

The token stream is cut into ``B`` contiguous streams, one per batch row. Step ``s`` trains on chunk ``s`` of
every stream: ``L`` tokens per row that continue exactly where step ``s - 1`` stopped, starting from the
hidden state that step ``s - 1`` ended in, detached so that gradients flow back at most ``L`` steps (the
truncation). When the streams are used up an epoch ends: the state is reset to zeros and the streams start
again from a new offset. So the batch of step ``s`` is a pure function of ``(seed, s)``; the carried state is
task state, returned by ``state_dict()`` and saved in every checkpoint, so a resumed run continues exactly.

Layout of one epoch ``e`` over ``n`` tokens, with ``seg = (n - 1) // B`` tokens per stream and ``K = seg // L``
chunks: stream ``b`` starts at ``b * seg + o_e`` with ``o_e`` in ``[0, seg - K * L]`` drawn from a generator
seeded by ``(seed, e)``; chunk ``k`` of it covers inputs ``[start + k L, start + (k + 1) L)`` and targets one
token later. A batch is ``(inputs (B, L), targets (B, L), rows (B,), reset (B,))``: ``rows`` says which carried
state each row continues (the loop may cut a batch into micro-batches), ``reset`` is true on an epoch's
first chunk. Evaluation runs the same way over the validation split with its own state, from zeros.
"""

from __future__ import annotations

import hashlib
import math
from typing import Iterator, Mapping

import torch
from torch import Tensor

from archlab.data.tokens import TokenDataset
from archlab.rnn.lm import RecurrentState, RNNLM
from archlab.train.task import Task

Chunk = tuple[Tensor, Tensor, Tensor, Tensor]


def _epoch_offset(seed: int, epoch: int, room: int) -> int:
    digest = hashlib.blake2b(f"tbptt:{seed}:{epoch}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "little") >> 1) % (room + 1)


def stream_chunk(tokens: Tensor, *, batch_size: int, context: int, step: int, seed: int,
                 shuffle_offsets: bool = True) -> Chunk:
    """Chunk ``step`` of ``batch_size`` contiguous streams over ``tokens`` (1-D); see the module docstring."""
    seg = (tokens.numel() - 1) // batch_size
    chunks = seg // context
    if chunks < 1:
        raise ValueError(f"{tokens.numel()} tokens make streams of {seg} tokens for batch_size={batch_size}, "
                         f"too short for one chunk of context={context}")
    epoch, k = divmod(step, chunks)
    offset = _epoch_offset(seed, epoch, seg - chunks * context) if shuffle_offsets else 0
    rows = torch.arange(batch_size)  # (B,)
    starts = rows * seg + offset + k * context  # (B,)
    index = starts[:, None] + torch.arange(context + 1)[None, :]  # (B, L + 1)
    window = tokens[index].long()  # (B, L + 1)
    reset = torch.full((batch_size,), k == 0)  # (B,)
    return window[:, :-1], window[:, 1:], rows, reset


class TBPTTTask(Task):
    """Language modelling with truncated BPTT: the hidden state of each stream is carried across steps."""

    def __init__(self, model: RNNLM, data: TokenDataset, *, batch_size: int, context: int, seed: int,
                 eval_batches: int) -> None:
        self.model, self.data = model, data
        self.batch_size, self.context, self.seed, self.n_eval_batches = batch_size, context, seed, eval_batches
        for split in ("train", "val"):
            if (data.split(split).numel() - 1) // batch_size < context:
                raise ValueError(f"the {split} split ({data.split(split).numel()} tokens) is too short for "
                                 f"batch_size={batch_size} streams of context={context} tokens")
        self.state = model.init_state(batch_size)
        self._eval_state = model.init_state(batch_size)

    # --- training ------------------------------------------------------------------------------------

    def train_batch(self, step: int) -> Chunk:
        return stream_chunk(self.data.train, batch_size=self.batch_size, context=self.context, step=step,
                            seed=self.seed)

    def _run(self, batch: Chunk, carried: RecurrentState) -> Tensor:
        """Loss of ``batch`` from the carried state of its rows; the rows' state advances (detached)."""
        inputs, targets, rows, reset = batch
        device, dtype = inputs.device, carried.h.dtype
        carried.h = carried.h.to(device)
        carried.c = None if carried.c is None else carried.c.to(device)
        keep = (~reset).to(device, dtype)[:, None]  # (b, 1): zero the state on an epoch's first chunk
        state = RecurrentState(h=carried.h[:, rows] * keep, c=None if carried.c is None else carried.c[:, rows] * keep)
        loss = self.model(inputs, labels=targets, state=state).loss
        state.detach_()
        carried.h = carried.h.index_copy(1, rows, state.h.to(dtype))  # (n_layers, B, H)
        if carried.c is not None:
            carried.c = carried.c.index_copy(1, rows, state.c.to(dtype))
        return loss

    def loss(self, batch: Chunk, player: str) -> Tensor:
        return self._run(batch, self.state)

    def batch_tokens(self, batch: Chunk) -> int:
        return batch[0].numel()

    # --- evaluation ----------------------------------------------------------------------------------

    def eval_batches(self) -> Iterator[Chunk]:
        """The first ``eval_batches`` chunks of the validation streams, in order, from the zero state."""
        tokens = self.data.val
        chunks = (tokens.numel() - 1) // self.batch_size // self.context
        self._eval_state = self.model.init_state(self.batch_size)
        for k in range(min(chunks, self.n_eval_batches)):
            yield stream_chunk(tokens, batch_size=self.batch_size, context=self.context, step=k, seed=self.seed,
                               shuffle_offsets=False)

    def evaluate(self, batch: Chunk) -> dict[str, Tensor]:
        loss = self._run(batch, self._eval_state).float()
        return {"val_loss": loss, "val_bpb": loss / math.log(2)}

    # --- carried state -------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Tensor]:
        state = {"h": self.state.h}
        if self.state.c is not None:
            state["c"] = self.state.c
        return state

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        expected = {"h", "c"} if self.state.c is not None else {"h"}
        if set(state) != expected:
            raise ValueError(f"TBPTT task state must hold {sorted(expected)}, got {sorted(state)}")
        for name in expected:
            current = getattr(self.state, name)
            if state[name].shape != current.shape:
                raise ValueError(f"task state {name!r} has shape {tuple(state[name].shape)}, expected "
                                 f"{tuple(current.shape)} (n_layers, batch_size, hidden_size)")
            setattr(self.state, name, state[name].to(current.device, current.dtype))
