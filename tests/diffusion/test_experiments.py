"""The claims' shared miniature: a trained ring denoiser is made once per process and arguments."""

from archlab.diffusion.experiments import train_ring_denoiser


def test_trained_denoiser_is_shared_per_arguments():
    first = train_ring_denoiser("epsilon", seed=0, steps=2, batch=16)
    assert train_ring_denoiser("epsilon", seed=0, steps=2, batch=16) is first
    other = train_ring_denoiser("epsilon", seed=1, steps=2, batch=16)
    assert other is not first
    assert not first.training
