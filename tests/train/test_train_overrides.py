"""``--set`` overrides: parsing by field type, unknown keys, bad values, and config validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import pytest

from archlab.errors import UserError
from archlab.train.config import OptimConfig, RunConfig, TrainConfig
from archlab.train.overrides import apply_overrides, parse_value, valid_keys
from archlab.transformer.lm import gpt2_config
from archlab.train.lm_task import TextDataConfig


def lm_run() -> RunConfig:
    return RunConfig(model=gpt2_config(d_model=64, n_heads=4), data=TextDataConfig())


def test_values_are_parsed_by_field_type():
    config = apply_overrides(lm_run(), [
        "model.n_layers=3", "optim.lr=3e-4", "model.tie_embeddings=false", "train.precision=bf16",
        "data.path=/some/where", "model.n_kv_heads=2", "optim.betas=0.8,0.99", "train.progress=no",
    ])
    assert config.model.n_layers == 3 and isinstance(config.model.n_layers, int)
    assert config.optim.lr == 3e-4
    assert config.model.tie_embeddings is False
    assert config.train.precision == "bf16"
    assert config.data.path == "/some/where"
    assert config.model.n_kv_heads == 2
    assert config.optim.betas == (0.8, 0.99)
    assert config.train.progress is False
    assert apply_overrides(config, ["model.n_kv_heads=none"]).model.n_kv_heads is None
    assert apply_overrides(config, ["data.path=null"]).data.path is None


def test_the_original_is_untouched_and_last_value_wins():
    original = lm_run()
    changed = apply_overrides(original, ["train.steps=5", "train.steps=7"])
    assert changed.train.steps == 7 and original.train.steps == TrainConfig().steps


def test_overrides_of_one_section_are_validated_together():
    # d_model=96 is not divisible by n_heads=8 alone, nor n_heads=6 by the default d_model: together they are fine
    config = apply_overrides(RunConfig(model=gpt2_config(d_model=64, n_heads=8)),
                             ["model.d_model=96", "model.n_heads=6"])
    assert (config.model.d_model, config.model.n_heads) == (96, 6)


def test_unknown_key_lists_the_valid_keys_of_its_section():
    with pytest.raises(UserError) as info:
        apply_overrides(lm_run(), ["optim.learning_rate=1e-3"])
    message = str(info.value)
    assert "'optim.learning_rate'" in message
    for key in ("optim.lr", "optim.weight_decay", "optim.warmup_steps", "optim.grad_clip"):
        assert key in message
    assert "\n" not in message


def test_unknown_section_lists_the_top_level_keys():
    with pytest.raises(UserError, match=r"unknown key 'optimizer'.*optim\.lr"):
        apply_overrides(lm_run(), ["optimizer.lr=1"])


@pytest.mark.parametrize("override, pattern", [
    ("train.steps=ten", r"'ten' is not an integer"),
    ("optim.lr=fast", r"'fast' is not a number"),
    ("model.tie_embeddings=maybe", r"not a boolean"),
    ("train.precision=fp16", r"not one of 'auto', 'fp32', 'bf16'"),
    ("optim.betas=0.9", r"2 comma-separated values"),
    ("optim.lr=-1", r"lr=-1.0 must be > 0"),
    ("model.d_model=102", r"d_model=102 must be divisible by n_heads=4"),
    ("train.steps", r"section.key=value"),
    ("model=3", r"'model' is a section"),
    ("optim.lr.x=1", r"is a value, not a section"),
])
def test_bad_values_raise_user_errors(override, pattern):
    with pytest.raises(UserError, match=pattern):
        apply_overrides(lm_run(), [override])


def test_parse_value_handles_optional_literal_and_unions():
    assert parse_value("3", Optional[int]) == 3
    assert parse_value("None", Optional[int]) is None
    assert parse_value("rope", Literal["learned", "rope"]) == "rope"
    assert parse_value("2", Literal[1, 2]) == 2
    assert parse_value("1.5", float | int) == 1.5
    assert parse_value("1,2,3", tuple[int, ...]) == (1, 2, 3)
    with pytest.raises(ValueError, match="or none"):
        parse_value("x", Optional[int])


def test_valid_keys_walks_nested_sections():
    @dataclass
    class Inner:
        a: int = 1

    @dataclass
    class Outer:
        inner: Inner = None  # type: ignore[assignment]
        b: str = "x"

    outer = Outer(inner=Inner())
    assert valid_keys(outer) == ["inner.a", "b"]
    assert apply_overrides(outer, ["inner.a=5"]).inner.a == 5


def test_configs_validate_their_fields():
    with pytest.raises(ValueError, match=r"lr=-1.0 must be > 0"):
        OptimConfig(lr=-1.0)
    with pytest.raises(ValueError, match=r"batch_size=10 must be divisible by grad_accum=4"):
        TrainConfig(batch_size=10, grad_accum=4)
    with pytest.raises(ValueError, match=r"device='tpu'"):
        TrainConfig(device="tpu")
    with pytest.raises(ValueError, match=r"max_bytes=-1"):
        TextDataConfig(max_bytes=-1)


@pytest.mark.parametrize("arch, key, value", [
    ("gpt2", "optim.lr", "inf"), ("llama", "model.rope_base", "nan"), ("gpt2", "model.init_std", "inf"),
    ("moe", "model.capacity_factor", "nan"), ("mamba", "model.init_std", "inf"), ("hybrid", "model.rope_base", "inf"),
    ("gpt2", "optim.weight_decay", "inf"),
])
def test_a_non_finite_value_in_a_field_that_must_be_finite_is_one_line_and_exit_2(arch, key, value, tmp_path, capsys):
    from archlab.cli import main

    (tmp_path / "c.txt").write_text("some text\n" * 50)
    argv = ["train", "lm", "--arch", arch, "--data", str(tmp_path / "c.txt"), "--out", str(tmp_path / "o"),
            "--set", f"{key}={value}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{key.split('.')[1]}={value}" in err and "finite" in err
