"""The synthetic tasks behind the attention claims: batches are what their docstrings say."""

import pytest
import torch

from archlab.transformer.lm import DecoderLM, LMConfig
from archlab.transformer.synthetic import repeat_losses, repeated_tokens_batch, sortedness_batch


def test_sortedness_batch_labels_and_multisets():
    seqs, labels = sortedness_batch(512, 8, 16, torch.Generator().manual_seed(0))
    is_sorted = (seqs[:, 1:] >= seqs[:, :-1]).all(dim=1)
    assert torch.equal(labels.bool(), is_sorted)
    assert 0.4 < labels.float().mean() < 0.6
    # the two classes hold the same multisets in distribution: token histograms agree closely
    hist = [torch.bincount(seqs[labels == c].flatten(), minlength=16).float() for c in (0, 1)]
    hist = [h / h.sum() for h in hist]
    assert (hist[0] - hist[1]).abs().max() < 0.03


def test_repeated_tokens_batch_repeats_and_masks_filler():
    inputs, targets, n = repeated_tokens_batch(64, 32, 16, 4, torch.Generator().manual_seed(0))
    assert inputs.shape == targets.shape == (64, 31) and int(n.min()) >= 4 and int(n.max()) <= 16
    seqs = torch.cat([inputs, targets[:, -1:].clamp_min(0)], dim=1)  # (B, 32)
    for b in range(64):
        k = int(n[b])
        assert torch.equal(seqs[b, k : 2 * k], seqs[b, :k])
        assert len(set(seqs[b, :k].tolist())) == k  # the repeated tokens are distinct
        assert (targets[b, 2 * k - 1 :] == -100).all() and (targets[b, : 2 * k - 1] >= 0).all()
    # every token is equally likely at every position of the first repeat
    counts = torch.bincount(repeated_tokens_batch(4096, 32, 16, 4, torch.Generator().manual_seed(1))[0][:, :4].flatten(),
                            minlength=16).float()
    assert (counts / counts.mean() - 1).abs().max() < 0.1


def test_repeated_tokens_batch_rejects_a_vocabulary_smaller_than_a_repeat():
    with pytest.raises(ValueError, match="vocab=10"):
        repeated_tokens_batch(4, 32, 10, 4, torch.Generator().manual_seed(0))


def test_repeat_losses_separate_the_two_halves():
    torch.manual_seed(0)
    model = DecoderLM(LMConfig(vocab_size=16, max_seq_len=32, d_model=16, n_layers=1, n_heads=2, mlp="none"))
    inputs, targets, n = repeated_tokens_batch(8, 32, 16, 4, torch.Generator().manual_seed(1))
    with torch.no_grad():
        first, second = repeat_losses(model, inputs, targets, n)
    assert abs(first - torch.log(torch.tensor(16.0)).item()) < 0.1  # an untrained model is near ln V on both
    assert abs(second - first) < 0.1
