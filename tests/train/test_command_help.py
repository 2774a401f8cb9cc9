"""``archlab train TARGET --print-config`` and the help text of ``archlab sample``."""

from __future__ import annotations

import argparse
import io
import logging

from archlab.cli import build_parser, main
from archlab.train.overrides import valid_keys
from archlab.train.recipe import all_recipes, samplers


def _target_parsers(command: str) -> dict[str, argparse.ArgumentParser]:
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_every_option_of_sample_says_what_it_does_and_its_default():
    parsers = _target_parsers("sample")
    assert set(parsers) == set(samplers())
    for target, parser in parsers.items():
        for action in parser._actions:
            if action.option_strings and not action.required and not isinstance(action, argparse._HelpAction):
                assert action.help and "default" in action.help.lower(), (target, action.option_strings)


def test_print_config_prints_every_set_key_with_its_default_and_the_changes(tmp_path, capsys):
    (tmp_path / "c.txt").write_text("text\n" * 40)
    assert main(["train", "lm", "--data", str(tmp_path / "c.txt"), "--steps", "7", "--set", "optim.lr=0.002",
                 "--print-config"]) == 0
    lines = capsys.readouterr().out.splitlines()
    config = all_recipes()["lm"]["gpt2"].default_config()
    assert [line.split("=", 1)[0] for line in lines] == valid_keys(config)
    assert "train.steps=7" in lines and "optim.lr=0.002" in lines
    assert f"train.batch_size={config.train.batch_size}" in lines  # a default


def test_log_lines_and_the_progress_bar_share_one_console(monkeypatch):
    from rich.console import Console
    from rich.logging import RichHandler

    from archlab.train import progress
    from archlab.train.command import _setup_logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    _setup_logging(0)
    (handler,) = root.handlers
    assert isinstance(handler, RichHandler) and handler.console is progress.stderr_console()
    terminal = Console(file=io.StringIO(), force_terminal=True)
    monkeypatch.setattr(progress, "stderr_console", lambda: terminal)
    bar = progress.ProgressBar(3)
    try:
        assert bar._progress.console is terminal  # the bar draws on the console the log lines print through
    finally:
        bar.close()
