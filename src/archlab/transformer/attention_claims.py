"""Claims about what attention sees and learns: order, in-context copying, pretrained meaning.

- ``transformer.permutation-equivariance``: self-attention is a function of a set (Vaswani et al. 2017 add
  positions for this reason; Lee et al. 2019, Set Transformer); RoPE (Su et al. 2021) or a learned table breaks
  the symmetry. Measured on the encoder of each kind after training it to tell sorted from shuffled sequences
  (``SortednessTask``, whose classes hold the same multisets).
- ``transformer.induction-heads``: Olsson et al. 2022 (Elhage et al. 2021): a two-layer attention-only model
  composes a previous-token head with an induction head and copies a repeated sequence in context; one layer
  cannot compose. Loss ratio = loss on the second repeat / loss on the first over the same offsets of each
  (``RepeatedTokensTask``, ``repeat_losses``). Both depths get the same data, optimiser and number of steps.
  As in Elhage et al.'s toy models the embedding and unembedding are separate matrices (a tied head reads the
  copied token back through the embedding, and in our runs the 2-layer model then formed no induction head in
  600 steps), with no biases; positions are RoPE, so a previous-token head is one relative offset. One thread:
  a width-64 model on 32 x 32 tokens gains little from a second and loses much on a shared machine.
- ``transformer.pretrained-semantics``: Reimers and Gurevych 2019 (Sentence-BERT): the cosine of pretrained
  sentence vectors separates paraphrases from unrelated pairs (ROC AUC over ``sentence_pairs``), while the same
  encoder at random initialisation does not.
"""

from __future__ import annotations

import math

import torch

from archlab.lab.claim import Evidence, Scale
from archlab.lab.figures import new_figure
from archlab.lab.registry import claim
from archlab.lab.experiment import SampledTask, quick_fit
from archlab.train.loop import FitResult
from archlab.transformer.encoder import Encoder, EncoderConfig
from archlab.transformer.lm import LMConfig
from archlab.transformer.sentence import SentenceEncoder
from archlab.transformer.sentence_pairs import PARAPHRASES, UNRELATED
from archlab.transformer.synthetic import RepeatedTokensTask, SortednessTask


def permutation_gap(encoder: Encoder, input_ids: torch.Tensor, generator: torch.Generator) -> float:
    """max |f(P x) - P f(x)| over the hidden states of ``encoder`` for one random permutation P of the
    positions of ``input_ids`` (B, L)."""
    perm = torch.randperm(input_ids.shape[1], generator=generator)
    with torch.no_grad():
        out = encoder(input_ids).last_hidden_state  # (B, L, D)
        out_perm = encoder(input_ids[:, perm]).last_hidden_state
    return float((out_perm - out[:, perm]).abs().max())


def roc_auc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """P(score of a random positive > score of a random negative), ties counting one half (Mann-Whitney U)."""
    diff = positive[:, None] - negative[None, :]  # (P, N)
    return float((diff > 0).float().mean() + 0.5 * (diff == 0).float().mean())


def _fit(task: SampledTask, *, steps: int, lr: float, seed: int) -> FitResult:
    return quick_fit(task, steps=steps, lr=lr, batch_size=task.batch_size, seed=seed,
                     warmup_steps=max(1, steps // 20), log_every=max(1, steps // 20))


@claim(
    "transformer.permutation-equivariance",
    statement="Without positional information self-attention is permutation-equivariant, so token order is "
    "invisible to it; RoPE or learned positions break the symmetry and let a model learn an order-dependent task.",
    source="Vaswani et al. 2017; Su et al. 2021 (RoFormer); Lee et al. 2019 (Set Transformer)",
    rule="max |f(Px) - P f(x)| < 1e-5 without positions and > 1e-2 with RoPE and with learned positions; "
    "is-it-sorted accuracy <= 0.6 without positions and >= 0.9 with RoPE",
)
def permutation_equivariance(scale: Scale, seed: int) -> Evidence:
    quick = scale is Scale.QUICK
    length, vocab = 8, 16
    steps = 300 if quick else 2000
    gaps, accuracy, curves = {}, {}, {}
    for position in ("none", "rope", "learned"):
        config = EncoderConfig(vocab_size=vocab, max_seq_len=length, d_model=32 if quick else 64, n_layers=2,
                               n_heads=4, position=position, norm_eps=1e-5)
        torch.manual_seed(seed)
        task = SortednessTask(config, length=length, vocab=vocab, batch_size=64, seed=seed)
        result = _fit(task, steps=steps, lr=3e-3, seed=seed)
        task.model.eval()
        accuracy[position] = next(r["val_accuracy"] for r in reversed(result.history) if "val_accuracy" in r)
        curves[position] = [(r["step"], r["loss"]) for r in result.history if "loss" in r]
        probe = task.held_out()[0][:64]  # (64, L)
        gaps[position] = permutation_gap(task.model.encoder, probe, torch.Generator().manual_seed(seed))
    holds = (gaps["none"] < 1e-5 and gaps["rope"] > 1e-2 and gaps["learned"] > 1e-2
             and accuracy["none"] <= 0.6 and accuracy["rope"] >= 0.9)

    fig, (ax_g, ax_a) = new_figure(1, 2, width=10)
    names = list(gaps)
    ax_g.bar(names, [max(gaps[n], 1e-12) for n in names], color=["tab:gray", "tab:blue", "tab:orange"])
    ax_g.set_yscale("log")
    ax_g.axhline(1e-5, color="red", ls="--", label="1e-5")
    ax_g.axhline(1e-2, color="green", ls=":", label="1e-2")
    ax_g.set(ylabel="max |f(Px) - P f(x)|", title="permutation equivariance of the trained encoders")
    ax_g.legend(fontsize=8)
    for n in names:
        ax_a.plot(*zip(*curves[n]), label=f"{n}: accuracy {accuracy[n]:.2f}")
    ax_a.axhline(math.log(2), color="gray", ls="--", label="chance (ln 2)")
    ax_a.set(xlabel="step", ylabel="training loss (nats)", title="is the sequence sorted?")
    ax_a.legend(fontsize=8)
    return Evidence(
        metrics={"gap_none": gaps["none"], "gap_rope": gaps["rope"], "gap_learned": gaps["learned"],
                 "accuracy_none": accuracy["none"], "accuracy_rope": accuracy["rope"],
                 "accuracy_learned": accuracy["learned"]},
        holds=holds,
        figure=fig,
        key_metric="accuracy_rope",
        details={"length": length, "vocab": vocab, "steps": steps},
    )


@claim(
    "transformer.induction-heads",
    statement="On random tokens repeated twice, a 2-layer attention-only transformer learns in-context copying "
    "(an induction head), while a 1-layer one cannot at the same budget.",
    source="Olsson et al. 2022; Elhage et al. 2021",
    rule="second-repeat loss / first-repeat loss <= 0.3 with 2 layers and >= 0.8 with 1 layer",
    threads=1,
)
def induction_heads(scale: Scale, seed: int) -> Evidence:
    quick = scale is Scale.QUICK
    vocab, window, min_repeat = (16, 32, 4) if quick else (32, 64, 8)
    steps = 600 if quick else 3000
    ratios, losses, curves = {}, {}, {}
    for layers in (1, 2):
        config = LMConfig(vocab_size=vocab, max_seq_len=window, d_model=64, n_layers=layers, n_heads=4,
                          position="rope", mlp="none", bias=False, tie_embeddings=False)
        torch.manual_seed(seed)
        task = RepeatedTokensTask(config, window=window, min_repeat=min_repeat, batch_size=32, seed=seed)
        result = _fit(task, steps=steps, lr=5e-3, seed=seed)
        final = next(r for r in reversed(result.history) if "val_loss_first_repeat" in r)
        losses[layers] = (final["val_loss_first_repeat"], final["val_loss_second_repeat"])
        ratios[layers] = losses[layers][1] / losses[layers][0]
        curves[layers] = [(r["step"], r["loss"]) for r in result.history if "loss" in r]
    holds = ratios[2] <= 0.3 and ratios[1] >= 0.8

    fig, (ax_c, ax_b) = new_figure(1, 2, width=10)
    for layers in (1, 2):
        ax_c.plot(*zip(*curves[layers]), label=f"{layers} layer(s)")
    ax_c.axhline(math.log(vocab), color="gray", ls="--", label=f"ln {vocab}")
    ax_c.set(xlabel="step", ylabel="training loss (nats)", title="attention-only transformers")
    ax_c.legend(fontsize=8)
    x = torch.arange(2)
    ax_b.bar(x - 0.2, [losses[1][0], losses[2][0]], width=0.4, label="first repeat")
    ax_b.bar(x + 0.2, [losses[1][1], losses[2][1]], width=0.4, label="second repeat")
    ax_b.set_xticks(x.tolist(), [f"1 layer (x{ratios[1]:.2f})", f"2 layers (x{ratios[2]:.2f})"])
    ax_b.set(ylabel="validation loss (nats)", title="loss on the second repeat / the first")
    ax_b.legend(fontsize=8)
    return Evidence(
        metrics={"ratio_2_layers": ratios[2], "ratio_1_layer": ratios[1],
                 "loss_first_2_layers": losses[2][0], "loss_second_2_layers": losses[2][1],
                 "loss_first_1_layer": losses[1][0], "loss_second_1_layer": losses[1][1]},
        holds=holds,
        figure=fig,
        details={"vocab": vocab, "window": window, "min_repeat": min_repeat, "steps": steps},
    )


def pair_cosines(encoder: SentenceEncoder, pairs: tuple[tuple[str, str], ...]) -> torch.Tensor:
    """Cosine similarity of each pair's two unit vectors, (n_pairs,)."""
    a = encoder.encode([p[0] for p in pairs])  # (n, D)
    b = encoder.encode([p[1] for p in pairs])
    return torch.nn.functional.cosine_similarity(a, b, dim=-1)


@claim(
    "transformer.pretrained-semantics",
    statement="Pretrained sentence embeddings (all-MiniLM-L6-v2) give paraphrases a higher cosine than unrelated "
    "pairs; the same encoder with random weights does not.",
    source="Reimers and Gurevych 2019 (Sentence-BERT); Wang et al. 2020 (MiniLM)",
    rule=f"ROC AUC of pair cosines (paraphrase vs unrelated, {len(PARAPHRASES) + len(UNRELATED)} built-in pairs) "
    ">= 0.95 with the MiniLM weights and <= 0.75 with a randomly initialised encoder of the same shape",
)
def pretrained_semantics(scale: Scale, seed: int) -> Evidence:
    pretrained = SentenceEncoder.minilm()
    torch.manual_seed(seed)
    random_init = SentenceEncoder(pretrained.config, tokenizer=pretrained.tokenizer).eval()
    scores = {}
    for name, encoder in (("pretrained", pretrained), ("random", random_init)):
        with torch.no_grad():
            scores[name] = (pair_cosines(encoder, PARAPHRASES), pair_cosines(encoder, UNRELATED))
    auc = {name: roc_auc(*s) for name, s in scores.items()}
    holds = auc["pretrained"] >= 0.95 and auc["random"] <= 0.75

    fig, axes = new_figure(1, 2, width=10)
    for ax, name in zip(axes, scores):
        para, unrel = scores[name]
        ax.hist(para.numpy(), bins=15, alpha=0.6, label="paraphrases")
        ax.hist(unrel.numpy(), bins=15, alpha=0.6, label="unrelated")
        ax.set(xlabel="cosine", ylabel="pairs", title=f"{name} weights: AUC {auc[name]:.2f}")
        ax.legend(fontsize=8)
    return Evidence(
        metrics={"auc_pretrained": auc["pretrained"], "auc_random": auc["random"],
                 "mean_cosine_paraphrase": float(scores["pretrained"][0].mean()),
                 "mean_cosine_unrelated": float(scores["pretrained"][1].mean())},
        holds=holds,
        figure=fig,
        details={"pairs": len(PARAPHRASES) + len(UNRELATED)},
    )
