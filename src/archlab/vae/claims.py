"""Claims of the VAE family, registered by importing the modules that hold them:

- ``archlab.vae.gradient_claims``: ``vae.reparameterization-variance``.
- ``archlab.vae.beta_claims``: ``vae.beta-tradeoff`` and ``vae.blur`` (one beta sweep, shared).
- ``archlab.vae.collapse_claims``: ``vae.posterior-collapse``.
"""

from archlab.vae import beta_claims, collapse_claims, gradient_claims  # noqa: F401
