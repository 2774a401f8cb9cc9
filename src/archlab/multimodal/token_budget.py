"""The token budget of each modality (Dosovitskiy et al. 2021; Gong et al. 2021; Arnab et al. 2021) and the cost of
self-attention over it (Vaswani et al. 2017): tokens grow with the square of an image's side, linearly with a
video's frames and an audio clip's seconds, and attention's score and mixing products with the square of tokens.

Token counts are read from the tokenisers themselves (``num_tokens``) and checked against the length of the
sequence they return for the smallest input of each sweep; attention cost is counted, not timed: the floating-point
operations of ``softmax(Q K^T / sqrt(d)) V`` (``core.attention.attention_ref``) for each token count, by
``torch.utils.flop_counter.FlopCounterMode``. The growth rates are least-squares slopes in log-log.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from archlab.core.attention import attention_ref
from archlab.lab.claim import Evidence, Scale
from archlab.lab.figures import new_figure
from archlab.lab.measure import loglog_slope
from archlab.multimodal.tokenizers import AudioTokenizer, ImageTokenizer, VideoTokenizer

IMAGE_SIDES = (16, 32, 64, 128, 256)
VIDEO_FRAMES = (4, 8, 16, 32, 64)
AUDIO_SECONDS = (1.0, 2.0, 4.0, 8.0, 16.0)
HEADS, HEAD_DIM = 4, 16


def attention_flops(tokens: int) -> int:
    """The FLOPs of one attention core over ``tokens`` tokens (batch 1, ``HEADS`` heads of ``HEAD_DIM``)."""
    q = torch.zeros(1, HEADS, tokens, HEAD_DIM)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        attention_ref(q, q, q)
    return counter.get_total_flops()


def token_budget(scale: Scale, seed: int) -> Evidence:
    torch.manual_seed(seed)
    image = ImageTokenizer(in_channels=3, d_model=8, patch_size=16)
    video = VideoTokenizer(in_channels=3, d_model=8, patch_size=16, tubelet_frames=2)
    audio = AudioTokenizer(d_model=8, patch_size=4, sample_rate=8000, n_fft=256, hop_length=80, n_mels=16)
    counts = {"image": [image.num_tokens(s, s) for s in IMAGE_SIDES],
              "video": [video.num_tokens(f, 64, 64) for f in VIDEO_FRAMES],
              "audio": [audio.num_tokens(round(s * 8000)) for s in AUDIO_SECONDS]}
    with torch.no_grad():  # the counts are the lengths the tokenisers produce
        produced = {"image": image(torch.zeros(1, 3, 16, 16)).shape[1],
                    "video": video(torch.zeros(1, 4, 3, 64, 64)).shape[1],
                    "audio": audio(torch.zeros(1, 8000)).shape[1]}
    consistent = all(produced[m] == counts[m][0] for m in counts)
    slopes = {"image_tokens_vs_side": loglog_slope(IMAGE_SIDES, counts["image"]),
              "video_tokens_vs_frames": loglog_slope(VIDEO_FRAMES, counts["video"]),
              "audio_tokens_vs_seconds": loglog_slope(AUDIO_SECONDS, counts["audio"])}
    all_tokens = sorted({n for c in counts.values() for n in c})
    flops = [attention_flops(n) for n in all_tokens]
    slopes["attention_flops_vs_tokens"] = loglog_slope(all_tokens, flops)
    holds = (consistent and 1.9 <= slopes["image_tokens_vs_side"] <= 2.1
             and 0.9 <= slopes["video_tokens_vs_frames"] <= 1.1 and 0.9 <= slopes["audio_tokens_vs_seconds"] <= 1.1
             and 1.9 <= slopes["attention_flops_vs_tokens"] <= 2.1)
    fig, axes = new_figure(1, 4, width=16, height=3.6)
    panels = (("image", IMAGE_SIDES, "image side (px), 16 x 16 patches", "image_tokens_vs_side"),
              ("video", VIDEO_FRAMES, "frames, 2 x 16 x 16 tubelets", "video_tokens_vs_frames"),
              ("audio", AUDIO_SECONDS, "seconds, 4 x 4 log-mel patches", "audio_tokens_vs_seconds"))
    for ax, (name, xs, label, slope) in zip(axes, panels):
        ax.loglog(xs, counts[name], marker="o")
        ax.set(xlabel=label, ylabel="tokens", title=f"{name}: slope {slopes[slope]:.2f}")
    axes[3].loglog(all_tokens, flops, marker="o")
    axes[3].set(xlabel="tokens", ylabel="attention FLOPs",
                title=f"attention: slope {slopes['attention_flops_vs_tokens']:.2f}")
    return Evidence(metrics={**slopes, "tokens_match_sequence_lengths": consistent,
                             "image_tokens_at_256px": counts["image"][-1],
                             "video_tokens_at_64_frames": counts["video"][-1],
                             "audio_tokens_at_16s": counts["audio"][-1]},
                    holds=holds, figure=fig, key_metric="image_tokens_vs_side",
                    details={"counts": counts, "attention_tokens": all_tokens, "attention_flops": flops})
