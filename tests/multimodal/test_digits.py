"""The built-in multimodal digits: captions, canvases, DTMF audio, moving videos, questions, splits, vocabulary."""

import pytest
import torch

from archlab.multimodal.digits import dtmf_frequencies, moving_videos, multimodal_digits
from archlab.multimodal.mel import log_mel_spectrogram
from archlab.multimodal import vocab


@pytest.fixture(scope="module")
def data():
    return multimodal_digits(seed=0)


def test_splits_shapes_and_determinism(data):
    for split in (data.train, data.test):
        n = split.labels.numel()
        assert split.images.shape == (n, 1, 8, 8)
        assert split.audio.shape == (n, 2000)
        assert split.video.shape == (n, 4, 1, 8, 16)
        assert split.canvases.shape == (n, 1, 8, 16) and split.canvas_labels.shape == (n, 2)
    assert data.train.labels.numel() + data.test.labels.numel() == 1797
    again = multimodal_digits(seed=0)
    assert torch.equal(again.train.audio, data.train.audio) and torch.equal(again.test.canvases, data.test.canvases)
    assert not torch.equal(multimodal_digits(seed=1).train.canvas_labels, data.train.canvas_labels)


def test_captions_read_the_labels(data):
    i = int((data.train.labels == 7).nonzero()[0])
    assert data.train.caption(i) == "a handwritten seven"
    j = int(((data.train.canvas_labels[:, 0] == 3) & (data.train.canvas_labels[:, 1] == 8)).nonzero()[0])
    assert data.train.canvas_caption(j) == "a three to the left of an eight"
    assert vocab.decode(vocab.encode(data.train.canvas_caption(j))) == data.train.canvas_caption(j)
    k = int(((data.train.canvas_labels[:, 0] == 1) & (data.train.canvas_labels[:, 1] == 8)).nonzero()[0])
    assert data.train.canvas_caption(k) == "a one to the left of an eight"


def test_canvases_hold_two_different_digits_left_and_right(data):
    split = data.train
    assert torch.all(split.canvas_labels[:, 0] != split.canvas_labels[:, 1])
    # Each half is one of the split's images of the named digit.
    left_half = split.canvases[:5, :, :, :8]
    for k in range(5):
        matches = (split.images == left_half[k]).flatten(1).all(1)
        assert matches.any() and torch.all(split.labels[matches] == split.canvas_labels[k, 0])


def test_audio_carries_the_two_key_tones(data):
    split = data.train
    i = int((split.labels == 5).nonzero()[0])
    spectrum = torch.fft.rfft(split.audio[i]).abs()  # bins 4 Hz apart at 2000 samples of 8 kHz
    top = sorted((spectrum.topk(2).indices * 4).tolist())
    low, high = dtmf_frequencies(5)
    assert abs(top[0] - low) <= 4 and abs(top[1] - high) <= 4
    assert dtmf_frequencies(0) == (941.0, 1336.0) and dtmf_frequencies(1) == (697.0, 1209.0)
    mel = log_mel_spectrogram(split.audio[:4], sample_rate=8000, n_fft=256, hop_length=64, n_mels=16)
    assert torch.isfinite(mel).all()


def test_video_moves_the_digit_across_the_canvas():
    image = torch.arange(64.0).reshape(1, 1, 8, 8) + 1
    both = moving_videos(image.repeat(2, 1, 1, 1), torch.tensor([1, -1]), frames=3)
    assert torch.equal(both[0, 0, :, :, :8], image[0]) and torch.equal(both[0, 2, :, :, 8:], image[0])
    assert torch.equal(both[1, 0, :, :, 8:], image[0]) and torch.equal(both[1, 2, :, :, :8], image[0])
    assert both[0, 1].sum() == image.sum()  # the digit is whole in every frame


def test_questions_and_answers(data):
    split = data.test
    questions = split.questions()
    kinds = {q.kind for q in questions}
    assert kinds == {"digit", "left", "right", "identity", "relation"}
    left = next(q for q in questions if q.kind == "left")
    assert left.question == "what digit is on the left ?"
    assert left.answer == vocab.NUMBER_WORDS[int(split.canvas_labels[left.index, 0])]
    for q in questions:
        vocab.encode(q.question), vocab.encode(q.answer)
        if q.kind == "identity":
            digit = vocab.NUMBER_WORDS.index(q.question.split()[3])
            assert (q.answer == "yes") == bool((split.canvas_labels[q.index] == digit).any())
        if q.kind == "relation":
            first = vocab.NUMBER_WORDS.index(q.question.split()[2])
            assert (q.answer == "yes") == (first == int(split.canvas_labels[q.index, 0]))


def test_vocab_pad_and_errors():
    ids, mask = vocab.pad([vocab.encode("a handwritten two"), vocab.encode("yes")])
    assert ids.shape == mask.shape == (2, 5)
    assert ids[1].tolist() == [vocab.BOS, vocab.INDEX["yes"], vocab.EOS, vocab.PAD, vocab.PAD]
    assert mask[1].tolist() == [1, 1, 1, 0, 0]
    with pytest.raises(ValueError, match="word 'cat' is not in"):
        vocab.encode("a cat")
    with pytest.raises(ValueError, match="canvases_per_image=0 must be > 0"):
        multimodal_digits(canvases_per_image=0)
