"""Variational autoencoders: a diagonal Gaussian posterior with the reparameterisation trick, the ELBO with a
Bernoulli or Gaussian likelihood, beta, KL annealing, free bits, the IWAE bound, MLP and convolutional
encoders/decoders, and a sequence VAE with a GRU decoder for posterior collapse."""

from archlab.vae.model import VAE, VAEConfig, VAEOutput
from archlab.vae.networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from archlab.vae.sequence import SequenceVAE, SequenceVAEConfig, SequenceVAEOutput, TopicSequences, TopicVAETask
from archlab.vae.task import VAETask

__all__ = ["ConvDecoder", "ConvEncoder", "MLPDecoder", "MLPEncoder", "SequenceVAE", "SequenceVAEConfig",
           "SequenceVAEOutput", "TopicSequences", "TopicVAETask", "VAE", "VAEConfig", "VAEOutput", "VAETask"]
