"""Trained claims of the SSM family about associative recall: the recall gap and hybrids.

- ``ssm.recall-gap``: Arora et al. 2023 (Zoology), Fig. 2; Arora et al. 2024 (Based), Fig. 2. Attention solves
  multi-query associative recall at every number of pairs; a fixed-size recurrent state loses pairs as they grow,
  and recalls more as the state grows. The recurrent model is Based's linear attention (Taylor feature map,
  ``archlab.ssm.linear_attention``) at feature dimensions 1, 2 and 4: its state per layer,
  ``(1 + f + f^2) * (d_model + 1)`` numbers and the convolution's window (323 to 1493 in all, below the 8192
  numbers of attention's key-value cache at L=64), is set by ``f`` and not by the sequence.
- ``ssm.hybrid-recovers-recall``: Zoology Sec. 5 and Jamba (Lieber et al. 2024): one attention layer in a
  recurrent (Mamba) stack recovers most of attention's recall.

Simplified from the papers (CPU budgets): models of width 64, a few hundred small batches instead of 64
epochs of 100k examples, vocabulary 256 (Zoology: 8192), one model trained on a mixture of 4, 8 and 16 pairs and
scored on each (Based's training mixture) instead of one model per pair count. Attention is the Based recipe: one
head, RoPE, and a short causal convolution in front of it (``attn_conv``), without which a 2-layer attention
model sits for thousands of steps on the plateau of guessing among the context's values (the induction-head phase
change); the linear attention has the same convolution in front.

Why not Mamba's ``d_state`` for the recall gap: at these budgets a width-64 Mamba never leaves that plateau at any
state size (seed 0, d_state 64, expand 1: 0.27 / 0.13 / 0.09 at 4 / 8 / 16 pairs after 5000 steps; lr 6e-3 and
up stall at chance; untied head, other dt ranges, A inits or pair curricula did not change it; expand 2 at lr
6e-3 learned the binding once, in ~85 s of CPU for one model, and not again at neighbouring settings), so the
state gain it shows is training budget, not state size. The hybrid claim's 4-layer stacks train for fewer steps
than that: with one attention layer the stack solves 16 pairs, while the all-Mamba stack stays near chance.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from archlab.data.streams import step_generator
from archlab.data.synthetic import mqar
from archlab.lab.claim import Evidence, Scale
from archlab.lab.figures import new_figure
from archlab.lab.registry import claim
from archlab.lab.side_by_side import side_by_side
from archlab.ssm.linear_attention import LinearAttentionLM, LinearAttentionLMConfig
from archlab.ssm.lm import MambaLM
from archlab.ssm.training import Budget, Sampler, accuracy, attention_model, hybrid_model, mamba_model, train


MQAR_PAIRS = (4, 8, 16)


def _mqar_setup(scale: Scale, seed: int) -> tuple[Sampler, dict[int, tuple[Tensor, Tensor]], int]:
    """The MQAR training mixture (equal shares of 4, 8 and 16 pairs per batch), test sets per pair count, vocab."""
    vocab, length = (256, 64) if scale is Scale.QUICK else (8192, 64)

    def sample(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
        parts = [mqar(-(-n // 3), vocab_size=vocab, seq_len=length, num_kv_pairs=k, generator=g) for k in MQAR_PAIRS]
        inputs, labels = (torch.cat(t)[:n] for t in zip(*parts))  # (n, L) each
        return inputs, labels

    tests = {k: mqar(300 if scale is Scale.QUICK else 1000, vocab_size=vocab, seq_len=length, num_kv_pairs=k,
                     generator=step_generator(seed, "test", k)) for k in MQAR_PAIRS}
    return sample, tests, vocab


def _mqar_budgets(scale: Scale) -> tuple[Budget, Budget]:
    """(attention, linear attention) budgets of the recall-gap claim.

    Quick (issue 21, calibrated at seeds 0-2 on the held-out mixture): attention at 300 steps of 32 is past 0.98
    by step 200 at every seed (0.69 at 16 pairs at seed 2 with only 200 steps), so 250. The linear attention's
    binding constraint is f=1, which must reach the plateau of guessing among the context's values (acc(4) near
    1/4) for its pair drop to show: 200 steps at lr 1e-2 left it at 0.16-0.20 at 4 pairs; 400 steps of 16 at
    lr 3e-3 (half the tokens of the former 400 of 32) reach it (seed 0: 0.240 / 0.054 at 4 / 16 pairs), and f=4
    reaches 0.71 at 16 pairs there."""
    if scale is Scale.QUICK:
        return Budget(steps=250, batch_size=32, lr=1e-2), Budget(steps=400, batch_size=16, lr=3e-3)
    return Budget(steps=4000, batch_size=64, lr=3e-3), Budget(steps=4000, batch_size=64, lr=3e-3)


def _hybrid_budget(scale: Scale) -> Budget:
    """Budget of the 4-layer stacks of the hybrid claim: the attention layer makes recall learnable in fewer steps
    than a pure recurrent stack needs. Quick (issue 21): 300 steps at lr 5e-3 instead of 1200 at 1e-2; at 1e-2 the
    hybrid's phase change came near step 200 at seeds 0 and 2 but not within 400 steps at seed 1 (0.03 at 16
    pairs), while at 5e-3 seed 1 leaves the plateau by step 200 (0.97 at 16 pairs after 300). The two stacks
    train side by side, one thread each (the attention baseline first, on the claim's threads): seeds 0 / 1 / 2,
    16 pairs, hybrid 0.994 / 0.974 / 0.998, recurrent 0.010 / 0.009 / 0.014, attention 0.996 / 0.998 / 0.993
    (gap recovered 0.999 / 0.976 / 1.006), 44.4-47.1 s (archlab run at raised priority beside another busy
    process), against 65.0 s one stack after the other at seed 0."""
    if scale is Scale.QUICK:
        return Budget(steps=300, batch_size=16, lr=5e-3)
    return Budget(steps=20000, batch_size=32, lr=3e-3)


ATTN_CONV = 3  # kernel of Based's short convolution in front of each attention layer


@functools.lru_cache(maxsize=3)
def _trained_attention(scale: Scale, seed: int) -> tuple[Sampler, dict[int, tuple[Tensor, Tensor]], int, MambaLM]:
    """The MQAR setup (``_mqar_setup``) and the attention baseline trained on it at the recall-gap budget: two
    layers of one-head attention with RoPE and a short convolution, no MLP (Zoology's mixer-only stack).

    Both recall claims compare against this one baseline, so a process that runs both (the atlas, the claim
    tests) trains it once per (scale, seed); the claims only score it, never train it further."""
    sample, tests, vocab = _mqar_setup(scale, seed)
    attention = attention_model(seed, position="rope", vocab_size=vocab, d_model=64, n_heads=1, max_seq_len=64,
                                attn_conv=ATTN_CONV)
    train(attention, sample, _mqar_budgets(scale)[0], seed=seed)
    return sample, tests, vocab, attention


def _scores(model: nn.Module, tests: dict[int, tuple[Tensor, Tensor]]) -> dict[int, float]:
    return {k: accuracy(model, *t) for k, t in tests.items()}


FEATURE_DIMS = (1, 2, 4)  # linear attention's feature dimension f: the recurrent state size


@claim(
    "ssm.recall-gap",
    statement="Attention solves multi-query associative recall at every number of pairs; a fixed-size recurrent "
    "state does not, and its recall grows with the state and shrinks with the number of pairs.",
    source="Arora et al. 2023 (Zoology), Fig. 2; Arora et al. 2024 (Based), Fig. 2",
    rule="attention >= 0.95 at 4, 8 and 16 pairs; recurrent at smallest state <= attention - 0.25 at 16 pairs; "
    "recurrent accuracy at 16 pairs rises with state (largest - smallest >= 0.15) and falls with pairs "
    "(smallest state: acc(4) - acc(16) >= 0.15)",
    threads=1,
)
def recall_gap(scale: Scale, seed: int) -> Evidence:
    sample, tests, vocab, attention = _trained_attention(scale, seed)
    rec_budget = _mqar_budgets(scale)[1]
    attn = _scores(attention, tests)
    recurrent: dict[int, dict[int, float]] = {}
    state_sizes: dict[int, int] = {}
    for f in FEATURE_DIMS:
        torch.manual_seed(seed)
        model = LinearAttentionLM(LinearAttentionLMConfig(vocab_size=vocab, d_model=64, n_layers=2, feature_dim=f,
                                                          conv_kernel=ATTN_CONV))
        train(model, sample, rec_budget, seed=seed)
        recurrent[f], state_sizes[f] = _scores(model, tests), model.config.state_size
    small, large = recurrent[FEATURE_DIMS[0]], recurrent[FEATURE_DIMS[-1]]
    gap_16 = attn[16] - small[16]
    state_gain = large[16] - small[16]
    pair_drop = small[4] - small[16]
    holds = min(attn.values()) >= 0.95 and gap_16 >= 0.25 and state_gain >= 0.15 and pair_drop >= 0.15

    fig, (ax_p, ax_s) = new_figure(1, 2, width=10)
    ax_p.plot(MQAR_PAIRS, [attn[k] for k in MQAR_PAIRS], "o-", color="black", label="attention")
    for f, acc in recurrent.items():
        ax_p.plot(MQAR_PAIRS, [acc[k] for k in MQAR_PAIRS], "s--", label=f"linear attention, f={f}")
    ax_p.set(xlabel="key-value pairs", ylabel="query accuracy", ylim=(0, 1.02), title="MQAR, L=64")
    ax_p.legend(fontsize=8)
    ax_s.semilogx([state_sizes[f] for f in FEATURE_DIMS], [recurrent[f][16] for f in FEATURE_DIMS], "s-",
                  label="linear attention (Based)")
    ax_s.axhline(attn[16], color="black", ls="--", label="attention (state grows with L)")
    ax_s.set(xlabel="recurrent state size per layer (numbers)", ylabel="accuracy at 16 pairs", ylim=(0, 1.02))
    ax_s.legend(fontsize=8)
    metrics = {"gap_16_pairs": gap_16, "state_gain_16_pairs": state_gain, "pair_drop_smallest_state": pair_drop}
    metrics.update({f"attention_acc_{k}": v for k, v in attn.items()})
    for f, acc in recurrent.items():
        metrics.update({f"linear_f{f}_acc_{k}": v for k, v in acc.items()})
    return Evidence(metrics=metrics, holds=holds, figure=fig, key_metric="gap_16_pairs",
                    details={"state_size_per_layer": state_sizes})


# ----------------------------------------------------------------------------------------------- hybrid


@claim(
    "ssm.hybrid-recovers-recall",
    statement="Replacing one layer of a recurrent stack with attention recovers most of attention's recall.",
    source="Arora et al. 2023 (Zoology), Sec. 5; Lieber et al. 2024 (Jamba); Dao and Gu 2024 (Mamba-2), Sec. 9.2.3",
    rule="4-layer stack with layer 2 attention recovers >= 90% of the (attention - recurrent) accuracy gap at "
    "16 pairs: (hybrid - recurrent) / (attention - recurrent) >= 0.90, where the gap itself is >= 0.25 "
    "(the recall-gap threshold), so that models all at chance do not pass",
    threads=2,
)
def hybrid_recovers_recall(scale: Scale, seed: int) -> Evidence:
    sample, tests, vocab, attention = _trained_attention(scale, seed)
    rec_budget = _hybrid_budget(scale)
    width, d_state = 64, 1
    test16 = {16: tests[16]}
    recurrent = mamba_model(seed, vocab_size=vocab, d_model=width, n_layers=4, d_state=d_state, expand=1)
    hybrid = hybrid_model(seed, vocab_size=vocab, d_model=width, n_layers=4, d_state=d_state, expand=1, mlp="none",
                     n_heads=1, attn_every=4, attn_offset=1, position="none", max_seq_len=64, attn_conv=ATTN_CONV)
    # The two stacks train independently: at once, one thread each (archlab.lab.side_by_side).
    side_by_side(*(functools.partial(train, m, sample, rec_budget, seed=seed) for m in (recurrent, hybrid)))
    acc = {name: _scores(m, test16)[16] for name, m in
           (("attention", attention), ("recurrent", recurrent), ("hybrid", hybrid))}
    gap = acc["attention"] - acc["recurrent"]
    recovered = (acc["hybrid"] - acc["recurrent"]) / gap if gap > 0 else float("nan")
    holds = gap >= 0.25 and recovered >= 0.90

    fig, ax = new_figure()
    names = ["4 x Mamba", "Mamba, attention, Mamba, Mamba", "2 x attention"]
    ax.bar(names, [acc["recurrent"], acc["hybrid"], acc["attention"]], color=["tab:gray", "tab:blue", "black"])
    ax.set(ylim=(0, 1.02), ylabel="MQAR accuracy at 16 pairs", title=f"hybrid recovers {recovered:.0%} of the gap")
    ax.tick_params(axis="x", labelsize=8)
    return Evidence(
        metrics={"gap_recovered": recovered, "acc_attention": acc["attention"], "acc_recurrent": acc["recurrent"],
                 "acc_hybrid": acc["hybrid"]},
        holds=holds,
        figure=fig,
        key_metric="gap_recovered",
    )
