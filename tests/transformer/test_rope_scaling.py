"""RoPE frequency scaling: the three kinds, and the scaled embedding against the core one."""

import math

import pytest
import torch

from archlab.core.positional import RotaryEmbedding
from archlab.transformer.rope_scaling import ScaledRotaryEmbedding, rope_inv_freq


def test_none_and_linear():
    plain = rope_inv_freq(8, 10000.0)
    torch.testing.assert_close(plain, 1.0 / 10000.0 ** (torch.arange(0, 8, 2, dtype=torch.float64) / 8))
    torch.testing.assert_close(rope_inv_freq(8, 10000.0, kind="linear", factor=4.0), plain / 4)


def test_llama3_keeps_high_scales_low_and_blends_between():
    plain = rope_inv_freq(64, 500000.0)
    scaled = rope_inv_freq(64, 500000.0, kind="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                           original_max_len=8192)
    wavelen = 2 * math.pi / plain
    high = wavelen < 8192 / 4
    low = wavelen > 8192 / 1
    torch.testing.assert_close(scaled[high], plain[high])
    torch.testing.assert_close(scaled[low], plain[low] / 8)
    mid = ~high & ~low
    assert mid.any() and ((scaled[mid] < plain[mid]) & (scaled[mid] > plain[mid] / 8)).all()
    with pytest.raises(ValueError, match="rope_scaling='yarn' is not one of"):
        rope_inv_freq(8, 10.0, kind="yarn")


def test_scaled_embedding_equals_core_when_unscaled_and_extends_past_its_table():
    x = torch.randn(1, 2, 12, 8, generator=torch.Generator().manual_seed(0))
    positions = torch.arange(12)
    core = RotaryEmbedding(8, max_len=16)(x, positions)
    scaled = ScaledRotaryEmbedding(8, inv_freq=rope_inv_freq(8, 10000.0), max_len=16)
    torch.testing.assert_close(scaled(x, positions), core)
    short = ScaledRotaryEmbedding(8, inv_freq=rope_inv_freq(8, 10000.0), max_len=4)
    torch.testing.assert_close(short(x, positions), core)  # positions past the table are computed on the fly
