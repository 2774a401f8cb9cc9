"""``rnn-lstm`` and ``rnn-gru``: archlab's LSTM and GRU layers against ``torch.nn.LSTM`` / ``torch.nn.GRU`` holding
the same weights.

One layer, batch 32, length 256, input and hidden 256, float32, batch-first (``tiny``: batch 2, length 16, width
8). The reported times are forward + backward (of the sum of the outputs, through the input and every weight);
``extra`` holds the forward-only times and their ratio, and the largest absolute differences of the outputs and
of every gradient, the gradients also relative to their largest entry (a weight gradient sums L * B = 8192
terms, so its float32 rounding grows with its size). ``config["archlab_path"]`` is the layer's path (``auto``:
the LSTM through ``archlab.rnn.fused``, the GRU through ``archlab.rnn.fused_gru``).
The target is archlab at most 1.2x torch's time: speedup (torch / archlab) >= 1 / 1.2.
"""

from __future__ import annotations

import torch

from archlab.bench.harness import BenchResult, compare
from archlab.bench.registry import benchmark
from archlab.rnn.layers import RecurrentLayer

SIZES = {"default": (32, 256, 256, 256), "tiny": (2, 16, 8, 8)}  # batch, length, input, hidden
PEERS = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def _twins(kind: str, input_size: int, hidden: int, *, seed: int, device: str
           ) -> tuple[RecurrentLayer, torch.nn.Module]:
    torch.manual_seed(seed)
    peer = PEERS[kind](input_size, hidden, batch_first=True).to(device)
    ours = RecurrentLayer(kind=kind, input_size=input_size, hidden_size=hidden).to(device)
    ours.cells[0].load_state_dict({k.removesuffix("_l0"): v for k, v in peer.state_dict().items()})
    return ours, peer


def _differences(ours: RecurrentLayer, peer: torch.nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Largest |archlab - torch| of the outputs, final state and gradients (absolute, and gradients relative)."""
    diffs: dict[str, float] = {}
    grads = []
    for layer in (ours, peer):
        xi = x.clone().requires_grad_(True)
        out, final = layer(xi)
        states = final if isinstance(final, tuple) else (final,)  # (h, c) or h
        weights = torch.linspace(-1, 1, out.numel(), device=x.device).view_as(out)  # a loss that weighs each output
        (out * weights).sum().add(sum(s.sum() for s in states)).backward()
        grads.append([out.detach(), *(s.detach() for s in states), xi.grad, *(p.grad for p in layer.parameters())])
        layer.zero_grad(set_to_none=True)
    names = ["output", "h_n", *(["c_n"] if ours.is_lstm else []), "grad_x", "grad_weight_ih", "grad_weight_hh",
             "grad_bias_ih", "grad_bias_hh"]
    for name, a, b in zip(names, *grads, strict=True):
        diffs[f"max_abs_difference_{name}"] = float((a - b).abs().max())
        if name.startswith("grad"):
            diffs[f"max_relative_difference_{name}"] = float((a - b).abs().max() / b.abs().max())
    return diffs


def _run(kind: str, *, device: str, repeats: int | None, size: str, seed: int) -> BenchResult:
    batch, length, input_size, hidden = SIZES[size]
    ours, peer = _twins(kind, input_size, hidden, seed=seed, device=device)
    x = torch.randn(batch, length, input_size, generator=torch.Generator().manual_seed(seed)).to(device)  # (B, L, I)
    sync = torch.cuda.synchronize if device == "cuda" else None
    repeats = repeats or (7 if size == "default" else 2)

    def forward_backward(layer: torch.nn.Module) -> None:
        out, _ = layer(x)
        out.sum().backward()
        layer.zero_grad(set_to_none=True)

    def forward(layer: torch.nn.Module) -> None:
        with torch.no_grad():
            layer(x)

    name = f"rnn-{kind}"
    forward_only = compare(f"{name}-forward", lambda: forward(ours), lambda: forward(peer), repeats=repeats,
                           sync=sync, device=device)
    result = compare(name, lambda: forward_backward(ours), lambda: forward_backward(peer), repeats=repeats,
                     sync=sync, work=batch * length, unit="tokens", device=device, peer=f"torch.nn.{kind.upper()}")
    result.config = {"batch": batch, "length": length, "input_size": input_size, "hidden_size": hidden,
                     "dtype": "float32", "threads": torch.get_num_threads(), "archlab_path": ours.path}
    result.extra = {
        "forward_archlab_times": forward_only.archlab_times,
        "forward_peer_times": forward_only.peer_times,
        "forward_archlab_over_peer_time": forward_only.archlab_median / forward_only.peer_median,
        "forward_backward_archlab_over_peer_time": result.archlab_median / result.peer_median,
        **_differences(ours, peer, x),
    }
    return result


@benchmark(
    "rnn-lstm",
    description="LSTM layer forward+backward, archlab vs torch.nn.LSTM, same weights (B 32, L 256, I = H = 256)",
    target=1 / 1.2,
)
def rnn_lstm(*, device: str = "cpu", repeats: int | None = None, size: str = "default", seed: int = 0
             ) -> BenchResult:
    return _run("lstm", device=device, repeats=repeats, size=size, seed=seed)


@benchmark(
    "rnn-gru",
    description="GRU layer forward+backward, archlab vs torch.nn.GRU, same weights (B 32, L 256, I = H = 256)",
    target=1 / 1.2,
)
def rnn_gru(*, device: str = "cpu", repeats: int | None = None, size: str = "default", seed: int = 0
            ) -> BenchResult:
    return _run("gru", device=device, repeats=repeats, size=size, seed=seed)
