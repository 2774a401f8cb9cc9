"""The sequence VAE (GRU decoder, word dropout, free bits), the topic sequences and the linear probe."""

import pytest
import torch

from archlab.lab.experiment import quick_fit
from archlab.vae.probe import linear_probe_accuracy
from archlab.vae.sequence import SequenceVAE, SequenceVAEConfig, TopicSequences, TopicVAETask


def test_shapes_and_loss_terms():
    torch.manual_seed(0)
    model = SequenceVAE(SequenceVAEConfig(hidden_dim=16, embed_dim=8, latent_dim=3))
    tokens = torch.randint(0, 16, (4, 10))
    mean, logvar = model.encode(tokens)
    assert mean.shape == logvar.shape == (4, 3)
    assert model.decode(mean, model.decoder_inputs(tokens)).shape == (4, 10, 16)
    out = model.loss(tokens, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.loss, out.reconstruction + out.kl)


def test_the_decoder_is_causal():
    torch.manual_seed(0)
    model = SequenceVAE(SequenceVAEConfig(hidden_dim=16, embed_dim=8)).eval()
    a = torch.randint(0, 16, (1, 8))
    b = a.clone()
    b[0, 5] = (a[0, 5] + 1) % 16
    z = torch.zeros(1, 8)
    la, lb = model.decode(z, model.decoder_inputs(a)), model.decode(z, model.decoder_inputs(b))
    torch.testing.assert_close(la[:, :6], lb[:, :6])  # the input at t is x_{t-1}: logits up to t = 5 unchanged
    assert not torch.allclose(la[:, 6:], lb[:, 6:])


def test_word_dropout_replaces_inputs_in_training_only():
    model = SequenceVAE(SequenceVAEConfig(word_dropout=0.5))
    tokens = torch.randint(0, 16, (200, 16))
    dropped = model.train().decoder_inputs(tokens, generator=torch.Generator().manual_seed(0))
    assert (dropped[:, 0] == model.bos).all()
    rate = (dropped[:, 1:] == model.unk).float().mean().item()
    assert rate == pytest.approx(0.5, abs=0.02)
    assert not (model.eval().decoder_inputs(tokens) == model.unk).any()


def test_topic_sequences_are_deterministic_and_topic_dependent():
    data = TopicSequences(task_seed=0)
    a, ta = data.sample(500, torch.Generator().manual_seed(1))
    b, tb = data.sample(500, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and torch.equal(ta, tb)
    assert a.shape == (500, 16) and int(ta.max()) < 8
    histograms = torch.stack([torch.bincount(a[ta == t].flatten(), minlength=16).float() for t in range(8)])
    histograms = histograms / histograms.sum(-1, keepdim=True)
    assert (histograms[0] - histograms[1]).abs().sum() > 0.3  # topics use the symbols differently


def test_linear_probe_reads_a_linear_factor_and_not_noise():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (400,), generator=g)
    centres = 3 * torch.randn(4, 5, generator=g)
    separable = centres[labels] + torch.randn(400, 5, generator=g)
    assert linear_probe_accuracy(separable, labels, n_classes=4) > 0.9
    assert linear_probe_accuracy(torch.randn(400, 5, generator=g), labels, n_classes=4) < 0.4


def test_the_topic_task_trains_and_logs_through_the_loop():
    torch.manual_seed(0)
    model = SequenceVAE(SequenceVAEConfig(hidden_dim=16, embed_dim=8, kl_anneal_steps=4, free_bits=0.1))
    task = TopicVAETask(model, TopicSequences(task_seed=0), batch_size=16, seed=0, eval_size=32)
    result = quick_fit(task, steps=6, lr=3e-3, batch_size=16, seed=0, log_every=1)
    first = result.history[0]
    assert {"reconstruction", "kl", "kl_weight", "active_units"} <= set(first)
    assert first["kl_weight"] == 0.0 and result.history[-2]["kl_weight"] == 1.0
