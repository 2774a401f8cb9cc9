import pytest
import torch
from torch import nn

from archlab.core.io import load_pretrained
from archlab.core.outputs import BaseModelOutput
from archlab.reward.features import FeatureReward, FeatureRewardConfig
from archlab.reward.model import RewardConfig, RewardModel, last_token_index, mean_pool


class Echo(nn.Module):
    """A backbone whose hidden state at position t is (id_t, t): shows which token the head read."""

    def forward(self, input_ids, attention_mask=None):
        positions = torch.arange(input_ids.shape[1]).expand_as(input_ids)
        return BaseModelOutput(torch.stack([input_ids.float(), positions.float()], dim=-1))  # (B, L, 2)


def test_last_token_by_mask_and_by_pad_id():
    ids = torch.tensor([[5, 6, 7, 0], [5, 0, 0, 0], [0, 5, 6, 0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 0]])
    assert last_token_index(ids, mask, None).tolist() == [2, 0, 2]
    assert last_token_index(ids, None, 0).tolist() == [2, 0, 2]
    assert last_token_index(ids, None, None).tolist() == [3, 3, 3]
    assert last_token_index(torch.zeros(1, 3, dtype=torch.long), None, 0).tolist() == [0]  # all padding


def test_the_head_reads_the_last_real_token_or_the_masked_mean():
    ids = torch.tensor([[5, 6, 7, 0], [9, 0, 0, 0]])
    mask = (ids != 0).long()
    last = RewardModel(Echo(), 2, pooling="last")
    torch.testing.assert_close(last.features(ids, mask), torch.tensor([[7.0, 2.0], [9.0, 0.0]]))
    pooled = RewardModel(Echo(), 2, pooling="pooled")
    torch.testing.assert_close(pooled.features(ids, mask), torch.tensor([[6.0, 1.0], [9.0, 0.0]]))
    torch.testing.assert_close(mean_pool(torch.ones(1, 3, 2), None), torch.ones(1, 2))
    with torch.no_grad():
        last.score.weight.copy_(torch.tensor([[1.0, 10.0]]))
    torch.testing.assert_close(last(ids, mask), torch.tensor([27.0, 9.0]))


def test_config_is_validated():
    with pytest.raises(ValueError, match="pooling='cls' is not one of"):
        RewardModel(Echo(), 2, pooling="cls")
    with pytest.raises(ValueError, match="d_model=0 must be >= 1"):
        RewardConfig(backbone_class="archlab.x:Y", backbone=None, d_model=0)


def test_save_and_load_rebuild_the_backbone(tmp_path):
    transformers = pytest.importorskip("transformers")
    from archlab.interop import from_transformers

    torch.manual_seed(0)
    reference = transformers.LlamaModel(transformers.LlamaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2))
    model = RewardModel(from_transformers(reference), 16, pad_token_id=3)
    model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path)
    assert isinstance(loaded, RewardModel) and loaded.config == model.config
    ids = torch.randint(4, 50, (2, 6))
    torch.testing.assert_close(loaded(ids), model(ids))


def test_feature_reward_shapes_and_save(tmp_path):
    torch.manual_seed(0)
    model = FeatureReward(FeatureRewardConfig(in_features=3, hidden=8, n_layers=2))
    x = torch.randn(5, 3)
    assert model(x).shape == (5,)
    assert sum(p.numel() for p in model.parameters()) == 3 * 8 + 8 + 8 * 8 + 8 + 8 + 1
    model.save_pretrained(tmp_path)
    torch.testing.assert_close(load_pretrained(tmp_path)(x), model(x))
    with pytest.raises(ValueError, match=r"must be \(B, 3\)"):
        model(torch.zeros(5, 4))
