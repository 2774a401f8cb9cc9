"""``lm-train``: training tokens/s of archlab's GPT-2-style decoder against transformers' ``GPT2LMHeadModel``.

Both sides get the same configuration (4 layers, width 256, 8 heads, feed-forward 1024, context 256,
batch 16, dropout 0), the same init seed, the same token batches and the same optimiser (torch's fused
AdamW, lr 3e-4, betas (0.9, 0.95), weight decay 0.1 on matrices only, grouped as ``archlab.train.optim``
does). One call is one full training step: zero grads, forward with loss, backward, optimiser step. The
vocabulary is 8192 tokens (a small BPE's size, as in the Zoology configs) rather than GPT-2's 50257, so
that the output layer does not swamp the blocks at this width; both sides use the same number. The peer
runs with its SDPA attention. ``precision="bf16"`` (``archlab bench lm-train --precision bf16``) runs both
sides' forward and loss under the same bf16 autocast, each through its own loss path; the utilisation stays
measured against the fp32 peak.

Achieved FLOP/s counts the model FLOPs of Kaplan et al. 2020 (Scaling Laws, Sec. 2.1, Table 1) per
training token, forward plus backward (3x forward):

    flops_per_token = 6 * N + 6 * n_layers * context * d_model
    N = n_layers * (4 * d_model**2 + 2 * d_model * d_ff) + d_model * vocab_size

``N`` holds the matrices every token is multiplied by: attention's q, k, v, o and the two feed-forward
matrices per layer, plus the output projection to the vocabulary, which is counted as in Hoffmann et al.
2022 (Chinchilla, App. F) because at this width it is as large as the blocks; embedding look-ups, norms,
biases and softmax are left out. The second term is attention's scores and weighted sum (Kaplan's
``2 n_layer n_ctx d_attn`` per forward token), not halved for the causal mask. Both sides are credited the
same FLOPs, so their utilisations differ exactly as their tokens/s do. Utilisation is that rate over the
fp32 matmul peak measured in the same run (``archlab.bench.peak``), just before and just after the timed
steps, taking the better of the two.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch

from archlab.bench.harness import BenchResult, compare
from archlab.bench.peak import matmul_peak
from archlab.bench.registry import benchmark
from archlab.errors import UserError
from archlab.train.optim import param_groups


@dataclass(frozen=True)
class LMTrainConfig:
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    context: int
    batch_size: int
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1
    n_batches: int = 4

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.context

    @property
    def flops_per_token(self) -> int:
        """Training FLOPs per token (see the module docstring for the formula and its sources)."""
        matrices = self.n_layers * (4 * self.d_model**2 + 2 * self.d_model * self.d_ff)
        matrices += self.d_model * self.vocab_size
        return 6 * matrices + 6 * self.n_layers * self.context * self.d_model


CONFIGS = {
    "default": LMTrainConfig(
        vocab_size=8192, d_model=256, n_layers=4, n_heads=8, d_ff=1024, context=256, batch_size=16
    ),
    "tiny": LMTrainConfig(vocab_size=256, d_model=64, n_layers=2, n_heads=4, d_ff=256, context=32, batch_size=4),
}
PRECISIONS = ("fp32", "bf16")  # bf16: both sides' forward and loss under bf16 autocast


def make_batches(cfg: LMTrainConfig, *, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``cfg.n_batches`` random token batches as (inputs, next-token targets), each ``(B, L)``."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, cfg.vocab_size, (cfg.n_batches, cfg.batch_size, cfg.context + 1), generator=generator)
    return [(t[:, :-1].contiguous(), t[:, 1:].contiguous()) for t in tokens]  # each (B, L)


def build_archlab(cfg: LMTrainConfig) -> tuple[torch.nn.Module, Callable]:
    """archlab's decoder and its loss function ``loss(model, inputs, targets)``."""
    from archlab.transformer.lm import DecoderLM, gpt2_config

    model = DecoderLM(
        gpt2_config(
            vocab_size=cfg.vocab_size,
            d_model=cfg.d_model,
            n_layers=cfg.n_layers,
            n_heads=cfg.n_heads,
            d_ff=cfg.d_ff,
            max_seq_len=cfg.context,
            dropout=0.0,
        )
    )
    return model, lambda m, x, y: m(x, labels=y).loss


def build_peer(cfg: LMTrainConfig) -> tuple[torch.nn.Module, Callable]:
    """transformers' ``GPT2LMHeadModel`` with the same shape, and its loss function.

    transformers shifts ``labels`` itself, so it is given the inputs: it predicts the same next tokens
    over ``L - 1`` positions, the same computation at the same sequence length.
    """
    try:
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        raise UserError("the lm-train benchmark needs transformers as its peer: pip install transformers") from None
    config = GPT2Config(
        vocab_size=cfg.vocab_size,
        n_positions=cfg.context,
        n_embd=cfg.d_model,
        n_layer=cfg.n_layers,
        n_head=cfg.n_heads,
        n_inner=cfg.d_ff,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=None,  # GPT-2's 50256 lies outside a smaller vocabulary
        eos_token_id=None,
    )
    model = GPT2LMHeadModel._from_config(config, attn_implementation="sdpa")
    model.loss_type = "ForCausalLM"  # what transformers falls back to anyway, without its warning
    return model, lambda m, x, y: m(input_ids=x, labels=x).loss


def make_optimizer(model: torch.nn.Module, cfg: LMTrainConfig) -> torch.optim.Optimizer:
    """The same AdamW for both sides, with archlab's parameter groups (no decay on norms, biases, embeddings)."""
    groups = param_groups(model, cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, fused=True)


def make_train_step(
    model: torch.nn.Module,
    loss_fn: Callable,
    optimizer: torch.optim.Optimizer,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    steps: int,
    precision: str = "fp32",
) -> Callable[[], None]:
    """A function that runs ``steps`` training steps over ``batches`` in order, cycling; with
    ``precision="bf16"`` the forward and loss run under bf16 autocast (the weights and optimiser stay float32)."""
    stream = itertools.cycle(batches)

    def train() -> None:
        for _ in range(steps):
            inputs, targets = next(stream)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(inputs.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = loss_fn(model, inputs, targets)
            loss.backward()
            optimizer.step()

    return train


def _count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@benchmark(
    "lm-train",
    description="training tokens/s, archlab DecoderLM vs transformers GPT2LMHeadModel (4x256, ctx 256, batch 16)",
    target=1.2,
)
def lm_train(*, device: str = "cpu", repeats: int | None = None, size: str = "default", seed: int = 0,
             precision: str = "fp32") -> BenchResult:
    if precision not in PRECISIONS:
        raise UserError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    cfg = CONFIGS[size]
    steps = 1 if device == "cpu" else 10  # a GPU step takes milliseconds: time several per call
    batches = [(x.to(device), y.to(device)) for x, y in make_batches(cfg, seed=seed)]

    sides: dict[str, Any] = {}
    for side, build in (("archlab", build_archlab), ("peer", build_peer)):
        torch.manual_seed(seed)
        model, loss_fn = build(cfg)
        model.to(device).train()
        with torch.no_grad():
            initial_loss = loss_fn(model, *batches[0]).item()
        optimizer = make_optimizer(model, cfg)
        sides[side] = {
            "step": make_train_step(model, loss_fn, optimizer, batches, steps, precision),
            "parameters": _count_parameters(model),
            "initial_loss": initial_loss,
        }

    sync = torch.cuda.synchronize if device == "cuda" else None
    if size == "tiny":
        peak_sizes = (512,)  # a smoke run: a rough peak is enough
    else:
        peak_sizes = (1024, 2048) if device == "cpu" else (4096, 8192)
    peak_before = matmul_peak(device=device, sizes=peak_sizes)
    result = compare(
        "lm-train",
        sides["archlab"]["step"],
        sides["peer"]["step"],
        repeats=repeats or (5 if size == "default" else 3),
        warmup=1,
        sync=sync,
        work=steps * cfg.tokens_per_step,
        unit="tokens",
        device=device,
        peer="transformers GPT2LMHeadModel (sdpa)",
    )
    peak = max(peak_before, matmul_peak(device=device, sizes=peak_sizes))  # the better of before and after
    flops = cfg.flops_per_token
    result.config = {**asdict(cfg), "steps_per_call": steps, "threads": torch.get_num_threads(), "precision": precision}
    result.extra = {
        "flops_per_token": flops,
        "matmul_peak_flops": peak,
        "archlab_flops": result.archlab_throughput * flops,
        "peer_flops": result.peer_throughput * flops,
        "archlab_mfu": result.archlab_throughput * flops / peak,
        "peer_mfu": result.peer_throughput * flops / peak,
        "archlab_parameters": sides["archlab"]["parameters"],
        "peer_parameters": sides["peer"]["parameters"],
        "archlab_initial_loss": sides["archlab"]["initial_loss"],
        "peer_initial_loss": sides["peer"]["initial_loss"],
        "uniform_loss": math.log(cfg.vocab_size),
    }
    return result
