"""Training recipes of the transformer family for ``archlab train lm --arch gpt2|llama``.

The task, data and sampling are the generic byte-level ones of ``archlab.train.lm_task``; this file picks
the model: ``DecoderLM`` in its GPT-2 or Llama preset.
"""

from __future__ import annotations

from archlab.errors import UserError
from archlab.train.lm_task import LMRecipe
from archlab.transformer.lm import PRESETS, DecoderLM


def lm_recipe(arch: str) -> LMRecipe:
    """The recipe of a transformer preset: ``"gpt2"`` or ``"llama"``."""
    if arch not in PRESETS:
        raise UserError(f"--arch {arch!r} is not a transformer preset; choose one of {', '.join(PRESETS)}")
    return LMRecipe(arch, DecoderLM, PRESETS[arch])


# The family's training targets (``archlab.train.recipe``): {target: {arch: recipe}}.
RECIPES = {"lm": {arch: lm_recipe(arch) for arch in PRESETS}}
