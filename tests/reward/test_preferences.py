import pytest
import torch

from archlab.errors import UserError
from archlab.reward.preferences import Preference, read_preferences, write_preferences
from archlab.reward.text import encode_texts, synthetic_text_preferences


def test_round_trip_and_blank_lines(tmp_path):
    records = [Preference("p", "good", "bad"), Preference("q\n", "é", "")]
    path = write_preferences(tmp_path / "prefs.jsonl", records)
    path.write_text(path.read_text() + "\n\n")
    assert read_preferences(path) == records


@pytest.mark.parametrize("line, fragment", [
    ('{"prompt": "p", "chosen": "c"}', "line 2: missing field 'rejected'"),
    ('{"prompt": "p", "rejected": "r"}', "line 2: missing field 'chosen'"),
    ('{"prompt": "p", "chosen": 1, "rejected": "r"}', "line 2: field 'chosen' must be a string"),
    ('["p", "c", "r"]', "line 2: expected a JSON object"),
    ('{"prompt": "p",', "line 2: not valid JSON"),
])
def test_errors_name_the_line_and_the_field(tmp_path, line, fragment):
    path = tmp_path / "prefs.jsonl"
    path.write_text('{"prompt": "p", "chosen": "c", "rejected": "r"}\n' + line + "\n")
    with pytest.raises(UserError, match=fragment):
        read_preferences(path)


def test_a_broken_line_is_named_by_its_line_in_the_file(tmp_path):
    path = tmp_path / "prefs.jsonl"
    good = '{"prompt": "p", "chosen": "c", "rejected": "r"}\n'
    path.write_text(good + "\n" + good + "chosen: c, rejected: r\n" + good)  # blank lines count: the bad one is line 4
    with pytest.raises(UserError, match=r"^prefs.jsonl line 4: not valid JSON \(Expecting value at column 1\)$"):
        read_preferences(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_preferences(tmp_path / "none.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(UserError, match="no preference records"):
        read_preferences(tmp_path / "empty.jsonl")


def test_byte_encoding_keeps_the_last_tokens_and_pads_right():
    ids, mask = encode_texts(["abcdef", "xy"], tokenizer="bytes", max_len=4)
    assert ids.tolist() == [list(b"cdef"), list(b"xy") + [0, 0]]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]


def test_synthetic_text_pairs_are_seeded_and_labelled_by_one_gold():
    a = synthetic_text_preferences(20, torch.Generator().manual_seed(3))
    assert a == synthetic_text_preferences(20, torch.Generator().manual_seed(3))
    assert a != synthetic_text_preferences(20, torch.Generator().manual_seed(4))
    assert all(r.chosen != r.rejected or r.chosen == r.rejected for r in a) and len(a) == 20
