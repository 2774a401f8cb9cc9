"""The shared config checks: each raises ValueError with the exact wording the configs have always used."""

import math
import re
from dataclasses import dataclass

import pytest

from archlab.core.validation import (check_at_least, check_choices, check_divisible, check_optional_at_least,
                                     check_positive)


@dataclass
class _Config:
    vocab_size: int = 16
    d_model: int = 8
    n_heads: int = 2
    d_ff: int | None = None
    norm_eps: float = 1e-5
    mlp: str = "swiglu"


def _raises(message: str):
    return pytest.raises(ValueError, match=f"^{re.escape(message)}$")


def test_valid_values_pass():
    config = _Config()
    check_at_least(config, 1, "vocab_size", "d_model", "n_heads")
    check_optional_at_least(config, 1, "d_ff")
    check_optional_at_least(_Config(d_ff=1), 1, "d_ff")
    check_positive(config, "norm_eps")
    check_choices(config, {"mlp": ("none", "swiglu")})
    check_divisible(config, "d_model", "n_heads")
    check_at_least({"n": 1, "length": 3}, 1)


def test_at_least_names_the_first_bad_field():
    with _raises("vocab_size=0 must be >= 1"):
        check_at_least(_Config(vocab_size=0, d_model=0), 1, "vocab_size", "d_model")
    with _raises("d_model=0 must be >= 1"):
        check_at_least(_Config(d_model=0), 1, "vocab_size", "d_model")


def test_at_least_with_a_mapping_and_a_note():
    with _raises("hidden_size=0 must be >= 1"):
        check_at_least({"input_size": 3, "hidden_size": 0}, 1)
    with _raises("input_size=-2 must be >= 1"):
        check_at_least({"input_size": -2, "hidden_size": 0}, 1, "input_size")
    with _raises("log_every=-1 must be >= 0 (0 turns it off)"):
        check_at_least({"log_every": -1}, 0, note="(0 turns it off)")
    check_at_least({"log_every": 0}, 0, note="(0 turns it off)")
    with pytest.raises(TypeError):
        check_at_least(_Config(), 1)


def test_optional_at_least_skips_none_and_names_the_default():
    check_optional_at_least(_Config(d_ff=None), 1, "d_ff", default="the default")
    with _raises("d_ff=0 must be >= 1"):
        check_optional_at_least(_Config(d_ff=0), 1, "d_ff")
    with _raises("dt_rank=0 must be >= 1 (or None for the default)"):
        check_optional_at_least({"dt_rank": 0}, 1, default="the default")


def test_positive_rejects_zero_negative_and_nan():
    with _raises("norm_eps=0.0 must be > 0"):
        check_positive(_Config(norm_eps=0.0), "norm_eps")
    with _raises("norm_eps=-1.0 must be > 0"):
        check_positive(_Config(norm_eps=-1.0), "norm_eps")
    with _raises("norm_eps=nan must be > 0"):
        check_positive(_Config(norm_eps=math.nan), "norm_eps")


def test_choices_plain_and_quoted():
    with _raises("mlp='gelu' is not one of none, swiglu"):
        check_choices(_Config(mlp="gelu"), {"mlp": ("none", "swiglu")})
    with _raises("cell='rnn' is not one of 'lstm', 'gru'"):
        check_choices({"cell": "rnn"}, {"cell": ("lstm", "gru")}, quote=True)
    check_choices({"cell": "gru"}, {"cell": ("lstm", "gru")}, quote=True)


def test_divisible():
    with _raises("d_model=10 must be divisible by n_heads=4"):
        check_divisible(_Config(d_model=10, n_heads=4), "d_model", "n_heads")
    with _raises("batch_size=5 must be divisible by grad_accum=2"):
        check_divisible({"batch_size": 5, "grad_accum": 2}, "batch_size", "grad_accum")


def test_an_infinity_fails_every_range_check():
    for check in (lambda: check_positive({"lr": math.inf}), lambda: check_at_least({"eps": math.inf}, 0),
                  lambda: check_optional_at_least({"d": math.inf}, 1)):
        with pytest.raises(ValueError, match="=inf must be .* finite"):
            check()
