"""Training recipes of the RNN family for ``archlab train lm --arch lstm|gru``.

The data, config sections and sampling are the generic byte-level ones of ``archlab.train.lm_task``; the
model is ``RNNLM`` and the task is truncated BPTT (``archlab.rnn.tbptt.TBPTTTask``): ``data.context`` is the
truncation length, and the hidden state of each of the ``train.batch_size`` streams carries over from one
step to the next (so a run uses one process: the loop does not shard task state yet).
"""

from __future__ import annotations

from archlab.data.text import BYTE_VOCAB_SIZE
from archlab.errors import UserError
from archlab.rnn.lm import RNNLM, gru_config, lstm_config
from archlab.rnn.tbptt import TBPTTTask
from archlab.train.config import RunConfig
from archlab.train.lm_task import LMRecipe, load_text


class RNNLMRecipe(LMRecipe):
    """``LMRecipe`` whose task carries the hidden state across chunks (truncated BPTT)."""

    def build_task(self, config: RunConfig) -> TBPTTTask:
        """The model (initialised from torch's global RNG: seed first) and data of ``config``."""
        model_cfg, train = config.model, config.train
        if model_cfg.vocab_size < BYTE_VOCAB_SIZE:
            raise ValueError(f"model.vocab_size={model_cfg.vocab_size} must be >= {BYTE_VOCAB_SIZE} for byte-level text")
        data = load_text(config.data)
        for split in ("train", "val"):
            if (data.split(split).numel() - 1) // train.batch_size < config.data.context:
                raise UserError(f"the {split} split of {data.name or 'the corpus'} has {data.split(split).numel()} "
                                f"bytes, too few for train.batch_size={train.batch_size} streams of "
                                f"data.context={config.data.context}; use more text or smaller values")
        return TBPTTTask(RNNLM(model_cfg), data, batch_size=train.batch_size, context=config.data.context,
                         seed=train.seed, eval_batches=train.eval_batches)


DEFAULTS = dict(d_model=128, hidden_size=256, n_layers=2)

# The family's training targets (``archlab.train.recipe``): {target: {arch: recipe}}.
RECIPES = {"lm": {"lstm": RNNLMRecipe("lstm", RNNLM, lstm_config, dict(DEFAULTS)),
                  "gru": RNNLMRecipe("gru", RNNLM, gru_config, dict(DEFAULTS))}}
