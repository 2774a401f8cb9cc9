"""Fusion models: Flamingo's zero-initialised tanh gates leave the language model's outputs unchanged, the LLaVA
projector prefix reaches the text causally, question tensors and their labels, config rules, save / load."""

import pytest
import torch

from archlab.multimodal import vocab
from archlab.multimodal.digits import multimodal_digits
from archlab.multimodal.fusion import FusionConfig, FusionModel
from archlab.multimodal.qa import IGNORE, answer_accuracy, qa_loss, question_set

TINY = dict(vision_width=16, vision_layers=1, d_model=16, n_layers=2, n_heads=2)


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    ids, mask = vocab.pad([vocab.encode("what digit is on the left ? three"), vocab.encode("is there a two ? no")])
    return ids, mask, torch.rand(2, 1, 8, 16, generator=g)


def test_zero_gates_leave_the_language_model_unchanged():
    torch.manual_seed(0)
    model = FusionModel(FusionConfig(fusion="cross-attention", **TINY)).eval()
    ids, mask, images = batch()
    with torch.no_grad():
        alone = model(ids, None, mask)
        fused = model(ids, images, mask)
        assert torch.equal(fused, alone)  # tanh(0) = 0: exactly the language model
        for layer in model.cross:
            layer.alpha_attn.fill_(0.5)
        opened = model(ids, images, mask)
    assert (opened - alone).abs().max() > 1e-3
    # The gates receive gradient at zero, so training can open them.
    model(ids, images, mask).sum().backward()
    assert all(layer.alpha_attn.grad.abs() > 0 for layer in model.cross)


def test_projector_prefix_reaches_the_text_causally():
    torch.manual_seed(0)
    model = FusionModel(FusionConfig(fusion="projector", **TINY)).eval()
    ids, mask, images = batch()
    with torch.no_grad():
        out = model(ids, images, mask)
        assert out.shape == (2, ids.shape[1], len(vocab.WORDS))
        other = model(ids, images.flip(0), mask)
        assert (out[:, 0] - other[:, 0]).abs().max() > 1e-4  # the first text token already sees the image
        changed = ids.clone()
        changed[0, 5] = vocab.INDEX["right"]
        later = model(changed, images, mask)
        assert torch.equal(later[0, :5], out[0, :5]) and (later[0, 5:] - out[0, 5:]).abs().max() > 1e-5
        assert not torch.allclose(model(ids, None, mask), out)  # without the image: the language model alone
    assert FusionConfig(**TINY).image_tokens == 1 + 2 * 4


def test_question_set_labels_the_answer_and_end():
    data = multimodal_digits(seed=0)
    questions = [q for q in data.test.questions() if q.kind in ("left", "relation")][:4]
    qs = question_set(data.test, questions)
    for row, q in enumerate(questions):
        at = int(qs.answer_at[row])
        assert vocab.WORDS[int(qs.ids[row, at])] == "?"
        assert qs.labels[row, at] == vocab.INDEX[q.answer] and qs.labels[row, at + 1] == vocab.EOS
        assert (qs.labels[row] != IGNORE).sum() == 2
        assert torch.equal(qs.images[row], data.test.canvases[q.index])
    perfect = torch.full((4, qs.ids.shape[1], len(vocab.WORDS)), -10.0)
    perfect.scatter_(2, qs.labels.clamp(min=0)[:, :, None], 10.0)
    assert answer_accuracy(perfect, qs.answer_at, qs.answer).mean() == 1.0
    assert qa_loss(perfect, qs.labels) < 1e-6


@pytest.mark.parametrize("overrides, message", [
    (dict(fusion="early"), "fusion='early' is not one of 'projector', 'cross-attention'"),
    (dict(image_width=10), "image_width=10 must be divisible by patch_size=4"),
    (dict(d_model=18, n_heads=4), "d_model=18 must be divisible by n_heads=4"),
    (dict(projector="conv"), "projector='conv' is not one of 'linear', 'mlp'"),
])
def test_config_rules(overrides, message):
    with pytest.raises(ValueError, match=message):
        FusionConfig(**overrides)


@pytest.mark.parametrize("fusion", ["projector", "cross-attention"])
def test_save_and_load(fusion, tmp_path):
    torch.manual_seed(0)
    model = FusionModel(FusionConfig(fusion=fusion, **TINY)).eval()
    model.save_pretrained(tmp_path)
    loaded = FusionModel.from_pretrained(tmp_path).eval()
    ids, mask, images = batch()
    assert torch.equal(model(ids, images, mask), loaded(ids, images, mask))
