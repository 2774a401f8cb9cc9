"""save_pretrained / from_pretrained / load_pretrained: exact round trips and clear errors for bad saves."""

import dataclasses
import json
import pickle

import pytest
import torch
from safetensors.torch import load_file

import archlab
from archlab.core.io import CONFIG_NAME, WEIGHTS_NAME, config_from_dict, load_pretrained, save_pretrained
from archlab.errors import UserError
from archlab.transformer.lm import DecoderLM, gpt2_config, llama_config

TINY = dict(vocab_size=32, max_seq_len=16, d_model=16, n_layers=2, n_heads=4)


def model(preset: str) -> DecoderLM:
    torch.manual_seed(0)
    config = gpt2_config(**TINY) if preset == "gpt2" else llama_config(**TINY)
    m = DecoderLM(config).eval()
    with torch.no_grad():  # move the norms off their ones/zeros init so a missed load would show
        for name, p in m.named_parameters():
            if "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return m


def ids():
    return torch.randint(0, 32, (2, 9), generator=torch.Generator().manual_seed(1))


@pytest.fixture(params=["gpt2", "llama"])
def saved(request, tmp_path):
    m = model(request.param)
    m.save_pretrained(tmp_path / "m")
    return m, tmp_path / "m"


def test_round_trip_is_exact(saved):
    m, path = saved
    loaded = DecoderLM.from_pretrained(path).eval()
    assert loaded.config == m.config
    a, b = m.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert torch.equal(m(ids()).logits, loaded(ids()).logits)


def test_tied_weights_stored_once_and_tied_after_load(saved):
    m, path = saved
    stored = load_file(str(path / WEIGHTS_NAME))
    loaded = DecoderLM.from_pretrained(path)
    if m.config.tie_embeddings:
        assert len([k for k in stored if k in ("tok_emb.weight", "lm_head.weight")]) == 1
        assert loaded.lm_head.weight is loaded.tok_emb.weight
        with torch.no_grad():
            loaded.tok_emb.weight[0, 0] += 1.0
        assert loaded.lm_head.weight[0, 0] == loaded.tok_emb.weight[0, 0]
    else:
        assert {"tok_emb.weight", "lm_head.weight"} <= stored.keys()
        assert loaded.lm_head.weight is not loaded.tok_emb.weight
        assert not torch.equal(loaded.lm_head.weight, loaded.tok_emb.weight)


def test_config_json_contents(saved):
    m, path = saved
    meta = json.loads((path / CONFIG_NAME).read_text())
    assert meta["archlab_class"] == "archlab.transformer.lm:DecoderLM"
    assert meta["archlab_version"] == archlab.__version__
    assert meta["config"] == dataclasses.asdict(m.config)
    assert sorted(p.name for p in path.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]


def test_saved_files_are_json_and_safetensors_not_pickles(saved):
    _, path = saved
    raw = (path / WEIGHTS_NAME).read_bytes()
    header_len = int.from_bytes(raw[:8], "little")  # safetensors: u64 header length, then a JSON header
    header = json.loads(raw[8 : 8 + header_len])
    assert "blocks.0.mixer.qkv_proj.weight" in header
    assert header["blocks.0.mixer.qkv_proj.weight"]["dtype"] == "F32"
    assert not raw.startswith(b"\x80") and not raw.startswith(b"PK")  # neither a pickle nor a torch.save zip


def test_loading_never_unpickles(saved, monkeypatch):
    _, path = saved

    def forbidden(*args, **kwargs):
        raise AssertionError("loading a saved model must not unpickle")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    assert isinstance(load_pretrained(path), DecoderLM)


def test_load_pretrained_dispatches_by_class(saved):
    m, path = saved
    loaded = load_pretrained(path)
    assert type(loaded) is DecoderLM and loaded.config == m.config
    assert torch.equal(loaded.eval()(ids()).logits, m(ids()).logits)


def test_save_pretrained_function_returns_directory(tmp_path):
    out = save_pretrained(model("gpt2"), tmp_path / "a" / "b")
    assert out == tmp_path / "a" / "b" and (out / CONFIG_NAME).is_file()


# ---------------------------------------------------------------- errors


def test_missing_directory(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(UserError, match=f"{missing}.*does not exist"):
        DecoderLM.from_pretrained(missing)
    with pytest.raises(UserError, match=str(missing)):
        load_pretrained(missing)


def test_missing_config(tmp_path):
    with pytest.raises(UserError, match=f"no config.json in {tmp_path}"):
        DecoderLM.from_pretrained(tmp_path)


def test_missing_weights(saved):
    _, path = saved
    (path / WEIGHTS_NAME).unlink()
    with pytest.raises(UserError, match=f"no model.safetensors in {path}"):
        DecoderLM.from_pretrained(path)


@pytest.mark.parametrize("text", ["{not json", "\xff\xfe", "[1, 2]", '{"config": {}}'])
def test_corrupt_config_json(saved, text):
    _, path = saved
    (path / CONFIG_NAME).write_bytes(text.encode("latin-1"))
    with pytest.raises(UserError, match=str(path / CONFIG_NAME)):
        DecoderLM.from_pretrained(path)


@pytest.mark.parametrize("change", [{"d_model": 18}, {"no_such_field": 1}, {"d_model": 32}])
def test_invalid_or_mismatched_config_is_a_user_error(saved, change):
    _, path = saved
    meta = json.loads((path / CONFIG_NAME).read_text())
    meta["config"].update(change)
    (path / CONFIG_NAME).write_text(json.dumps(meta))
    with pytest.raises(UserError, match=str(path)):
        DecoderLM.from_pretrained(path)


@pytest.mark.parametrize("vocab_size", [10**12, 10**20])
def test_a_config_asking_for_an_impossible_size_is_one_user_error(saved, vocab_size):
    _, path = saved
    meta = json.loads((path / CONFIG_NAME).read_text())
    meta["config"]["vocab_size"] = vocab_size
    (path / CONFIG_NAME).write_text(json.dumps(meta))
    with pytest.raises(UserError, match=f"{path / CONFIG_NAME} asks for a model that cannot be built") as info:
        DecoderLM.from_pretrained(path)
    assert "\n" not in str(info.value)


def test_corrupt_safetensors(saved):
    _, path = saved
    raw = (path / WEIGHTS_NAME).read_bytes()
    (path / WEIGHTS_NAME).write_bytes(raw[: len(raw) // 2])  # truncated
    with pytest.raises(UserError, match=str(path / WEIGHTS_NAME)):
        DecoderLM.from_pretrained(path)
    (path / WEIGHTS_NAME).write_bytes(b"garbage that is not a safetensors file")
    with pytest.raises(UserError, match=str(path / WEIGHTS_NAME)):
        DecoderLM.from_pretrained(path)


def test_weights_of_another_model(tmp_path):
    model("gpt2").save_pretrained(tmp_path / "gpt2")
    model("llama").save_pretrained(tmp_path / "llama")
    (tmp_path / "gpt2" / WEIGHTS_NAME).write_bytes((tmp_path / "llama" / WEIGHTS_NAME).read_bytes())
    with pytest.raises(UserError, match=str(tmp_path / "gpt2" / WEIGHTS_NAME)):
        DecoderLM.from_pretrained(tmp_path / "gpt2")


def test_wrong_class(saved):
    _, path = saved
    meta = json.loads((path / CONFIG_NAME).read_text())
    meta["archlab_class"] = "archlab.transformer.lm:LMConfig"
    (path / CONFIG_NAME).write_text(json.dumps(meta))
    with pytest.raises(UserError, match=f"{path} holds a archlab.transformer.lm:LMConfig, not a"):
        DecoderLM.from_pretrained(path)


@pytest.mark.parametrize("class_path", [
    "os:system", "archlab.transformer.lm:NoSuchModel", "archlab.nowhere:Model", "archlab.core.io:read_config",
])
def test_load_pretrained_refuses_non_models(saved, class_path):
    _, path = saved
    meta = json.loads((path / CONFIG_NAME).read_text())
    meta["archlab_class"] = class_path
    (path / CONFIG_NAME).write_text(json.dumps(meta))
    with pytest.raises(UserError, match=f"{path}.*{class_path}"):
        load_pretrained(path)


def test_config_from_dict_rebuilds_tuples():
    @dataclasses.dataclass
    class Inner:
        sizes: tuple[int, ...] = (1,)

    @dataclasses.dataclass
    class Outer:
        inner: Inner = dataclasses.field(default_factory=Inner)
        names: list = dataclasses.field(default_factory=list)

    rebuilt = config_from_dict(Outer, json.loads(json.dumps(dataclasses.asdict(Outer(Inner((2, 3)), ["a"])))))
    assert rebuilt == Outer(Inner((2, 3)), ["a"])
    with pytest.raises(UserError, match="no field"):
        config_from_dict(Outer, {"bogus": 1})
