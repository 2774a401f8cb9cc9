from archlab.cli import main
from archlab.reward.preferences import write_preferences
from archlab.reward.text import synthetic_text_preferences
from archlab.train.recipe import all_recipes, samplers


def test_the_reward_target_has_both_backbones_and_a_sampler():
    assert list(all_recipes()["reward"]) == ["lm", "minilm"]
    assert "reward" in samplers()


def test_train_then_score_pairs(tmp_path, capsys):
    import torch

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
