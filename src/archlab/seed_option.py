"""The ``--seed`` option of every command (``run``, ``atlas``, ``train``, ``sample``): one rule for all.

A seed is any integer, taken modulo ``SEED_MODULUS`` (2**64, the unsigned range ``torch.manual_seed``
accepts), as ``archlab.data.streams.reduce_seed`` takes it; so ``--seed -1`` is ``--seed 18446744073709551615``
everywhere. Anything else is an argparse error naming ``--seed`` before the command prints or loads anything.
This module imports neither torch nor NumPy, so that parsing the command line stays instant.
"""

from __future__ import annotations

import argparse

SEED_MODULUS = 2**64


def seed_option(text: str) -> int:
    """The value of a ``--seed`` option: ``int(text)`` modulo ``SEED_MODULUS``."""
    try:
        return int(text) % SEED_MODULUS
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} must be an integer (any integer: it is taken modulo 2**64)") \
            from None
