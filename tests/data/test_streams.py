"""The randomness scheme: per-(seed, stream, step) generators and the one global seeding, with one seed rule."""

import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from archlab.data.streams import reduce_seed, seed_everything, step_generator, stream_seed


def draw(seed, stream, step) -> torch.Tensor:
    return torch.randint(0, 2**31, (8,), generator=step_generator(seed, stream, step))


def test_same_arguments_give_the_same_draws_whatever_was_drawn_before():
    first = draw(3, "train", 17)
    torch.rand(100)  # the global generator must not matter
    for step in range(5):
        draw(3, "train", step)
    assert torch.equal(first, draw(3, "train", 17))


@pytest.mark.parametrize("other", [(4, "train", 17), (3, "eval", 17), (3, "train", 18), (-3, "train", 17)])
def test_another_seed_stream_or_step_gives_other_draws(other):
    assert not torch.equal(draw(3, "train", 17), draw(*other))


def test_the_hash_is_stable_across_processes():
    """Python's ``hash`` of a string changes per process; the stream seed must not."""
    code = "from archlab.data.streams import stream_seed; print(stream_seed(5, 'train', 9))"
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": str(salt)}).stdout.strip() for salt in (1, 2)}
    assert outputs == {str(stream_seed(5, "train", 9))}


def test_negative_and_huge_seeds_reduce_modulo_two_to_the_64():
    assert reduce_seed(-1) == 2**64 - 1
    assert reduce_seed(2**64 + 5) == 5
    assert torch.equal(draw(-1, "train", 0), draw(2**64 - 1, "train", 0))
    assert not torch.equal(draw(-1, "train", 0), draw(1, "train", 0))


@pytest.mark.parametrize("seed", [True, 1.5, "0", None])
def test_a_seed_that_is_not_an_integer_is_refused(seed):
    with pytest.raises(ValueError, match="seed="):
        reduce_seed(seed)


@pytest.mark.parametrize("stream,step", [("", 0), ("a:b", 0), (3, 0), ("train", -1), ("train", 1.0)])
def test_bad_streams_and_steps_are_refused(stream, step):
    with pytest.raises(ValueError, match="stream=|step="):
        step_generator(0, stream, step)


def state_after(seed) -> tuple:
    seed_everything(seed)
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_seed_everything_repeats_and_accepts_any_integer():
    assert state_after(7) == state_after(7)
    assert state_after(7) != state_after(8)
    assert state_after(-1) == state_after(2**64 - 1)
    assert state_after(-1) != state_after(1)  # Python's random.seed alone would fold -1 onto 1
    seed_everything(-1)
    assert torch.initial_seed() == 2**64 - 1


def test_the_claim_runner_and_the_trainer_seed_with_the_same_function():
    from archlab.lab import runner
    from archlab.train import checkpoint  # `archlab train` seeds through checkpoint.seed_everything

    assert runner.seed_everything is seed_everything
    assert checkpoint.seed_everything is seed_everything
