"""Synthetic sequence tasks that probe memory and recall: MQAR, selective copying, induction heads.

Each generator returns ``(inputs, labels)``, both (n, L) long tensors, with ``labels = -100`` wherever nothing
is scored (the ``ignore_index`` of ``archlab.core.losses.cross_entropy``); a label sits at the position of
the input token after which the answer must be produced. All randomness comes from ``generator``.

- ``mqar``: multi-query associative recall, after Zoology's ``_mqar`` (Arora et al. 2023,
  github.com/HazyResearch/zoology, ``zoology/data/associative_recall.py``): keys drawn without replacement
  from ``1 .. V/2 - 1``, values without replacement from ``V/2 .. V - 1``; the sequence opens with
  ``k1 v1 k2 v2 ...``; each key is queried once later, at even offsets ``2 g`` into the remainder, the gaps
  ``g`` drawn without replacement from ``p(g) ~ g^(a - 1)`` (``a = power_a``, short gaps favoured); the label at
  a query is its value; fillers are 0 (``random_non_queries=False``) or random tokens.
- ``selective_copying``: Gu and Dao 2023, Sec. 4.1.1 / App. E.1 (after Arjovsky et al. 2016's copying task,
  with random spacing): ``n_data`` tokens from ``1 .. n_symbols`` at random positions of a ``length``-long
  stretch of noise (token 0), then ``n_data`` "go" markers (token ``n_symbols + 1``); at the j-th marker the
  label is the j-th data token.
- ``induction_heads``: Olsson et al. 2022; Gu and Dao 2023, Sec. 4.1.2: random tokens from
  ``1 .. vocab_size - 1``; a trigger token 0 appears once, followed by a target token; the sequence ends with the
  trigger again, where the label is that target.
"""

from __future__ import annotations

import torch

from archlab.core.validation import check_at_least


def mqar(
    n: int,
    *,
    vocab_size: int = 256,
    seq_len: int = 64,
    num_kv_pairs: int = 8,
    power_a: float = 0.01,
    random_non_queries: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` multi-query associative recall examples: inputs, labels (n, seq_len)."""
    check_at_least({"n": n, "num_kv_pairs": num_kv_pairs}, 1)
    if seq_len % 2:
        raise ValueError(f"seq_len={seq_len} must be even")
    if 4 * num_kv_pairs > seq_len:
        raise ValueError(f"4 * num_kv_pairs={4 * num_kv_pairs} must be <= seq_len={seq_len}")
    if vocab_size <= seq_len:
        raise ValueError(f"vocab_size={vocab_size} must be > seq_len={seq_len}")
    if not 0 < power_a <= 1:
        raise ValueError(f"power_a={power_a} must be in (0, 1]")
    context = 2 * num_kv_pairs
    half = vocab_size // 2
    keys = torch.rand(n, half - 1, generator=generator).argsort(dim=1)[:, :num_kv_pairs] + 1  # (n, K) in 1..V/2-1
    values = torch.rand(n, vocab_size - half, generator=generator).argsort(dim=1)[:, :num_kv_pairs] + half  # (n, K)
    inputs = torch.zeros(n, seq_len, dtype=torch.long)
    inputs[:, 0:context:2], inputs[:, 1:context:2] = keys, values
    space = (seq_len - context) // 2
    p = power_a * torch.arange(1, space + 1, dtype=torch.float64) ** (power_a - 1)  # (space,)
    gaps = torch.multinomial((p / p.sum()).expand(n, space), num_kv_pairs, replacement=False,
                             generator=generator)  # (n, K) distinct in 0..space-1
    query_pos = context + 2 * gaps  # (n, K)
    inputs.scatter_(1, query_pos, keys)
    labels = torch.full((n, seq_len), -100, dtype=torch.long)
    labels.scatter_(1, query_pos, values)
    if random_non_queries:
        filler = torch.randint(vocab_size, (n, seq_len), generator=generator)
        inputs = torch.where(inputs == 0, filler, inputs)
    return inputs, labels


def selective_copying(
    n: int,
    *,
    length: int = 64,
    n_data: int = 8,
    n_symbols: int = 8,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` selective-copying examples: inputs, labels (n, length + n_data); vocabulary ``n_symbols + 2``."""
    check_at_least({"n": n, "length": length, "n_data": n_data, "n_symbols": n_symbols}, 1)
    if n_data > length:
        raise ValueError(f"n_data={n_data} must be <= length={length}")
    positions = torch.rand(n, length, generator=generator).argsort(dim=1)[:, :n_data].sort(dim=1).values  # (n, M)
    data = torch.randint(1, n_symbols + 1, (n, n_data), generator=generator)  # (n, M)
    go = n_symbols + 1
    inputs = torch.zeros(n, length + n_data, dtype=torch.long)
    inputs.scatter_(1, positions, data)
    inputs[:, length:] = go
    labels = torch.full_like(inputs, -100)
    labels[:, length:] = data
    return inputs, labels


def induction_heads(
    n: int,
    *,
    length: int = 64,
    vocab_size: int = 16,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` induction-head examples: inputs, labels (n, length); token 0 is the trigger."""
    check_at_least({"n": n}, 1)
    if length < 4:
        raise ValueError(f"length={length} must be >= 4")
    if vocab_size < 3:
        raise ValueError(f"vocab_size={vocab_size} must be >= 3")
    inputs = torch.randint(1, vocab_size, (n, length), generator=generator)
    trigger_pos = torch.randint(0, length - 2, (n, 1), generator=generator)  # (n, 1): before the last two
    rows = torch.arange(n)[:, None]
    inputs[rows, trigger_pos] = 0
    inputs[:, -1] = 0
    labels = torch.full_like(inputs, -100)
    labels[:, -1] = inputs[rows, trigger_pos + 1][:, 0]
    return inputs, labels
