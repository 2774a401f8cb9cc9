"""Claims of the VAE family, registered by importing the modules that hold them:

- ``archlab.vae.gradient_claims``: ``vae.reparameterization-variance``.
"""

from archlab.vae import gradient_claims  # noqa: F401
