"""The language-model shell every family's LM shares: the next-token loss on logits, and ``generate`` over the
``init_state`` / ``step`` protocol.

A class that mixes in ``GenerationMixin`` provides, for ids (B, L):

- ``forward(input_ids, *, state=None) -> LMOutput``: with ``state`` the tokens continue the decoded sequence and
  the state is advanced (a KV cache extended, a recurrent state updated);
- ``init_state(batch, *, max_len=None)``: the empty decoding state (``max_len`` sizes a KV cache; recurrent
  states, whose size does not grow, ignore it);
- ``step(tokens (B,), state) -> (logits (B, V), state)``: one token per sequence;
- ``check_ids(input_ids, *, past=0)``: ValueError unless the ids are valid and fit after ``past`` positions.

``generate`` pre-fills the prompt in one forward, then samples each token with ``core.sampling`` and feeds it
back through ``step`` (Radford et al. 2019 decode this way; the cache is Vaswani et al. 2017's incremental
decoding). ``use_cache=False`` recomputes the whole prefix at every token instead: the baseline the cache is
measured against, and the definition the cached path must equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from archlab.core.attention import KVCache
from archlab.core.losses import cross_entropy
from archlab.core.sampling import check_sampling, sample_next_token
from archlab.core.tokens import check_labels


def next_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats) of ``logits`` (B, L, V) at ``labels`` (B, L), -100 ignored; the logits are
    upcast to float32 once and the loss is ``core.losses.cross_entropy`` (fused backward). Labels outside
    [0, V) raise ``ValueError`` as input ids do (``core.tokens.check_labels``)."""
    check_labels(labels, vocab_size=logits.shape[-1], shape=logits.shape[:2])
    return cross_entropy(logits.flatten(0, 1).float(), labels.flatten())  # (B*L, V), (B*L,)


@dataclass
class KVCacheState:
    """Decoding state of a stack of attention layers: one ``KVCache`` per layer."""

    caches: list[KVCache]

    @property
    def position(self) -> int:
        """Positions consumed so far."""
        return self.caches[0].length


class GenerationMixin:
    """Adds ``generate`` to a language model that follows the protocol of the module docstring."""

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Continue ``input_ids`` (B, L) by ``max_new_tokens`` tokens: (B, L + max_new_tokens).
        ``temperature=0`` is greedy; ``top_k`` / ``top_p`` filter before sampling from ``generator``."""
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens={max_new_tokens} must be >= 0")
        self.check_ids(input_ids, past=max_new_tokens)  # the prompt and the new tokens must fit the model
        if input_ids.shape[1] == 0:
            raise ValueError("input_ids has length 0: generate continues a prompt of at least one token")
        check_sampling(temperature, top_k, top_p)
        out = input_ids
        if max_new_tokens == 0:
            return out
        sample = dict(temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
        if not use_cache:
            for _ in range(max_new_tokens):
                token = sample_next_token(self(out).logits[:, -1], **sample)  # (B, L, V) -> (B, V) -> (B,)
                out = torch.cat((out, token[:, None]), dim=1)
            return out
        state = self.init_state(input_ids.shape[0], max_len=input_ids.shape[1] + max_new_tokens)
        logits = self(input_ids, state=state).logits[:, -1]  # (B, L, V) -> (B, V)
        for i in range(max_new_tokens):
            token = sample_next_token(logits, **sample)  # (B,)
            out = torch.cat((out, token[:, None]), dim=1)
            if i + 1 < max_new_tokens:
                logits, state = self.step(token, state)
        return out
