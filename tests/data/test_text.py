"""Byte-level corpora: the standard library's source and users' files, split by file, deterministically."""

import hashlib
import math
import os
import subprocess
import sys
import tracemalloc

import pytest
import torch

from archlab.data import decode_bytes, encode_bytes, stdlib_corpus, text_corpus
from archlab.errors import UserError


def write_files(root, names, order=None):
    """Write one file per name, each holding a unique marker line; ``order`` permutes creation order."""
    contents = {name: f"<<{name}>> some text for {name}\n".encode() * 3 for name in names}
    for name in order or names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(contents[name])
    return contents


NAMES = [f"dir{i % 3}/file{i:02d}.txt" for i in range(40)]


def test_stdlib_corpus_sizes_bytes_and_determinism():
    a = stdlib_corpus(max_bytes=200_000, val_fraction=0.05)
    b = stdlib_corpus(max_bytes=200_000, val_fraction=0.05)
    assert a.vocab_size == 256 and a.train.dtype == torch.uint8
    assert (a.train.numel(), a.val.numel()) == (190_000, 10_000)
    assert torch.equal(a.train, b.train) and torch.equal(a.val, b.val)
    text = decode_bytes(a.train)
    assert "def " in text and "import " in text  # it is Python source


def test_stdlib_cap_reads_a_prefix_of_the_same_file_order():
    small = stdlib_corpus(max_bytes=100_000)
    large = stdlib_corpus(max_bytes=300_000)
    assert torch.equal(large.train[: small.train.numel()], small.train)
    assert torch.equal(large.val[: small.val.numel()], small.val)


def test_stdlib_split_does_not_depend_on_the_hash_seed():
    code = (
        "import hashlib; from archlab.data import stdlib_corpus; ds = stdlib_corpus(max_bytes=100_000); "
        "print(hashlib.sha256(ds.train.numpy().tobytes() + b'|' + ds.val.numpy().tobytes()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    ds = stdlib_corpus(max_bytes=100_000)
    here = hashlib.sha256(ds.train.numpy().tobytes() + b"|" + ds.val.numpy().tobytes()).hexdigest()
    assert other.stdout.strip() == here


def test_folder_is_split_by_file_disjointly_and_completely(tmp_path):
    contents = write_files(tmp_path, NAMES)
    ds = text_corpus(tmp_path, val_fraction=0.2)
    train, val = decode_bytes(ds.train), decode_bytes(ds.val)
    in_val = {name for name in NAMES if f"<<{name}>>" in val}
    in_train = {name for name in NAMES if f"<<{name}>>" in train}
    assert in_val and in_train
    assert in_val.isdisjoint(in_train)
    assert in_val | in_train == set(NAMES)
    assert ds.train.numel() + ds.val.numel() == sum(len(c) for c in contents.values())  # every byte, once
    assert train.count("<<") + val.count("<<") == 3 * len(NAMES)


def test_folder_split_does_not_depend_on_creation_order(tmp_path):
    write_files(tmp_path / "a", NAMES)
    write_files(tmp_path / "b", NAMES, order=list(reversed(NAMES)))
    a, b = text_corpus(tmp_path / "a"), text_corpus(tmp_path / "b")
    assert torch.equal(a.train, b.train) and torch.equal(a.val, b.val)


def test_folder_cap_splits_bytes_by_val_fraction(tmp_path):
    write_files(tmp_path, NAMES)
    ds = text_corpus(tmp_path, max_bytes=1000, val_fraction=0.1)
    assert (ds.train.numel(), ds.val.numel()) == (900, 100)


def test_two_files_always_give_one_file_per_split(tmp_path):
    contents = write_files(tmp_path, ["one.txt", "two.txt"])
    ds = text_corpus(tmp_path, val_fraction=0.05)
    assert sorted([bytes(ds.train.tolist()), bytes(ds.val.tolist())]) == sorted(contents.values())


def test_extensions_choose_files_and_hidden_folders_are_skipped(tmp_path):
    write_files(tmp_path, ["a.txt", "b.md", "c.csv", "d.py", ".git/e.txt", "sub/.hidden.txt"])
    def names(ds):
        text = decode_bytes(ds.train) + decode_bytes(ds.val)
        return {n for n in ["a.txt", "b.md", "c.csv", "d.py", ".git/e.txt", "sub/.hidden.txt"] if f"<<{n}>>" in text}

    assert names(text_corpus(tmp_path)) == {"a.txt", "b.md", "d.py"}
    assert names(text_corpus(tmp_path, extensions=("csv", ".md"))) == {"b.md", "c.csv"}
    assert names(text_corpus(tmp_path, extensions="txt,py")) == {"a.txt", "d.py"}


def test_single_file_is_split_by_its_tail(tmp_path):
    data = bytes(range(256)) * 4
    (tmp_path / "notes.txt").write_bytes(data)
    ds = text_corpus(tmp_path / "notes.txt", val_fraction=0.1)
    n_val = math.ceil(len(data) * 0.1)
    assert bytes(ds.val.tolist()) == data[-n_val:]
    assert bytes(ds.train.tolist()) == data[:-n_val]
    assert ds.name == "notes"


def test_folder_with_one_matching_file_is_split_by_its_tail(tmp_path):
    (tmp_path / "only.txt").write_bytes(b"x" * 90 + b"y" * 10)
    (tmp_path / "skip.csv").write_bytes(b"z" * 100)
    ds = text_corpus(tmp_path, val_fraction=0.1)
    assert bytes(ds.val.tolist()) == b"y" * 10 and bytes(ds.train.tolist()) == b"x" * 90


def test_missing_path_is_a_user_error_naming_it(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(UserError, match="nope.txt.*does not exist.*pass an existing text file"):
        text_corpus(missing)


def test_folder_without_matching_files_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r"holds no files ending in \.md"):
        text_corpus(tmp_path, extensions=(".md",))
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(UserError, match="holds no files"):
        text_corpus(tmp_path)


def test_empty_files_are_a_user_error(tmp_path):
    (tmp_path / "tiny.txt").write_bytes(b"ab")
    with pytest.raises(UserError, match="tiny.txt.*2 bytes"):
        text_corpus(tmp_path / "tiny.txt")
    for name in ("a.txt", "b.txt"):
        (tmp_path / "empty" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "empty" / name).write_bytes(b"")
    with pytest.raises(UserError, match="0 bytes"):
        text_corpus(tmp_path / "empty")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"val_fraction": 0.0}, "val_fraction=0.0"), ({"val_fraction": 0.9}, "val_fraction=0.9"),
     ({"max_bytes": 3}, "max_bytes=3"), ({"extensions": ()}, "extensions=")],
)
def test_bad_options_name_the_field(tmp_path, kwargs, field):
    with pytest.raises(ValueError, match=field):
        text_corpus(tmp_path, **kwargs)


def test_byte_codec_round_trip():
    text = "héllo wörld 日本 🙂\n\t"
    tokens = encode_bytes(text)
    assert tokens.dtype == torch.long and tokens.numel() == len(text.encode("utf-8"))
    assert int(tokens.max()) <= 255 and int(tokens.min()) >= 0
    assert decode_bytes(tokens) == text


def test_a_cap_bounds_what_is_read_from_disk(tmp_path):
    huge = tmp_path / "one-line.txt"
    with open(huge, "wb") as f:  # 256 MB, one line, sparse on disk
        f.write(b"x" * 100)
        f.truncate(256 * 2**20)
    folder = tmp_path / "folder"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        os.link(huge, folder / name)
    tracemalloc.start()
    try:
        single = text_corpus(huge, max_bytes=10_000)
        several = text_corpus(folder, max_bytes=10_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(single.train) + len(single.val) == 10_000 and bytes(single.train[:100].tolist()) == b"x" * 100
    assert len(several.train) + len(several.val) == 10_000
    assert peak < 2**20  # bytes held by Python while loading: a few caps' worth, never the files


def test_extensions_are_matched_case_insensitively(tmp_path):
    for name, text in (("NOTES.TXT", "upper case notes "), ("more.Txt", "mixed case text "), ("skip.md", "markdown ")):
        (tmp_path / name).write_text(text * 20)
    corpus = text_corpus(tmp_path, extensions="txt")
    text = decode_bytes(torch.cat((corpus.train, corpus.val)))
    assert "upper case" in text and "mixed case" in text and "markdown" not in text
    assert text_corpus(tmp_path, extensions=(".TXT",)).train.shape == corpus.train.shape


def test_the_lm_data_config_chooses_the_extensions(tmp_path):
    from archlab.train.lm_task import TextDataConfig, load_text

    for name, text in (("a.rst", "restructured text "), ("b.txt", "plain text "), ("c.RST", "more rst ")):
        (tmp_path / name).write_text(text * 20)
    corpus = load_text(TextDataConfig(path=str(tmp_path), extensions="rst"))
    text = decode_bytes(torch.cat((corpus.train, corpus.val)))
    assert "restructured" in text and "more rst" in text and "plain text" not in text
