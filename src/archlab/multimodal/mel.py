"""Log-mel spectrogram: ``torch.stft`` power spectrum through a bank of triangular filters on the mel scale.

The mel scale is the HTK formula (Young et al., *The HTK Book*, section 5.4; after Stevens, Volkmann and
Newman 1937; O'Shaughnessy 1987): ``mel(f) = 2595 log10(1 + f / 700)``, ``f(m) = 700 (10^(m / 2595) - 1)``.
Filter ``k`` of ``n_mels`` is a triangle over the frequency axis (in Hz): zero below ``f_{k-1}``, rising linearly
to 1 at ``f_k``, falling linearly to zero at ``f_{k+1}``, where ``f_0 .. f_{n_mels+1}`` are ``n_mels + 2`` points
equally spaced in mel between ``f_min`` and ``f_max``. The filters are read at the STFT's bin frequencies
``j * sample_rate / n_fft``, ``j = 0 .. n_fft / 2``; they are not area-normalised (HTK's convention).

``log_mel_spectrogram``: Hann-windowed, centred STFT (``hop_length`` samples apart), power ``|X|^2``, the filter
bank, then ``log(mel + eps)``; (B, T) samples -> (B, n_mels, frames) with ``frames = 1 + T // hop_length``.
"""

from __future__ import annotations

import torch

from archlab.core.validation import check_at_least


def hz_to_mel(f: torch.Tensor) -> torch.Tensor:
    """HTK mel of ``f`` Hz: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * torch.log10(1.0 + f / 700.0)


def mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    """The inverse of ``hz_to_mel``: ``700 (10^(m / 2595) - 1)``."""
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(*, n_freqs: int, n_mels: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:
    """The (n_freqs, n_mels) matrix of triangular mel filters read at ``n_freqs`` bins spaced evenly from 0 to
    ``sample_rate / 2``; column ``k`` is filter ``k``."""
    check_at_least(dict(n_freqs=n_freqs, n_mels=n_mels, sample_rate=sample_rate), 1)
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0.0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"f_min={f_min}, f_max={f_max} must satisfy 0 <= f_min < f_max <= sample_rate / 2 "
                         f"= {sample_rate / 2}")
    freqs = torch.linspace(0.0, sample_rate / 2, n_freqs, dtype=torch.float64)  # (F,)
    mels = torch.linspace(hz_to_mel(torch.tensor(f_min, dtype=torch.float64)).item(),
                          hz_to_mel(torch.tensor(f_max, dtype=torch.float64)).item(), n_mels + 2,
                          dtype=torch.float64)
    edges = mel_to_hz(mels)  # (M + 2,): f_0 .. f_{M+1}
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]  # (M,) each
    rising = (freqs[:, None] - lower) / (centre - lower)  # (F, M)
    falling = (upper - freqs[:, None]) / (upper - centre)  # (F, M)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


def log_mel_spectrogram(waveform: torch.Tensor, *, sample_rate: int, n_fft: int, hop_length: int, n_mels: int,
                        eps: float = 1e-6) -> torch.Tensor:
    """(B, T) samples -> (B, n_mels, 1 + T // hop_length) log-mel frames."""
    if waveform.dim() != 2:
        raise ValueError(f"waveform must be (batch, samples), got shape {tuple(waveform.shape)}")
    window = torch.hann_window(n_fft, dtype=waveform.dtype, device=waveform.device)
    spec = torch.stft(waveform, n_fft=n_fft, hop_length=hop_length, window=window, center=True,
                      return_complex=True)  # (B, n_fft / 2 + 1, frames)
    power = spec.abs() ** 2
    bank = mel_filterbank(n_freqs=n_fft // 2 + 1, n_mels=n_mels, sample_rate=sample_rate).to(power)
    mel = torch.einsum("bft,fm->bmt", power, bank)  # (B, F, frames) x (F, M) -> (B, M, frames)
    return torch.log(mel + eps)


def frame_count(num_samples: int, hop_length: int) -> int:
    """Frames of a centred STFT over ``num_samples`` samples: ``1 + num_samples // hop_length``."""
    return 1 + num_samples // hop_length
