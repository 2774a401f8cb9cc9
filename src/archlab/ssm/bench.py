"""The SSM family's benchmarks, ``ssm-scan`` and ``ssm-vs-attention``: the selective scan against transformers'
PyTorch fallback, and a Mamba block against an attention block over lengths.

``ssm-scan`` times the forward of ``archlab.core.scan.selective_scan`` and of
``transformers.models.mamba.modeling_mamba.mamba_selective_scan`` (the pure-PyTorch path transformers runs
when mamba_ssm is absent: a Python loop over time over precomputed (B, D, L, N) ``exp(delta A)``) on the same
arguments: batch 2, dim 512, state 16, length 2048, fp32, with D, z, delta_bias and softplus as a Mamba
block passes them, A = -(1..16) per channel (Mamba's S4D-Real init). ``extra`` holds the outputs' largest
relative difference, the forward + backward speedup over autograd through ``selective_scan_ref``, the path
``selective_scan`` took, and the forward time of the chunked PyTorch scan (the path of devices without a
kernel). With ``--device cuda`` both sides run on the GPU: archlab takes mamba_ssm's kernel when installed,
else the chunked scan; transformers' function runs mamba_ssm's kernel when installed, else its sequential loop
(the result's ``peer`` says which).

``ssm-vs-attention`` times the forward of ``archlab.ssm.mamba.MambaMixer`` (archlab) and
``archlab.core.attention.MultiHeadAttention`` (causal, SDPA; the "peer") at width 64, batch 2, for lengths
256 .. 8192; the ratio reported is at the longest length, every length's times and peak tensor bytes are in
``extra``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch

from archlab.bench.harness import BenchResult, compare
from archlab.bench.registry import benchmark
from archlab.core.scan import auto_path, selective_scan, selective_scan_ref
from archlab.errors import UserError
from archlab.lab.measure import median_seconds, peak_tensor_bytes

SCAN_SIZES = {"default": (2, 512, 16, 2048), "tiny": (1, 16, 4, 64)}
BLOCK_LENGTHS = {"default": (256, 512, 1024, 2048, 4096, 8192), "tiny": (64, 128)}


def scan_inputs(batch: int, dim: int, state: int, length: int, *, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "u": torch.randn(batch, dim, length, generator=g),
        "delta": torch.randn(batch, dim, length, generator=g),
        "A": -torch.arange(1, state + 1, dtype=torch.float32).repeat(dim, 1),  # (D, N)
        "B": torch.randn(batch, state, length, generator=g),
        "C": torch.randn(batch, state, length, generator=g),
        "D": torch.randn(dim, generator=g),
        "z": torch.randn(batch, dim, length, generator=g),
        "delta_bias": torch.randn(dim, generator=g) - 4.0,  # softplus(-4 + noise): deltas around 0.02
    }


def _cpu_only(device: str, name: str) -> None:
    if device != "cpu":
        raise UserError(f"{name} measures the CPU scan kernel; run it with --device cpu")


@benchmark(
    "ssm-scan",
    description="selective_scan forward vs transformers' mamba_selective_scan fallback (B 2, D 512, N 16, L 2048)",
    target=10.0,
)
def ssm_scan(*, device: str = "cpu", repeats: int | None = None, size: str = "default", seed: int = 0) -> BenchResult:
    try:
        from transformers.models.mamba.modeling_mamba import mamba_selective_scan
    except ImportError:
        raise UserError("the ssm-scan benchmark needs transformers as its peer: pip install transformers") from None
    x = {k: v.to(device) for k, v in scan_inputs(*SCAN_SIZES[size], seed=seed).items()}
    args = [x[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")]
    sync = torch.cuda.synchronize if device == "cuda" else None
    # transformers binds mamba_ssm's selective_scan_fn at import when that package is importable
    peer_path = "mamba_ssm selective_scan_fn (CUDA kernel)" if importlib.util.find_spec("mamba_ssm") else (
        "PyTorch fallback, sequential loop")

    def chunked_forward() -> None:
        selective_scan(*args, delta_softplus=True, path="chunked")
        if sync is not None:
            sync()

    with torch.no_grad():
        ours, theirs = selective_scan(*args, delta_softplus=True), mamba_selective_scan(*args, delta_softplus=True)
        rel_diff = float((ours - theirs).abs().max() / theirs.abs().max())
        result = compare(
            "ssm-scan",
            lambda: selective_scan(*args, delta_softplus=True),
            lambda: mamba_selective_scan(*args, delta_softplus=True),
            repeats=repeats or (5 if size == "default" else 3),
            sync=sync,
            work=x["u"].numel(),
            unit="channel-steps",
            device=device,
            peer=f"transformers mamba_selective_scan ({peer_path})",
        )
        chunked_seconds = median_seconds(chunked_forward, repeats=1 if size == "default" else 2)

    leaves = [a.clone().requires_grad_(True) for a in args]

    def forward_backward(fn) -> None:
        fn(*leaves, delta_softplus=True).sum().backward()

    fb = compare("ssm-scan-backward", lambda: forward_backward(selective_scan),
                 lambda: forward_backward(selective_scan_ref), repeats=1 if size == "default" else 2, sync=sync)
    result.config = dict(zip(("batch", "dim", "state", "length"), SCAN_SIZES[size]), dtype="float32")
    result.extra = {
        "max_relative_difference": rel_diff,
        "archlab_path": auto_path(x["u"]),
        "forward_backward_speedup_vs_ref": fb.speedup,
        "forward_backward_seconds": {"archlab": fb.archlab_median, "selective_scan_ref": fb.peer_median},
        "chunked_forward_seconds": chunked_seconds,
    }
    return result


@benchmark(
    "ssm-vs-attention",
    description="Mamba block vs causal attention block forward, width 64, lengths 256..8192 (ratio at the longest)",
)
def ssm_vs_attention(*, device: str = "cpu", repeats: int | None = None, size: str = "default", seed: int = 0) -> BenchResult:
    _cpu_only(device, "ssm-vs-attention")
    from archlab.core.attention import MultiHeadAttention
    from archlab.ssm.mamba import MambaMixer

    torch.manual_seed(seed)
    d_model, batch = 64, 2
    mamba = MambaMixer(d_model=d_model).eval()
    attn = MultiHeadAttention(d_model=d_model, n_heads=4, causal=True).eval()
    lengths = BLOCK_LENGTHS[size]
    reps = repeats or 3
    per_length: dict[str, Any] = {"lengths": list(lengths), "mamba_seconds": [], "attention_seconds": [],
                                  "mamba_bytes": [], "attention_bytes": []}
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for length in lengths[:-1]:
            x = torch.randn(batch, length, d_model, generator=g)  # (B, L, D)
            per_length["mamba_seconds"].append(median_seconds(lambda: mamba(x), repeats=reps))
            per_length["attention_seconds"].append(median_seconds(lambda: attn(x), repeats=reps))
            per_length["mamba_bytes"].append(peak_tensor_bytes(lambda: mamba(x)))
            per_length["attention_bytes"].append(peak_tensor_bytes(lambda: attn(x)))
        x = torch.randn(batch, lengths[-1], d_model, generator=g)
        result = compare("ssm-vs-attention", lambda: mamba(x), lambda: attn(x), repeats=reps,
                         work=batch * lengths[-1], unit="tokens", device=device,
                         peer="archlab MultiHeadAttention (causal, SDPA), same width")
        per_length["mamba_seconds"].append(result.archlab_median)
        per_length["attention_seconds"].append(result.peer_median)
        per_length["mamba_bytes"].append(peak_tensor_bytes(lambda: mamba(x)))
        per_length["attention_bytes"].append(peak_tensor_bytes(lambda: attn(x)))
    result.config = {"d_model": d_model, "batch": batch, "n_heads": 4, "d_state": 16, "expand": 2}
    result.extra = per_length
    return result
