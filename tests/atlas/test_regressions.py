import json

import pytest

from archlab.atlas import run_atlas
from archlab.atlas.regressions import moved
from archlab.cli import main
from archlab.lab.claim import Evidence
from archlab.lab.registry import claim
from archlab.lab.testing import isolated_registry


def _register(value: float, holds: bool) -> None:
    """Three demo claims: ``demo.kept`` always holds at value 1; ``demo.moving`` measures ``value`` and holds as
    told; ``extra.other`` holds."""
    @claim("demo.kept", statement="kept", source="s", rule="always")
    def kept(scale, seed):
        return Evidence(metrics={"value": 1.0}, holds=True)

    @claim("demo.moving", statement="moving", source="s", rule="as told")
    def moving(scale, seed):
        return Evidence(metrics={"value": value, "other": seed}, holds=holds, key_metric="value")

    @claim("extra.other", statement="other", source="s", rule="always")
    def other(scale, seed):
        return Evidence(metrics={"value": 2.0}, holds=True)


def _run(tmp_path, value, holds, **options):
    with isolated_registry(("demo", "extra")):
        _register(value, holds)
        return run_atlas(out=tmp_path, **options)


def test_a_claim_that_stops_holding_is_marked_with_old_and_new_values(tmp_path, atlas_folder_ok):
    first = _run(tmp_path, 1.0, True)
    assert first.changes == [] and first.broken == []
    second = _run(tmp_path, 1.5, False)
    [change] = second.changes
    assert change.id == "demo.moving" and change.broken
    assert (change.old_verdict, change.new_verdict) == ("holds", "does not hold")
    assert [(m.seed, m.old, m.new) for m in change.moves] == [(0, 1.0, 1.5)]
    page = (tmp_path / "demo.html").read_text()
    assert "Changed since the last run:</strong> verdict holds &rarr; does not hold; value at seed 0: 1 &rarr; 1.5" in page
    assert page.count("Changed since the last run") == 1  # demo.kept did not change
    assert "demo.moving</a>: verdict holds &rarr; does not hold" in (tmp_path / "index.html").read_text()
    record = json.loads((tmp_path / "results.json").read_text())["changes"]
    assert record == [{"id": "demo.moving", "old_verdict": "holds", "new_verdict": "does not hold", "metric": "value",
                       "moves": [{"seed": 0, "old": 1.0, "new": 1.5}], "broken": True}]
    atlas_folder_ok(tmp_path)


def test_a_metric_move_within_ten_percent_is_not_marked_and_a_larger_one_is(tmp_path):
    _run(tmp_path, 1.0, True)
    assert _run(tmp_path, 1.09, True).changes == []
    [change] = _run(tmp_path, 0.9, True).changes  # 1.09 -> 0.9 is 17% down, verdict unchanged
    assert not change.broken and not change.verdict_changed and change.moves[0].new == 0.9
    assert _run(tmp_path, 0.9, False).broken  # held, now does not


def test_moved():
    assert not moved(1.0, 1.09) and moved(1.0, 1.11) and moved(-2.0, -1.7) and not moved(-2.0, -1.9)
    assert moved(0, 1e-9) and not moved(0, 0) and moved(True, False) and not moved("NaN", "NaN")


def test_a_partial_run_merges_with_the_earlier_atlas(tmp_path, atlas_folder_ok):
    _run(tmp_path, 1.0, True, seeds=[0])
    atlas = _run(tmp_path, 5.0, True, claim_ids=["demo.moving"], seeds=[0])
    assert [r.id for r in atlas.ran] == ["demo.moving"]
    assert [r.id for r in atlas.results] == ["demo.kept", "demo.moving", "extra.other"]
    data = json.loads((tmp_path / "results.json").read_text())
    assert [e["id"] for e in data["claims"]] == ["demo.kept", "demo.moving", "extra.other"]
    assert next(e for e in data["claims"] if e["id"] == "demo.moving")["runs"][0]["metrics"]["value"] == 5.0
    assert next(e for e in data["claims"] if e["id"] == "extra.other")["runs"][0]["metrics"]["value"] == 2.0
    assert (tmp_path / "extra.html").is_file() and "extra.other" in (tmp_path / "index.html").read_text()
    only = _run(tmp_path, 5.0, True, families=["extra"])
    assert [r.id for r in only.results] == ["demo.kept", "demo.moving", "extra.other"]
    full = _run(tmp_path, 5.0, True)  # a full run replaces what is there
    assert [r.id for r in full.results] == [r.id for r in full.ran]
    atlas_folder_ok(tmp_path)


def test_results_json_that_is_not_an_atlas_is_refused_before_running(tmp_path):
    (tmp_path / "results.json").write_text('{"something": 1}')
    with pytest.raises(ValueError, match="is not the results.json of an atlas"):
        _run(tmp_path, 1.0, True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_cli_exits_1_naming_the_claims_that_no_longer_hold(tmp_path, capsys):
    with isolated_registry(("demo", "extra")):
        _register(1.0, True)
        assert main(["atlas", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    with isolated_registry(("demo", "extra")):
        _register(1.0, False)
        assert main(["atlas", "--claims", "demo.moving", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "regression: no longer hold: demo.moving" in out
    assert "[1/1] demo.moving" in out and "demo.kept" not in out.split("regression")[0].split("[1/1]")[0]
    assert "claim time" in out and "/ 20 min budget" in out
