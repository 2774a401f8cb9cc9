import pytest
import torch
from torch import nn

from archlab.arena.matching import TOLERANCE, count_parameters, match_size
from archlab.train.recipe import all_recipes

RECIPES = all_recipes()["lm"]


@pytest.mark.parametrize("arch", sorted(RECIPES))
def test_match_within_tolerance_at_three_sizes(arch):
    for target in (400_000, 1_000_000, 3_000_000):
        match = match_size(arch, RECIPES[arch], target)
        assert abs(match.count.matched / target - 1) <= TOLERANCE, (arch, target, match.count)
        assert match.config.d_model == match.d_model
        assert match.count.total > match.count.non_embedding >= match.count.matched


def test_moe_matched_on_active_parameters():
    match = match_size("moe", RECIPES["moe"], 1_000_000)
    assert match.config.d_ff is None or match.config.d_ff % 8 == 0  # a fitted d_ff is taken as set, in 8s
    assert match.count.non_embedding > 1.5 * match.count.matched  # 8 experts, 2 active


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.config = type("C", (), {"vocab_size": 10})()
        self.emb = nn.Embedding(10, 4)
        self.blocks = nn.ModuleList([nn.Linear(4, 10)])  # a block layer as wide as the vocabulary: not the head
        self.head = nn.Linear(10, 10, bias=False)


def test_count_excludes_embedding_and_head_only():
    count = count_parameters(_Toy())
    assert count.total == 40 + 50 + 100
    assert count.non_embedding == count.matched == 50
