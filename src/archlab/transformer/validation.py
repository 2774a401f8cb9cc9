"""The config rules that the encoder and the decoder share: sizes, head split, choices, ranges."""

from __future__ import annotations

from typing import Any


def check_stack_config(config: Any, choices: dict[str, tuple[str, ...]]) -> None:
    """ValueError naming field, value and rule unless ``config`` (an encoder or decoder config) is consistent.

    Checks sizes >= 1, ``d_model`` divisible by ``n_heads``, ``d_ff``, each field of ``choices`` among its
    allowed values, an even head dimension for RoPE, the dropout range, ``norm_eps`` / ``init_std`` > 0 and
    ``rope_base`` > 1.
    """
    for name in ("vocab_size", "max_seq_len", "d_model", "n_layers", "n_heads"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name}={getattr(config, name)} must be >= 1")
    if config.d_model % config.n_heads:
        raise ValueError(f"d_model={config.d_model} must be divisible by n_heads={config.n_heads}")
    if config.d_ff is not None and config.d_ff < 1:
        raise ValueError(f"d_ff={config.d_ff} must be >= 1")
    for name, allowed in choices.items():
        if getattr(config, name) not in allowed:
            raise ValueError(f"{name}={getattr(config, name)!r} is not one of {', '.join(allowed)}")
    if config.position == "rope" and config.head_dim % 2:
        raise ValueError(f"head_dim={config.head_dim} (d_model/n_heads) must be even for position='rope'")
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"dropout={config.dropout} must be in [0, 1)")
    for name in ("norm_eps", "init_std"):
        if getattr(config, name) <= 0:
            raise ValueError(f"{name}={getattr(config, name)} must be > 0")
    if config.rope_base <= 1:
        raise ValueError(f"rope_base={config.rope_base} must be > 1")
