import json
import logging
from html.parser import HTMLParser

import pytest

from archlab.arena import learning_rate
from archlab.arena import run as arena_run
from archlab.arena.report import columns, pareto_front, write_report
from archlab.arena.run import ArenaConfig, Budget, run_arena
from archlab.cli import main
from archlab.errors import UserError

TINY = Budget("tiny", target=60_000, steps=3, batch_size=2, context=16, prefill_context=32,
              decode_contexts=(8, 32), decode_tokens=2, eval_batches=1, max_bytes=0, recall_steps=2,
              recall_batch_size=3)


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 60)
    return str(path)


class _Table(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self.cell)
            self.cell = None


def test_tiny_arena_end_to_end(tmp_path, text, caplog):
    caplog.set_level(logging.INFO, logger="archlab.arena")
    config = ArenaConfig(archs=("gpt2", "mamba", "linear", "lstm"), budget=TINY, data=text)
    records = run_arena(config, tmp_path / "out")
    write_report(records, config.settings(), tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "results.json").read_text())["records"]
    assert [r["arch"] for r in saved] == ["gpt2", "mamba", "linear", "lstm"]
    keys = columns(saved)
    assert {"lr", "lr_source", "recall@4", "recall@8", "recall@16"} <= set(keys)
    for record in saved:
        assert all(record.get(k) not in (None, "") for k in keys), record
        assert 0 < record["val_bpb"] < 9  # bytes: 8 bits is uniform
        assert all(0 <= record[f"recall@{k}"] <= 1 for k in (4, 8, 16))
        assert record["lr_source"] == "recorded sweep" and "lr_sweep" not in record  # TINY sweeps nothing
        assert record["lr"] == learning_rate.RECORDED[record["arch"]]
    by_arch = {r["arch"]: r for r in saved}
    assert by_arch["gpt2"]["state_bytes@32"] > by_arch["gpt2"]["state_bytes@8"]  # a KV cache grows
    assert by_arch["mamba"]["state_bytes@32"] == by_arch["mamba"]["state_bytes@8"]  # a recurrent state does not
    assert by_arch["linear"]["state_bytes@32"] == by_arch["linear"]["state_bytes@8"]
    table = _Table()
    table.feed((tmp_path / "out" / "index.html").read_text())
    assert table.rows[0] == keys and len(table.rows) == 5 and all(len(r) == len(keys) for r in table.rows)
    assert (tmp_path / "out" / "bpb_vs_time.png").stat().st_size > 0
    assert (tmp_path / "out" / "memory_vs_context.png").stat().st_size > 0
    assert any(m.startswith("arena lstm seed 0 step 3/3 loss ") and " eta " in m for m in caplog.messages)


def test_resume_skips_finished_and_refuses_changed(tmp_path, text, monkeypatch):
    config = ArenaConfig(archs=("gru", "llama"), budget=TINY, data=text)
    trained = []
    real = arena_run.run_arch

    def interrupted(arch, cfg, out):
        if arch == "llama":
            raise KeyboardInterrupt
        trained.append(arch)
        return real(arch, cfg, out)

    monkeypatch.setattr(arena_run, "run_arch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_arena(config, tmp_path)
    assert (tmp_path / "records" / "gru.json").exists() and not (tmp_path / "records" / "llama.json").exists()
    stub = {"val_bpb": 1.0, "train_tokens_per_s": 1.0}
    monkeypatch.setattr(arena_run, "run_arch", lambda arch, cfg, out: trained.append(arch) or {"arch": arch, **stub})
    records = run_arena(config, tmp_path)
    assert trained == ["gru", "llama"] and [r["arch"] for r in records] == ["gru", "llama"]
    changed = ArenaConfig(archs=("gru",), budget=Budget(**{**TINY.__dict__, "steps": 4}), data=text)
    with pytest.raises(UserError, match="budget.steps"):
        run_arena(changed, tmp_path)


def test_pareto_front():
    assert pareto_front([(1, 3), (2, 2), (3, 3), (2, 1)]) == [0, 3]


@pytest.mark.parametrize("argv", [["arena", "lm", "--out", "X", "--budget", "huge"],
                                  ["arena", "lm", "--out", "X", "--archs", "gpt2,nosuch"],
                                  ["arena", "lm", "--out", "X", "--seeds", "0"],
                                  ["arena", "lm", "--out", "X", "--data", "/no/such/file"]])
def test_bad_arguments_exit_2_with_one_line(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) if "huge" in argv else _no_raise():
        assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error" in err
    assert not (tmp_path / "X" / "records").exists()


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_recall_trains_at_the_budgets_recall_rate_not_the_architectures(tmp_path, text, monkeypatch):
    seen = []

    def train_recall(model, run, *, steps, batch_size, seed):
        seen.append((run.optim.lr, steps, batch_size))
        return {f"recall@{k}": 0.0 for k in (4, 8, 16)}

    monkeypatch.setattr(arena_run.recall, "train_recall", train_recall)
    monkeypatch.setitem(learning_rate.RECORDED, "gru", 4e-3)
    budget = Budget(**{**TINY.__dict__, "recall_lr": 2e-4})
    [record] = run_arena(ArenaConfig(archs=("gru",), budget=budget, data=text), tmp_path)
    assert record["lr"] == 4e-3 and seen == [(2e-4, TINY.recall_steps, TINY.recall_batch_size)]
    assert record["recall@4"] == 0.0
    with pytest.raises(ValueError, match="recall_lr"):
        Budget(**{**TINY.__dict__, "recall_lr": 0.0})


def test_recall_runs_two_at_a_time_after_training_and_resumes_alone(tmp_path, text, monkeypatch):
    config = ArenaConfig(archs=("gru", "lstm", "llama"), budget=TINY, data=text)
    stub = {"val_bpb": 1.0, "train_tokens_per_s": 1.0}
    events = []
    monkeypatch.setattr(arena_run, "run_arch", lambda arch, cfg, out: events.append(("train", arch)) or
                        {"arch": arch, **stub})
    calls = []

    def side_by_side(*jobs, at_once):
        calls.append((len(jobs), at_once))
        jobs[0]()
        jobs[1]()
        raise KeyboardInterrupt  # interrupted before the third recall

    def train_recall(model, run, *, steps, batch_size, seed):
        events.append(("recall", type(model).__name__))
        return {f"recall@{k}": 0.5 for k in (4, 8, 16)}

    monkeypatch.setattr(arena_run, "side_by_side", side_by_side)
    monkeypatch.setattr(arena_run.recall, "train_recall", train_recall)
    with pytest.raises(KeyboardInterrupt):
        run_arena(config, tmp_path)
    # every architecture trained and measured first, then all three recalls handed over, two at a time
    assert events == [("train", "gru"), ("train", "lstm"), ("train", "llama"), ("recall", "RNNLM"),
                      ("recall", "RNNLM")]
    assert calls == [(3, arena_run.RECALL_AT_ONCE)] and arena_run.RECALL_AT_ONCE == 2
    saved = {a: json.loads((tmp_path / "records" / f"{a}.json").read_text())["record"] for a in config.archs}
    assert saved["gru"]["recall@8"] == saved["lstm"]["recall@8"] == 0.5 and "recall@8" not in saved["llama"]
    events.clear()
    calls.clear()
    monkeypatch.setattr(arena_run, "side_by_side", lambda *jobs, at_once: calls.append(len(jobs)) or
                        [job() for job in jobs])
    records = run_arena(config, tmp_path)  # trains nothing again; only llama's recall is left
    assert events == [("recall", "DecoderLM")] and calls == [1]
    assert [r["recall@16"] for r in records] == [0.5, 0.5, 0.5]
