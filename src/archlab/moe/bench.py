"""``moe-layer``: archlab's ``MoELayer`` converted from a transformers ``MixtralSparseMoeBlock``, against that block
and against a dense SwiGLU with the same active FLOPs.

The block has width 512, expert width 1024, 8 experts, top-2 routing, and gets 4096 tokens (batch 4 x length
1024) in fp32 on the CPU; its weights are drawn as Mixtral's ``_init_weights`` draws them (N(0, 0.02)) and the
archlab layer is ``archlab.interop.from_transformers(block)``, so both route every token to the same experts.
The peer runs transformers' default experts implementation for Mixtral models, ``"grouped_mm"``
(``torch.nn.functional.grouped_mm`` when this torch has it); its ``"eager"`` loop over experts is timed too
(``extra``). The headline ratio is the forward, no grad, ``speedup = transformers / archlab`` (target >= 1.0:
archlab no slower). The dense layer is ``core.mlp.SwiGLU`` with hidden width ``top_k * 1024 = 2048``: per token
it does the same matrix FLOPs as the two active experts (``3 * 2 * 512 * 2048``), so ``archlab / dense`` is the
price of routing and dispatch (target <= 1.15). Forward + backward (summed output, gradients of input and
weights) is timed against the grouped-mm peer as well and reported in ``extra``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from archlab.bench.harness import BenchResult, compare
from archlab.bench.registry import benchmark
from archlab.core.mlp import SwiGLU
from archlab.errors import UserError


@dataclass(frozen=True)
class MoEBenchConfig:
    d_model: int
    d_expert: int
    n_experts: int
    top_k: int
    batch: int
    length: int

    @property
    def tokens(self) -> int:
        return self.batch * self.length


CONFIGS = {
    "default": MoEBenchConfig(d_model=512, d_expert=1024, n_experts=8, top_k=2, batch=4, length=1024),
    "tiny": MoEBenchConfig(d_model=32, d_expert=64, n_experts=4, top_k=2, batch=2, length=16),
}


def mixtral_block(cfg: MoEBenchConfig, *, implementation: str, seed: int = 0) -> torch.nn.Module:
    """A ``MixtralSparseMoeBlock`` of ``cfg``'s shape with N(0, 0.02) weights (Mixtral's ``_init_weights``)."""
    try:
        from transformers import MixtralConfig
        from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock
    except ImportError:
        raise UserError("the moe-layer benchmark needs transformers as its peer: pip install transformers") from None
    config = MixtralConfig(hidden_size=cfg.d_model, intermediate_size=cfg.d_expert, num_local_experts=cfg.n_experts,
                           num_experts_per_tok=cfg.top_k)
    config._experts_implementation = implementation
    block = MixtralSparseMoeBlock(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(0.02 * torch.randn(p.shape, generator=generator))
    return block.eval()


def _forward_backward(fn, x: torch.Tensor):
    def step() -> None:
        out = fn(x)
        out = out.hidden if hasattr(out, "hidden") else out
        out.sum().backward()

    return step


@benchmark(
    "moe-layer",
    description="MoE layer forward (512 wide, 8 experts of 1024, top-2, 4096 tokens, fp32) vs transformers "
    "MixtralSparseMoeBlock (grouped_mm); dense SwiGLU of equal active FLOPs in extra",
    target=1.0,
)
def moe_layer(*, device: str = "cpu", repeats: int | None = None, size: str = "default", seed: int = 0) -> BenchResult:
    from archlab.interop import from_transformers

    cfg = CONFIGS[size]
    repeats = repeats or (9 if size == "default" else 2)
    block = mixtral_block(cfg, implementation="grouped_mm", seed=seed).to(device)
    eager = mixtral_block(cfg, implementation="eager", seed=seed).to(device)
    layer = from_transformers(block).to(device)
    torch.manual_seed(seed)
    dense = SwiGLU(d_model=cfg.d_model, d_hidden=cfg.top_k * cfg.d_expert).to(device).eval()
    x = torch.randn(cfg.batch, cfg.length, cfg.d_model, generator=torch.Generator().manual_seed(seed + 1)).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else None
    common = dict(repeats=repeats, sync=sync, work=cfg.tokens, unit="tokens", device=device)

    with torch.no_grad():
        max_difference = float((layer(x).hidden - block(x)).abs().max())
        result = compare("moe-layer", lambda: layer(x), lambda: block(x),
                         peer="transformers MixtralSparseMoeBlock (experts_implementation='grouped_mm')", **common)
        vs_dense = compare("moe-layer-vs-dense", lambda: layer(x), lambda: dense(x), peer="dense SwiGLU", **common)
        vs_eager = compare("moe-layer-vs-eager", lambda: layer(x), lambda: eager(x), peer="eager", **common)
    x_grad = x.clone().requires_grad_(True)
    backward = compare("moe-layer-backward", _forward_backward(layer, x_grad), _forward_backward(block, x_grad),
                       **{**common, "repeats": max(1, repeats // 3)})

    result.config = {**asdict(cfg), "tokens": cfg.tokens, "dtype": "float32", "threads": torch.get_num_threads()}
    result.extra = {
        "max_abs_difference": max_difference,
        "archlab_over_dense": vs_dense.archlab_median / vs_dense.peer_median,
        "archlab_over_dense_target": 1.15,
        "dense_seconds": vs_dense.peer_median,
        "archlab_seconds_in_dense_comparison": vs_dense.archlab_median,
        "speedup_vs_eager_block": vs_eager.speedup,
        "eager_block_seconds": vs_eager.peer_median,
        "forward_backward_speedup": backward.speedup,
        "forward_backward_seconds": {"archlab": backward.archlab_median, "transformers": backward.peer_median},
        "dense_hidden_width": cfg.top_k * cfg.d_expert,
        "transformers_experts_implementation": "grouped_mm",
        "grouped_mm_available": hasattr(torch.nn.functional, "grouped_mm"),
    }
    return result
