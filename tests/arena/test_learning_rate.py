import json
import math

import pytest

from archlab.arena import learning_rate
from archlab.arena.learning_rate import pick, recorded_lr
from archlab.arena.run import ArenaConfig, Budget, run_arch
from archlab.train.recipe import all_recipes

SWEEP = Budget("sweep", target=60_000, steps=2, batch_size=2, context=16, prefill_context=16,
               decode_contexts=(8, 16), decode_tokens=1, eval_batches=1, max_bytes=0, recall_steps=1,
               recall_batch_size=3, lr_grid=(1e-5, 3e-3), sweep_steps=3)


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("a stitch in time saves nine; " * 80)
    return str(path)


def test_pick_lowest_bpb_and_never_a_diverged_run():
    assert pick({3e-4: 2.5, 1e-3: 2.1, 3e-3: 2.3}) == 1e-3
    assert pick({3e-4: 2.5, 1e-3: math.nan, 3e-3: 2.6}) == 3e-4
    with pytest.raises(ValueError, match="val_bpb"):
        pick({})


def test_recorded_lr_else_recipe_default(monkeypatch):
    recipe = all_recipes()["lm"]["gru"]
    assert recorded_lr("gru", recipe) == (recipe.default_config().optim.lr, "recipe default")
    monkeypatch.setitem(learning_rate.RECORDED, "gru", 4e-3)
    assert recorded_lr("gru", recipe) == (4e-3, "recorded sweep")


def test_budget_refuses_a_grid_without_steps():
    with pytest.raises(ValueError, match="sweep_steps"):
        Budget(**{**SWEEP.__dict__, "sweep_steps": 0})
    with pytest.raises(ValueError, match="lr_grid"):
        Budget(**{**SWEEP.__dict__, "lr_grid": (1e-3, -1.0)})


def test_sweep_trains_each_rate_and_the_real_run_uses_the_best(tmp_path, text):
    config = ArenaConfig(archs=("gru",), budget=SWEEP, data=text)
    record = run_arch("gru", config, tmp_path)
    assert record["lr_source"] == "sweep" and set(record["lr_sweep"]) == {"1e-05", "0.003"}
    bpb = record["lr_sweep"]
    assert bpb["0.003"] < bpb["1e-05"]  # 1e-5 barely moves from the initial loss in 3 steps
    assert record["lr"] == 3e-3
    for lr in ("1e-05", "0.003"):
        swept = json.loads((tmp_path / "sweep" / "gru" / f"lr-{lr}" / "run_config.json").read_text())
        assert swept["optim"]["lr"] == float(lr) and swept["train"]["steps"] == 3
    final = json.loads((tmp_path / "train" / "gru" / "seed-0" / "run_config.json").read_text())
    assert final["optim"]["lr"] == 3e-3 and final["train"]["steps"] == 2


def test_quick_takes_the_recorded_rate(tmp_path, text, monkeypatch):
    monkeypatch.setitem(learning_rate.RECORDED, "gru", 2e-3)
    config = ArenaConfig(archs=("gru",), budget=Budget(**{**SWEEP.__dict__, "lr_grid": (), "sweep_steps": 0}),
                         data=text)
    record = run_arch("gru", config, tmp_path)
    assert (record["lr"], record["lr_source"]) == (2e-3, "recorded sweep") and "lr_sweep" not in record
    assert not (tmp_path / "sweep").exists()
    final = json.loads((tmp_path / "train" / "gru" / "seed-0" / "run_config.json").read_text())
    assert final["optim"]["lr"] == 2e-3
