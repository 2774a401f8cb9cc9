"""One ``--seed`` rule for every command: any integer, taken modulo 2**64; anything else exits 2 naming --seed."""

from __future__ import annotations

import pytest

from archlab.cli import build_parser, main
from archlab.data.streams import reduce_seed
from archlab.seed_option import seed_option


def test_seed_option_reduces_as_training_does():
    for value in (-1, 0, 7, 2**64, 2**70 + 3):
        assert seed_option(str(value)) == reduce_seed(value)


@pytest.mark.parametrize("command", [["run", "demo.noise-mean"], ["atlas"], ["train", "lm"],
                                     ["sample", "lm", "--ckpt", "x", "--prompt", "a"]])
def test_every_command_takes_any_integer_seed_and_refuses_the_rest_naming_seed(command, capsys):
    parser = build_parser(command[0])
    assert parser.parse_args([*command, "--seed", str(2**70 + 3)]).seed == 3
    assert parser.parse_args([*command, "--seed", "-1"]).seed == 2**64 - 1
    with pytest.raises(SystemExit) as info:
        main([*command, "--seed", "1.5"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and "--seed" in err and "'1.5' must be an integer" in err

