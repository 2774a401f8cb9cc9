"""Modality tokenisers: the mel filterbank against its definition (HTK mel, triangular filters), the log-mel
spectrogram of a pure tone, patch / spectrogram-patch / tubelet shapes and token counts, tubelets' fast path
against the equation written out."""

import math

import pytest
import torch

from archlab.core.mlp import activation_fn
from archlab.multimodal.mel import frame_count, hz_to_mel, log_mel_spectrogram, mel_filterbank, mel_to_hz
from archlab.multimodal.tokenizers import (AudioTokenizer, ImageTokenizer, VideoTokenizer, tubelet_embedding_ref,
                                           tubeletify)


def test_htk_mel_formula():
    # 2595 log10(1 + 1000/700) = 999.985...: the HTK scale puts 1 kHz at ~1000 mel.
    assert hz_to_mel(torch.tensor(1000.0)).item() == pytest.approx(2595 * math.log10(1 + 1000 / 700))
    assert hz_to_mel(torch.tensor(1000.0)).item() == pytest.approx(1000.0, abs=0.05)
    f = torch.tensor([0.0, 250.0, 4000.0])
    assert torch.allclose(mel_to_hz(hz_to_mel(f)), f, atol=1e-3)


def _filter_by_definition(freq: float, k: int, edges: list[float]) -> float:
    lo, mid, hi = edges[k], edges[k + 1], edges[k + 2]
    if lo <= freq <= mid:
        return (freq - lo) / (mid - lo)
    if mid < freq <= hi:
        return (hi - freq) / (hi - mid)
    return 0.0


def test_mel_filterbank_is_the_triangles_of_the_definition():
    n_freqs, n_mels, sr, f_min, f_max = 65, 6, 8000, 100.0, 3500.0
    bank = mel_filterbank(n_freqs=n_freqs, n_mels=n_mels, sample_rate=sr, f_min=f_min, f_max=f_max)
    assert bank.shape == (n_freqs, n_mels)
    m_lo, m_hi = 2595 * math.log10(1 + f_min / 700), 2595 * math.log10(1 + f_max / 700)
    edges = [700 * (10 ** ((m_lo + i * (m_hi - m_lo) / (n_mels + 1)) / 2595) - 1) for i in range(n_mels + 2)]
    for j in range(n_freqs):
        freq = j * sr / 2 / (n_freqs - 1)
        for k in range(n_mels):
            assert bank[j, k].item() == pytest.approx(_filter_by_definition(freq, k, edges), abs=1e-6)
    assert bank.max() <= 1.0 and bank.min() >= 0.0
    # Centres rise with k and the triangles of neighbours overlap: every bin inside (f_1, f_M) is covered.
    assert torch.all(bank.argmax(0).diff() > 0)


def test_filter_peaks_at_one_on_its_centre_bin():
    # n_freqs chosen so that a centre falls on a bin: then the filter reads exactly 1 there.
    bank = mel_filterbank(n_freqs=4001, n_mels=3, sample_rate=8000, f_min=0.0, f_max=4000.0)
    centre = mel_to_hz(torch.tensor(hz_to_mel(torch.tensor(4000.0)).item() * 2 / 4, dtype=torch.float64)).item()
    assert bank[round(centre), 1].item() == pytest.approx(1.0, abs=2e-3)


def test_filterbank_rejects_bad_ranges():
    with pytest.raises(ValueError, match="f_min=500.0, f_max=100.0"):
        mel_filterbank(n_freqs=8, n_mels=2, sample_rate=8000, f_min=500.0, f_max=100.0)
    with pytest.raises(ValueError, match="n_mels=0 must be >= 1"):
        mel_filterbank(n_freqs=8, n_mels=0, sample_rate=8000)


def test_log_mel_of_a_pure_tone_peaks_in_the_filter_holding_it():
    sr, n_fft, hop, n_mels = 8000, 256, 64, 16
    t = torch.arange(2000) / sr
    tone = torch.sin(2 * math.pi * 1000.0 * t)[None]  # (1, 2000)
    mel = log_mel_spectrogram(tone, sample_rate=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
    assert mel.shape == (1, n_mels, frame_count(2000, hop)) == (1, 16, 32)
    bank = mel_filterbank(n_freqs=n_fft // 2 + 1, n_mels=n_mels, sample_rate=sr)
    expected = bank[round(1000.0 / (sr / n_fft))].argmax().item()  # the filter strongest at the tone's bin
    assert mel[0, :, 5:-5].mean(1).argmax().item() == expected


def test_image_tokens_shape_and_count():
    tok = ImageTokenizer(in_channels=1, d_model=12, patch_size=4)
    out = tok(torch.randn(2, 1, 8, 16))
    assert out.shape == (2, tok.num_tokens(8, 16), 12) == (2, 8, 12)
    with pytest.raises(ValueError, match="width=10 must be divisible by patch_size=4"):
        tok.num_tokens(8, 10)


def test_audio_tokens_shape_and_count():
    tok = AudioTokenizer(d_model=12, patch_size=4, sample_rate=8000, n_fft=256, hop_length=64, n_mels=16)
    out = tok(torch.randn(3, 2000))  # 32 frames -> 8 columns of patches, 4 rows of 4 mels
    assert out.shape == (3, tok.num_tokens(2000), 12) == (3, 32, 12)
    assert tok.num_tokens(4000) == 4 * (63 // 4)  # 63 frames: the last 3 are dropped
    assert tok(torch.randn(1, 4000)).shape[1] == tok.num_tokens(4000)
    with pytest.raises(ValueError, match="n_mels=10 must be divisible by patch_size=4"):
        AudioTokenizer(d_model=4, patch_size=4, n_mels=10)


def test_video_tubelets_shape_count_and_reference():
    torch.manual_seed(0)
    tok = VideoTokenizer(in_channels=2, d_model=6, patch_size=4, tubelet_frames=2)
    video = torch.randn(2, 4, 2, 8, 12)  # (B, T, C, H, W)
    out = tok(video)
    assert out.shape == (2, tok.num_tokens(4, 8, 12), 6) == (2, 2 * 2 * 3, 6)
    ref = tubelet_embedding_ref(video, tok.proj.weight, tok.proj.bias, 2, 4)
    assert torch.allclose(out, ref, atol=1e-5)
    # Token 0 is the first tubelet: frames 0-1, rows 0-3, columns 0-3, flattened (C, t, P, P).
    assert torch.equal(tubeletify(video, 2, 4)[0, 0], video[0, 0:2, :, 0:4, 0:4].transpose(0, 1).reshape(-1))
    # Time-major order: token 6 starts the second pair of frames.
    assert torch.equal(tubeletify(video, 2, 4)[0, 6], video[0, 2:4, :, 0:4, 0:4].transpose(0, 1).reshape(-1))
    with pytest.raises(ValueError, match="video frames=3 must be divisible by tubelet_frames=2"):
        tok(torch.randn(1, 3, 2, 8, 12))


def test_quick_gelu_is_x_sigmoid_1702x():
    x = torch.linspace(-3, 3, 7)
    assert torch.allclose(activation_fn("quick_gelu")(x), x / (1 + torch.exp(-1.702 * x)))
