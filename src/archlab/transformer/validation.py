"""The config rules that the encoder and the decoder share: sizes, head split, choices, ranges."""

from __future__ import annotations

import math
from typing import Any

from archlab.core.validation import (check_at_least, check_choices, check_divisible, check_optional_at_least,
                                     check_positive)


def check_stack_config(config: Any, choices: dict[str, tuple[str, ...]]) -> None:
    """ValueError naming field, value and rule unless ``config`` (an encoder or decoder config) is consistent.

    Checks sizes >= 1, ``d_model`` divisible by ``n_heads``, ``d_ff``, each field of ``choices`` among its
    allowed values, an even head dimension for RoPE, the dropout range, ``norm_eps`` / ``init_std`` > 0 and
    ``rope_base`` > 1.
    """
    check_at_least(config, 1, "vocab_size", "max_seq_len", "d_model", "n_layers", "n_heads")
    check_divisible(config, "d_model", "n_heads")
    check_optional_at_least(config, 1, "d_ff")
    check_choices(config, choices)
    if config.position == "rope" and config.head_dim % 2:
        raise ValueError(f"head_dim={config.head_dim} (d_model/n_heads) must be even for position='rope'")
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"dropout={config.dropout} must be in [0, 1)")
    check_positive(config, "norm_eps", "init_std")
    if not 1 < config.rope_base < math.inf:
        raise ValueError(f"rope_base={config.rope_base} must be > 1 and finite")
