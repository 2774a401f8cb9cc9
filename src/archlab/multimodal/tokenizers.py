"""Modality tokenisers: images, audio and video into sequences of D-wide tokens, each reporting its token count.

- Images: non-overlapping P x P patches (Dosovitskiy et al. 2021, ViT eq. 1), ``archlab.core.patches``;
  ``N = (H / P)(W / P)``, quadratic in the image side.
- Audio: a log-mel spectrogram (``archlab.multimodal.mel``) read as a one-channel image of ``n_mels`` rows and
  one column per STFT frame, then cut into P x P patches (the Audio Spectrogram Transformer, Gong et al. 2021,
  without its patch overlap); frames past the last whole patch are dropped. ``N = (n_mels / P) floor(frames / P)``
  with ``frames = 1 + samples // hop_length``: linear in duration.
- Video: tubelets, spatio-temporal patches of ``t`` frames by P x P pixels (ViViT, Arnab et al. 2021, section
  3.2 "tubelet embedding"), one linear map ``E`` of shape ``(C t P^2, D)`` per tubelet, computed as a 3-D
  convolution with kernel and stride ``(t, P, P)``; ``tubelet_embedding_ref`` writes it out and tests hold the
  two equal. ``N = (T / t)(H / P)(W / P)``, numbered time-major, then row-major over the grid: linear in frames.

Videos are batch-first ``(B, T, C, H, W)`` at the boundary; the convolution's ``(B, C, T, H, W)`` is internal.
"""

from __future__ import annotations

import torch
from torch import nn

from archlab.core.patches import PatchEmbedding, patch_grid
from archlab.core.validation import check_at_least
from archlab.multimodal.mel import frame_count, log_mel_spectrogram


class ImageTokenizer(nn.Module):
    """(B, C, H, W) -> (B, N, D) patch tokens."""

    def __init__(self, *, in_channels: int, d_model: int, patch_size: int, bias: bool = True) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.embed = PatchEmbedding(in_channels=in_channels, d_model=d_model, patch_size=patch_size, bias=bias)

    def num_tokens(self, height: int, width: int) -> int:
        gh, gw = patch_grid(height, width, self.patch_size)
        return gh * gw

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed(images)


class AudioTokenizer(nn.Module):
    """(B, samples) -> (B, N, D): log-mel frames cut into P x P patches over (mel, time)."""

    def __init__(self, *, d_model: int, patch_size: int, sample_rate: int = 8000, n_fft: int = 256,
                 hop_length: int = 64, n_mels: int = 16) -> None:
        super().__init__()
        check_at_least(dict(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels), 1)
        if n_mels % patch_size:
            raise ValueError(f"n_mels={n_mels} must be divisible by patch_size={patch_size}")
        self.sample_rate, self.n_fft, self.hop_length, self.n_mels = sample_rate, n_fft, hop_length, n_mels
        self.patch_size = patch_size
        self.embed = PatchEmbedding(in_channels=1, d_model=d_model, patch_size=patch_size)

    def num_tokens(self, num_samples: int) -> int:
        return (self.n_mels // self.patch_size) * (frame_count(num_samples, self.hop_length) // self.patch_size)

    def spectrogram(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, n_mels, frames) log-mel, frames cropped to a multiple of the patch size."""
        mel = log_mel_spectrogram(waveform, sample_rate=self.sample_rate, n_fft=self.n_fft,
                                  hop_length=self.hop_length, n_mels=self.n_mels)
        frames = mel.shape[2] - mel.shape[2] % self.patch_size
        if frames == 0:
            raise ValueError(f"{waveform.shape[1]} samples give {mel.shape[2]} frames, fewer than one patch of "
                             f"{self.patch_size}")
        return mel[:, :, :frames]

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.embed(self.spectrogram(waveform)[:, None])  # (B, M, F) -> (B, 1, M, F) -> (B, N, D)


def tubelet_grid(frames: int, height: int, width: int, tubelet_frames: int, patch_size: int) -> tuple[int, int, int]:
    """``(T / t, H / P, W / P)``; a side that its tubelet size does not divide is an error."""
    if frames % tubelet_frames:
        raise ValueError(f"video frames={frames} must be divisible by tubelet_frames={tubelet_frames}")
    return (frames // tubelet_frames, *patch_grid(height, width, patch_size))


def tubeletify(video: torch.Tensor, tubelet_frames: int, patch_size: int) -> torch.Tensor:
    """(B, T, C, H, W) -> (B, N, C * t * P * P): flattened tubelets, time-major then row-major."""
    b, frames, c, h, w = video.shape
    gt, gh, gw = tubelet_grid(frames, h, w, tubelet_frames, patch_size)
    t, p = tubelet_frames, patch_size
    x = video.reshape(b, gt, t, c, gh, p, gw, p)  # (B, T, C, H, W) -> (B, gt, t, C, gh, P, gw, P)
    x = x.permute(0, 1, 4, 6, 3, 2, 5, 7)  # -> (B, gt, gh, gw, C, t, P, P)
    return x.reshape(b, gt * gh * gw, c * t * p * p)  # -> (B, N, C*t*P*P)


def tubelet_embedding_ref(video: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                          tubelet_frames: int, patch_size: int) -> torch.Tensor:
    """ViViT's tubelet embedding written out: ``tubeletify(video) @ E + b`` with ``E`` the Conv3d ``weight``
    (D, C, t, P, P) as (C*t*P*P, D): (B, T, C, H, W) -> (B, N, D)."""
    tokens = tubeletify(video, tubelet_frames, patch_size) @ weight.reshape(weight.shape[0], -1).t()
    return tokens if bias is None else tokens + bias


class VideoTokenizer(nn.Module):
    """(B, T, C, H, W) -> (B, N, D) tubelet tokens."""

    def __init__(self, *, in_channels: int, d_model: int, patch_size: int, tubelet_frames: int) -> None:
        super().__init__()
        check_at_least(dict(in_channels=in_channels, d_model=d_model, patch_size=patch_size,
                            tubelet_frames=tubelet_frames), 1)
        self.patch_size, self.tubelet_frames = patch_size, tubelet_frames
        kernel = (tubelet_frames, patch_size, patch_size)
        self.proj = nn.Conv3d(in_channels, d_model, kernel_size=kernel, stride=kernel)

    def num_tokens(self, frames: int, height: int, width: int) -> int:
        gt, gh, gw = tubelet_grid(frames, height, width, self.tubelet_frames, self.patch_size)
        return gt * gh * gw

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        if video.dim() != 5 or video.shape[2] != self.proj.in_channels:
            raise ValueError(f"video must be (batch, frames, {self.proj.in_channels}, height, width), "
                             f"got shape {tuple(video.shape)}")
        tubelet_grid(video.shape[1], video.shape[3], video.shape[4], self.tubelet_frames, self.patch_size)
        x = self.proj(video.transpose(1, 2))  # (B, T, C, H, W) -> (B, C, T, H, W) -> (B, D, gt, gh, gw)
        return x.flatten(2).transpose(1, 2)  # -> (B, D, N) -> (B, N, D)
