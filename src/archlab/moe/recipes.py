"""Training recipe of the MoE family for ``archlab train lm --arch moe``: ``MoELM`` (8 experts, top-2,
Switch balancing loss, an MoE feed-forward in every other block) with the generic byte-level task of
``archlab.train.lm_task``."""

from __future__ import annotations

from archlab.moe.lm import MoELM, MoELMConfig
from archlab.train.lm_task import LMRecipe


def moe_recipe() -> LMRecipe:
    defaults = dict(d_model=128, n_layers=4, n_heads=4, max_seq_len=256, n_experts=8, top_k=2, moe_every=2)
    return LMRecipe("moe", MoELM, MoELMConfig, defaults)


# The family's training targets (``archlab.train.recipe``): {target: {arch: recipe}}.
RECIPES = {"lm": {"moe": moe_recipe()}}
