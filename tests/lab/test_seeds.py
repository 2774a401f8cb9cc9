"""The verdict over seeds: every seed by default, k of n when the claim states it, an error when a seed raised."""

import json

import pytest

from archlab.lab.claim import Evidence
from archlab.lab.registry import claim, get_claim
from archlab.lab.seeds import run_claim_seeds, seeds_required, validate_seeds
from archlab.lab.testing import isolated_registry

CALLS: list[int] = []


@pytest.fixture
def seed_claims():
    """Claims whose rule holds exactly at the even seeds, one of them stating a quorum of 2 of 3, and one
    that holds at every seed but raises at seed 1."""
    CALLS.clear()
    with isolated_registry(("demo",)):
        def even(scale, seed):
            CALLS.append(seed)
            return Evidence(metrics={"seed_is_even": seed % 2 == 0, "seed": seed}, holds=seed % 2 == 0,
                            key_metric="seed")

        claim("demo.even-everywhere", statement="s", source="x", rule="seed is even")(even)
        claim("demo.even-quorum", statement="s", source="x", rule="seed is even, at >= 2 of 3 seeds",
              seed_quorum=(2, 3))(even)

        @claim("demo.raises-at-1", statement="s", source="x", rule="holds unless it crashes", seed_quorum=(1, 3))
        def raises_at_1(scale, seed):
            if seed == 1:
                raise RuntimeError("seed one breaks")
            return Evidence(metrics={"value": 1.0}, holds=True)

        yield


@pytest.mark.parametrize(
    "claim_id, seeds, holding, required, holds",
    [
        ("demo.even-everywhere", [0, 2, 4], 3, 3, True),
        ("demo.even-everywhere", [0, 1, 2], 2, 3, False),  # one seed short of every seed
        ("demo.even-everywhere", [1], 0, 1, False),
        ("demo.even-quorum", [0, 1, 2], 2, 2, True),  # 2 of 3 is what the claim states
        ("demo.even-quorum", [1, 2, 3], 1, 2, False),
        ("demo.even-quorum", [0, 1], 1, 2, False),  # at 2 seeds, 2 of 3 rounds up to both
        ("demo.even-quorum", [0, 1, 2, 3, 4, 6], 4, 4, True),
        ("demo.even-quorum", [1, 2, 3, 4, 5, 6], 3, 4, False),
        ("demo.even-quorum", [0], 1, 1, True),  # one seed: it must hold
    ],
)
def test_verdict_over_seeds(seed_claims, claim_id, seeds, holding, required, holds):
    result = run_claim_seeds(claim_id, seeds=seeds)
    assert CALLS == seeds  # each seed ran once, in the order given
    assert [run.seed for run in result.runs] == seeds == result.seeds
    assert [run.holds for run in result.runs] == [s % 2 == 0 for s in seeds]
    assert (result.seeds_holding, result.seeds_required, result.holds) == (holding, required, holds)
    assert result.error is None


def test_a_seed_that_raises_makes_the_verdict_an_error_not_a_hold(seed_claims):
    result = run_claim_seeds("demo.raises-at-1", seeds=[0, 1, 2])
    assert result.seeds_holding == 2 and result.seeds_required == 1  # the quorum alone would be met
    assert result.holds is False
    assert result.error == "seed 1: RuntimeError: seed one breaks"
    assert [run.error for run in result.runs] == [None, "RuntimeError: seed one breaks", None]
    assert run_claim_seeds("demo.raises-at-1", seeds=[0, 2]).holds  # without seed 1 it holds


def test_json_keeps_each_seeds_record(seed_claims, tmp_path):
    result = run_claim_seeds("demo.even-quorum", seeds=[0, 1, 2], out=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "demo.even-quorum.json", "demo.even-quorum.seed0.json", "demo.even-quorum.seed1.json",
        "demo.even-quorum.seed2.json"]
    record = json.loads((tmp_path / "demo.even-quorum.json").read_text())
    assert record["seeds"] == [0, 1, 2] and record["seed_quorum"] == [2, 3]
    assert (record["seeds_holding"], record["seeds_required"], record["holds"]) == (2, 2, True)
    assert record["command"] == "archlab run demo.even-quorum --scale quick --seeds 0,1,2"
    assert [run["metrics"]["seed"] for run in record["runs"]] == [0, 1, 2]
    assert [run["holds"] for run in record["runs"]] == [True, False, True]
    for seed, run in enumerate(record["runs"]):
        assert run["command"] == f"archlab run demo.even-quorum --scale quick --seed {seed}"
        assert run == json.loads((tmp_path / f"demo.even-quorum.seed{seed}.json").read_text())
    assert record == result.to_dict()


def test_one_seed_writes_the_one_seed_record_as_before(seed_claims, tmp_path):
    result = run_claim_seeds("demo.even-everywhere", seeds=[4], out=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["demo.even-everywhere.json"]
    record = json.loads((tmp_path / "demo.even-everywhere.json").read_text())
    assert record["seed"] == 4 and record["holds"] is True and record["metrics"] == {"seed_is_even": True, "seed": 4}
    assert record == result.runs[0].to_dict()
    assert result.command == "archlab run demo.even-everywhere --scale quick --seed 4"


def test_seeds_required_rounds_the_quorum_up():
    assert [seeds_required(None, n) for n in (1, 3, 5)] == [1, 3, 5]
    assert [seeds_required((2, 3), n) for n in (1, 2, 3, 4, 6, 9)] == [1, 2, 2, 3, 4, 6]
    assert [seeds_required((1, 2), n) for n in (1, 2, 3)] == [1, 1, 2]
    assert seeds_required((3, 3), 5) == 5


@pytest.mark.parametrize(
    "seeds, fragment",
    [([], "seeds=[] must name at least one seed"), ([0, 1, 0], "must not repeat a seed; repeated: [0]"),
     ([0, 1.5], "1.5 is a float"), ([True], "True is a bool"), (["2"], "'2' is a str")],
)
def test_bad_seed_lists_raise_naming_field_value_and_rule(seed_claims, seeds, fragment):
    with pytest.raises(ValueError, match="seeds=") as info:
        validate_seeds(seeds)
    assert fragment in str(info.value)
    CALLS.clear()
    with pytest.raises(ValueError):
        run_claim_seeds("demo.even-everywhere", seeds=seeds)
    assert CALLS == []  # nothing ran
    assert validate_seeds(iter([2, -1])) == [2, -1]


@pytest.mark.parametrize("quorum", [(0, 3), (4, 3), (2,), [2, 3], (2.0, 3), (True, 3), 2])
def test_a_bad_seed_quorum_is_refused_at_registration(quorum):
    with isolated_registry(("demo",)):
        rule = r"seed_quorum=.* must be None or a tuple \(k, n\) of ints with 1 <= k <= n"
        with pytest.raises(ValueError, match=rule):
            claim("demo.bad-quorum", statement="s", source="x", rule="r", seed_quorum=quorum)
        with pytest.raises(KeyError):
            get_claim("demo.bad-quorum")
