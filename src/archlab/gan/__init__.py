"""Generative adversarial networks: MLP and DCGAN-style generators and discriminators, the minimax,
non-saturating, hinge and Wasserstein (gradient penalty) losses, spectral normalisation, packing (PacGAN), and
the two-player task that trains through the one loop."""

from archlab.gan.model import GAN, GANConfig, GANOutput
from archlab.gan.networks import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from archlab.gan.spectral_norm import SpectralNorm, spectral_norm
from archlab.gan.task import GANTask

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "GAN", "GANConfig", "GANOutput", "GANTask", "MLPDiscriminator",
           "MLPGenerator", "SpectralNorm", "spectral_norm"]
