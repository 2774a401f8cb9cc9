"""The built-in multimodal dataset, made from scikit-learn's handwritten digits (``archlab.data.images``).

Each digit image comes with:
- a caption, ``"a handwritten seven"``;
- an audio clip that encodes the digit: the two sine tones of its telephone key (DTMF, ITU-T Recommendation Q.23:
  rows 697 / 770 / 852 / 941 Hz, columns 1209 / 1336 / 1477 Hz), 0.25 s at 8 kHz, with a random phase per tone,
  a random level in [0.5, 1] and Gaussian noise (standard deviation 0.1);
- a short video: the digit sliding across an 8 x 16 canvas in ``video_frames`` frames, left to right or right to
  left (``video_direction`` +1 / -1).

Two-digit canvases put two images of different digits side by side (8 x 16), with the compositional caption
``"a three to the left of an eight"``. ``questions(split)`` lists questions about the images with their
answers: ``"what digit is this ?"`` for single images; for canvases ``"what digit is on the left ?"`` /
``"... on the right ?"``, identity (``"is there a three ?"``, yes for a digit on the canvas, no for one drawn
from the other eight) and relation (``"is the three to the left of the eight ?"``, about the two digits present,
in either order). Everything is a function of ``seed``; the train / test split is the digits' stratified split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from archlab.data.images import digits_dataset
from archlab.multimodal.vocab import NUMBER_WORDS, article

SAMPLE_RATE = 8000
CLIP_SECONDS = 0.25
DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
DTMF_COLUMNS = (1209.0, 1336.0, 1477.0)
# Keypad position (row, column) of digits 0-9: 1 2 3 / 4 5 6 / 7 8 9 / * 0 #.
DTMF_KEYS = ((3, 1), (0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2))

QuestionKind = Literal["digit", "left", "right", "identity", "relation"]


def dtmf_frequencies(digit: int) -> tuple[float, float]:
    """The (row, column) tone frequencies in Hz of ``digit``'s telephone key."""
    row, column = DTMF_KEYS[digit]
    return DTMF_ROWS[row], DTMF_COLUMNS[column]


def dtmf_clips(labels: torch.Tensor, generator: torch.Generator, *, sample_rate: int = SAMPLE_RATE,
               seconds: float = CLIP_SECONDS) -> torch.Tensor:
    """(N,) digits -> (N, samples) clips: the key's two tones, random phases and level, plus noise."""
    n = labels.numel()
    t = torch.arange(round(seconds * sample_rate)) / sample_rate  # (S,)
    freqs = torch.tensor([dtmf_frequencies(int(d)) for d in labels]).reshape(n, 2)  # (N, 2)
    phase = 2 * math.pi * torch.rand(n, 2, generator=generator)
    level = 0.5 + 0.5 * torch.rand(n, 1, generator=generator)
    tones = torch.sin(2 * math.pi * freqs[:, :, None] * t + phase[:, :, None]).sum(1)  # (N, 2, S) -> (N, S)
    return 0.5 * level * tones + 0.1 * torch.randn(n, t.numel(), generator=generator)


def moving_videos(images: torch.Tensor, direction: torch.Tensor, frames: int) -> torch.Tensor:
    """(N, 1, 8, 8) digits -> (N, frames, 1, 8, 16): each slides across the canvas, left to right where
    ``direction`` is +1, right to left where -1."""
    n, c, h, w = images.shape
    offsets = [round(f * w / (frames - 1)) for f in range(frames)] if frames > 1 else [0]
    video = images.new_zeros(n, frames, c, h, 2 * w)
    for f, x in enumerate(offsets):
        backwards = offsets[frames - 1 - f]
        video[direction > 0, f, :, :, x:x + w] = images[direction > 0]
        video[direction < 0, f, :, :, backwards:backwards + w] = images[direction < 0]
    return video


@dataclass
class Question:
    """A question about ``canvases[index]`` (or ``images[index]`` for kind ``"digit"``) and its one-word answer."""

    kind: QuestionKind
    index: int
    question: str
    answer: str


@dataclass
class DigitsSplit:
    """One split: ``images`` (N, 1, 8, 8) and ``labels`` (N,), ``audio`` (N, S), ``video`` (N, T, 1, 8, 16) with
    ``video_direction`` (N,), ``canvases`` (M, 1, 8, 16) with ``canvas_labels`` (M, 2) (left, right digit)."""

    images: torch.Tensor
    labels: torch.Tensor
    audio: torch.Tensor
    video: torch.Tensor
    video_direction: torch.Tensor
    canvases: torch.Tensor
    canvas_labels: torch.Tensor
    identity_probe: torch.Tensor  # (M,): a digit absent from the canvas, for the "no" identity question

    def caption(self, index: int) -> str:
        word = NUMBER_WORDS[int(self.labels[index])]
        return f"{article(word)} handwritten {word}"

    def canvas_caption(self, index: int) -> str:
        left, right = (NUMBER_WORDS[int(d)] for d in self.canvas_labels[index])
        return f"{article(left)} {left} to the left of {article(right)} {right}"

    def questions(self) -> list[Question]:
        out = [Question("digit", i, "what digit is this ?", NUMBER_WORDS[int(d)]) for i, d in enumerate(self.labels)]
        for j, (left, right) in enumerate(self.canvas_labels.tolist()):
            lw, rw = NUMBER_WORDS[left], NUMBER_WORDS[right]
            absent = NUMBER_WORDS[int(self.identity_probe[j])]
            present = lw if j % 2 == 0 else rw
            out += [Question("left", j, "what digit is on the left ?", lw),
                    Question("right", j, "what digit is on the right ?", rw),
                    Question("identity", j, f"is there {article(present)} {present} ?", "yes"),
                    Question("identity", j, f"is there {article(absent)} {absent} ?", "no"),
                    Question("relation", j, f"is the {lw} to the left of the {rw} ?", "yes"),
                    Question("relation", j, f"is the {rw} to the left of the {lw} ?", "no")]
        return out


@dataclass
class MultimodalDigits:
    """The train and test splits of the multimodal digits."""

    train: DigitsSplit
    test: DigitsSplit


def _split(images: torch.Tensor, labels: torch.Tensor, n_canvases: int, video_frames: int,
           generator: torch.Generator) -> DigitsSplit:
    n = labels.numel()
    direction = torch.where(torch.rand(n, generator=generator) < 0.5, -1, 1)
    left = torch.randint(0, n, (n_canvases,), generator=generator)
    right = torch.randint(0, n, (n_canvases,), generator=generator)
    same = labels[left] == labels[right]
    while same.any():  # redraw the right digit until the two differ
        right[same] = torch.randint(0, n, (int(same.sum()),), generator=generator)
        same = labels[left] == labels[right]
    pair = torch.stack([labels[left], labels[right]], dim=1)  # (M, 2)
    probe = torch.randint(0, 8, (n_canvases,), generator=generator)  # the k-th digit not on the canvas
    lo, hi = pair.min(1).values, pair.max(1).values
    probe = probe + (probe >= lo).long()
    probe = probe + (probe >= hi).long()
    return DigitsSplit(images=images, labels=labels, audio=dtmf_clips(labels, generator),
                       video=moving_videos(images, direction, video_frames), video_direction=direction,
                       canvases=torch.cat([images[left], images[right]], dim=3),  # (M, 1, 8, 8) x 2 -> (M, 1, 8, 16)
                       canvas_labels=pair, identity_probe=probe)


def multimodal_digits(*, seed: int = 0, test_fraction: float = 0.2, canvases_per_image: float = 1.0,
                      video_frames: int = 4) -> MultimodalDigits:
    """The multimodal digits of ``seed``: about ``canvases_per_image`` canvases per image of each split."""
    if canvases_per_image <= 0:
        raise ValueError(f"canvases_per_image={canvases_per_image} must be > 0")
    if video_frames < 1:
        raise ValueError(f"video_frames={video_frames} must be >= 1")
    digits = digits_dataset(test_fraction=test_fraction, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    splits = {}
    for name in ("train", "test"):
        images, labels = getattr(digits, f"{name}_images"), getattr(digits, f"{name}_labels")
        splits[name] = _split(images, labels, max(1, round(canvases_per_image * labels.numel())), video_frames,
                              generator)
    return MultimodalDigits(**splits)
