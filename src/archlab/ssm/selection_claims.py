"""Trained claims of the SSM family about selection: selective copying and length extrapolation.

- ``ssm.selective-copying``: Gu and Dao 2023, Table 1. Input-dependent delta, B and C (S6) let a Mamba block
  skip noise tokens; a linear time-invariant diagonal SSM (S4D) of the same size cannot. Both train on short
  sequences first (a length curriculum), which breaks Mamba's initial plateau at every seed.
- ``ssm.length-extrapolation``: Gu and Dao 2023, Table 11: on induction heads a selective SSM keeps its
  accuracy far beyond the training length; attention with absolute sinusoidal positions does not.

Simplified from the paper (CPU budgets): models of width 32 to 64, hundreds of steps instead of 10^5, test sets
of a few hundred sequences.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from archlab.data.streams import step_generator
from archlab.data.synthetic import induction_heads, selective_copying
from archlab.lab.claim import Evidence, Scale
from archlab.lab.figures import new_figure
from archlab.lab.registry import claim
from archlab.lab.side_by_side import side_by_side
from archlab.ssm.training import Budget, LTIStack, LTIStackConfig, accuracy, attention_model, mamba_model, train


@claim(
    "ssm.selective-copying",
    statement="Selection (input-dependent delta, B, C) solves selective copying; a time-invariant SSM of the "
    "same size does not.",
    source="Gu and Dao 2023 (Mamba), Table 1",
    rule="selective SSM token accuracy >= 0.90, LTI S4D <= 0.60, gap >= 0.35",
    threads=2,
)
def selective_copying_claim(scale: Scale, seed: int) -> Evidence:
    quick = scale is Scale.QUICK
    length, n_data, n_symbols = (64, 8, 8) if quick else (256, 16, 14)
    # Both models first see the task at length 16 (the same data tokens among fewer noise tokens), then at the
    # test length. Mamba's plateau (it copies the first and last tokens, not the middle ones, which need each
    # token's index) lasts for a number of steps that varies with the data draws: 1,500 steps of 32 at length
    # 64 reached 0.998 / 0.958 / 0.49 at seeds 0 / 1 / 2 with one set of draws and 0.567 at seed 0 with the
    # next; Delta-init ranges, batch 8, width 128 and a shorter run all stayed on it. On short sequences the
    # plateau breaks within a few hundred steps and the mechanism carries over to length 64 (Mamba has no
    # notion of length). Test accuracy at seeds 0 / 1 / 2 (archlab run, two threads, quiet machine): 500 steps
    # of 16 at length 16, then 800 at 64: 0.943 / 0.959 / 0.959, LTI 0.433 / 0.423 / 0.444, 93-110 s; batches of
    # 32: 0.997 / 0.959 / 0.990, LTI 0.469 / 0.451 / 0.467, 158-183 s. One-thread sweeps, batches of 32: 600 +
    # 600 steps 0.99 / 0.91 at seeds 0 / 1; 300 at 16 + 300 at 32 + 600 at 64 0.94 / 0.99 at seeds 1 / 2;
    # batches of 16 with expand 1: 0.71 / 0.28 / 0.81. The long phase is most of the cost (a step at length 64
    # costs 2.3x one at 16) and cannot be dropped: 900 steps at length 16 alone reach loss 0.23 there but 0.31
    # at length 64 (seed 0). Quick scale therefore uses a batch schedule: batches of 16 at length 16, then of 8
    # at length 64, with lr 1e-2 and a 200-step warm-up (the recipe of ssm.length-extrapolation): 600 + 700
    # steps, 0.923 / 0.963 / 0.934, LTI 0.439 / 0.451 / 0.448 (archlab run, two threads; 116-120 s of CPU per
    # seed on a busy machine, against 87.7 s of wall time for the 500 + 800 recipe on a quiet one). 600 + 600:
    # 0.909 / 0.960 / 0.963 (one thread: 0.968 / 0.967 / 0.939); 500 + 700: 0.902 at seed 0; 500 + 800 at
    # lr 5e-3 (one thread) 0.904 / 0.933 / 0.916; width 32 0.34-0.72. The two models now train side by side, one
    # thread each (a model this small barely uses a second thread: a Mamba step at length 64 takes 43 ms on one,
    # 37 on two), which makes one-thread numbers the claim's: 600 + 700 steps 0.968 / gap 0.529 / 0.940; 600 + 600
    # 0.968 / 0.967 / 0.940, LTI 0.423 / 0.421 / 0.435, 52.5-57.5 s beside another busy process (archlab run at
    # raised priority), against 70.9 s in a quiet make test for 600 + 700 steps one model after the other.
    width, d_state = 64, 16
    budget = (Budget(steps=1200, batch_size=8, lr=1e-2, warmup_steps=200) if quick
              else Budget(steps=4000, batch_size=64, lr=1e-3))
    short_steps, short_batches = (600, 2) if quick else (1000, 1)  # short-phase batch: short_batches x budget's

    def sample(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
        return selective_copying(n, length=length, n_data=n_data, n_symbols=n_symbols, generator=g)

    def short(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
        return selective_copying(short_batches * n, length=2 * n_data, n_data=n_data, n_symbols=n_symbols,
                                 generator=g)

    test = sample(512, step_generator(seed, "test", 0))
    vocab = n_symbols + 2
    selective = mamba_model(seed, vocab_size=vocab, d_model=width, n_layers=2, d_state=d_state)
    torch.manual_seed(seed)
    lti = LTIStack(LTIStackConfig(vocab_size=vocab, d_model=width, n_layers=2, d_state=d_state))
    names = ("selective (Mamba, S6)", "LTI (S4D)")
    # The two trainings are independent: they run at once, one thread each (archlab.lab.side_by_side).
    histories = dict(zip(names, side_by_side(
        *(partial(train, m, sample, budget, seed=seed, curriculum=(short, short_steps)) for m in (selective, lti)))))
    acc_sel, acc_lti = accuracy(selective, *test), accuracy(lti, *test)
    gap = acc_sel - acc_lti
    holds = acc_sel >= 0.90 and acc_lti <= 0.60 and gap >= 0.35

    fig, (ax_c, ax_b) = new_figure(1, 2, width=10)
    for name, history in histories.items():
        curve = [(r["step"], r["loss"]) for r in history if "loss" in r]
        ax_c.plot(*zip(*curve), label=name)
    ax_c.axvline(short_steps, color="gray", ls=":", lw=1, label=f"length {2 * n_data} -> {length}")
    ax_c.set(xlabel="step", ylabel="training loss", title=f"selective copying, L={length}, {n_data} tokens")
    ax_c.legend(fontsize=8)
    ax_b.bar(["selective (S6)", "LTI (S4D)"], [acc_sel, acc_lti], color=["tab:green", "tab:gray"])
    ax_b.axhline(0.90, color="green", ls="--", lw=1)
    ax_b.axhline(0.60, color="red", ls=":", lw=1)
    ax_b.set(ylim=(0, 1), ylabel="token accuracy (test)", title=f"gap {gap:.2f}")
    return Evidence(
        metrics={"acc_selective": acc_sel, "acc_lti": acc_lti, "gap": gap},
        holds=holds,
        figure=fig,
        key_metric="gap",
        details={"params_selective": sum(p.numel() for p in selective.parameters()),
                 "params_lti": sum(p.numel() for p in lti.parameters()), "steps": budget.steps,
                 "curriculum": {"length": 2 * n_data, "steps": short_steps,
                                "batch_size": short_batches * budget.batch_size}},
    )


@claim(
    "ssm.length-extrapolation",
    statement="Trained on induction heads no longer than one length, a selective SSM keeps its accuracy far beyond "
    "it; attention with absolute positions does not.",
    source="Gu and Dao 2023 (Mamba), Sec. 4.1.2 and Table 11",
    rule="selective SSM accuracy >= 0.90 at 16x the training length (64 -> 1024); attention with absolute "
    "sinusoidal positions <= 0.50 at 4x (256)",
    threads=2,
)
def length_extrapolation(scale: Scale, seed: int) -> Evidence:
    quick = scale is Scale.QUICK
    train_len, short_len, vocab = 64, 16, 16
    lengths = [64, 128, 256, 512, 1024] if quick else [64, 128, 256, 512, 1024, 4096]
    n_test = 200 if quick else 1000
    tests = {n: induction_heads(n_test, length=n, vocab_size=vocab, generator=step_generator(seed, "test", n))
             for n in lengths}

    def sample(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
        return induction_heads(n, length=train_len, vocab_size=vocab, generator=g)

    def short(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
        return induction_heads(n, length=short_len, vocab_size=vocab, generator=g)

    # Both models first see length 16, then 64 (never longer): on short sequences the plateau before the induction
    # circuit forms lasts a few hundred steps instead of thousands (attention at length 64 alone: chance, 0.10 /
    # 0.10 / 0.08 at seeds 0 / 1 / 2 after 1,500 steps of 16, and never left it at seed 1 in 4,000). Whether
    # Mamba extrapolates is decided by how closed its gate (delta) stays at the tokens it must skip: accuracy at
    # 1024 falls with the distance to the trigger (seed 1, lr 3e-3: 1.0 within 256 tokens, 0.55 beyond 512), and
    # length 64 never asks for more. A large learning rate (sharper gates) with a long warm-up closes it
    # (one-thread sweeps at d_model 32, seeds 0 / 1 / 2, 16x accuracy: lr 3e-3, 800 steps: 0.39 / 0.67 / -;
    # 1,500 steps: 0.72 / 0.37 / 0.60; lr 1e-2, warm-up 40: 1e-2 never learned at seed 2; warm-up 200, 800
    # steps: 0.81 / 1.0 / 1.0; 1,200 steps: 0.92 / 1.0 / 0.995). Smaller initial deltas (dt 1e-4..1e-3),
    # d_state 4 or d_model 64 did not help; the old recipe (2,000 steps of 8 at 2e-3, width 64) gave 0.64 at
    # seed 2 under two threads.
    mamba_budget = (Budget(steps=1500, batch_size=8, lr=1e-2, warmup_steps=200) if quick
                    else Budget(steps=6000, batch_size=8, lr=1e-2, warmup_steps=200))
    attn_budget = (Budget(steps=1200, batch_size=16, lr=3e-3) if quick
                   else Budget(steps=8000, batch_size=16, lr=1e-3))
    # Attention learns single-label induction heads only with untied embeddings and embeddings scaled by sqrt(d)
    # under the sin-cos table (unscaled: chance).
    mamba = mamba_model(seed, vocab_size=vocab, d_model=32, n_layers=2, d_state=16)
    train(mamba, sample, mamba_budget, seed=seed, curriculum=(short, 300))
    attention = attention_model(seed, position="sincos", vocab_size=vocab, d_model=32, n_heads=2,
                                max_seq_len=max(lengths), tie_embeddings=False)
    train(attention, sample, attn_budget, seed=seed, curriculum=(short, 500))
    acc_mamba = {n: accuracy(mamba, *tests[n], batch_size=50) for n in lengths}
    attn_lengths = [n for n in lengths if n <= 4 * train_len * 2]
    acc_attn = {n: accuracy(attention, *tests[n], batch_size=50) for n in attn_lengths}
    holds = acc_mamba[16 * train_len] >= 0.90 and acc_attn[4 * train_len] <= 0.50

    fig, ax = new_figure()
    ax.semilogx(lengths, [acc_mamba[n] for n in lengths], "o-", base=2, label="Mamba (selective SSM)")
    ax.semilogx(attn_lengths, [acc_attn[n] for n in attn_lengths], "s--", base=2, label="attention, sin-cos positions")
    ax.axvline(train_len, color="gray", ls=":", label="training length")
    ax.set(xlabel="test sequence length", ylabel="induction-head accuracy", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    metrics = {"mamba_acc_16x": acc_mamba[16 * train_len], "attention_acc_4x": acc_attn[4 * train_len],
               "mamba_acc_1x": acc_mamba[train_len], "attention_acc_1x": acc_attn[train_len]}
    return Evidence(metrics=metrics, holds=holds, figure=fig, key_metric="mamba_acc_16x",
                    details={"mamba": acc_mamba, "attention": acc_attn})
