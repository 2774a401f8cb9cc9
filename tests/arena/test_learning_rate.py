import dataclasses
import json
import math

import pytest

from archlab.arena import learning_rate, report
from archlab.arena import run as arena_run
from archlab.arena.learning_rate import pick, recorded_lr
from archlab.arena.run import BUDGETS, ArenaConfig, Budget, run_arch, swept
from archlab.cli import main
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
    assert set(learning_rate.RECORDED) == set(all_recipes()["lm"])  # the quick sweep covered every architecture
    monkeypatch.delitem(learning_rate.RECORDED, "gru")
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


def test_swept_sweeps_at_the_budgets_own_sizes():
    quick = BUDGETS["quick"]
    sweep = swept(quick)
    assert sweep.lr_grid == (3e-4, 1e-3, 3e-3) and sweep.lr_edge == (1e-2,) and sweep.sweep_steps == quick.steps
    assert dataclasses.replace(sweep, lr_grid=(), lr_edge=(), sweep_steps=0) == quick
    assert swept(BUDGETS["full"]) == BUDGETS["full"]  # full sweeps its own grid already
    with pytest.raises(ValueError, match="lr_edge"):
        Budget(**{**SWEEP.__dict__, "lr_edge": (1e-3,)})  # not above the grid's top


def test_edge_rate_only_when_the_top_rate_wins_and_seed_0_reuses_the_sweep(tmp_path, text):
    at_steps = {**SWEEP.__dict__, "sweep_steps": SWEEP.steps}
    config = ArenaConfig(archs=("gru",), budget=Budget(**{**at_steps, "lr_edge": (1e-2,)}), data=text)
    record = run_arch("gru", config, tmp_path / "edge")
    assert record["lr_sweep"]["0.003"] < record["lr_sweep"]["1e-05"]  # the top of the grid won, so 1e-2 ran
    assert list(record["lr_sweep"]) == ["1e-05", "0.003", "0.01"]
    assert record["val_bpb"] == record["lr_sweep"][f"{record['lr']:g}"]  # seed 0 is the sweep's run at that rate
    assert not (tmp_path / "edge" / "train").exists()
    config = ArenaConfig(archs=("gru",), budget=Budget(**{**at_steps, "lr_grid": (1e-5, 3e-3, 30.0),
                                                          "lr_edge": (100.0,)}), data=text)
    record = run_arch("gru", config, tmp_path / "inner")
    assert record["lr"] == 3e-3 and list(record["lr_sweep"]) == ["1e-05", "0.003", "30"]  # 30 lost: no edge


def test_sweep_flag(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(arena_run, "run_arena", lambda config, out: seen.append(config.budget) or [])
    monkeypatch.setattr(report, "write_report", lambda records, settings, out: out / "index.html")
    assert main(["arena", "lm", "--budget", "quick", "--sweep", "--archs", "gru", "--out", str(tmp_path)]) == 0
    assert main(["arena", "lm", "--budget", "quick", "--archs", "gru", "--out", str(tmp_path)]) == 0
    assert seen == [swept(BUDGETS["quick"]), BUDGETS["quick"]]
