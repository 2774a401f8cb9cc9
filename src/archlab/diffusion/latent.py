"""The first stage of latent diffusion (Rombach et al. 2022, "High-Resolution Image Synthesis with Latent
Diffusion Models", section 3.1): train the KL autoencoder on the images, then measure the scale of its latents.

``AutoencoderTask`` is the autoencoder's loss (``LatentAutoencoder.loss``: reconstruction plus ``kl_weight`` x KL)
on batches of images, so it trains through the one loop (``archlab.train.fit``) like every model here;
``train_autoencoder`` runs it and returns the latents' shift and scale: the denoiser sees
``(mu - shift) / std``, the posterior means rescaled to unit variance, as Rombach et al. rescale by the
latents' standard deviation (their appendix G; ``shift`` is the mean, as SD3 adds a shift factor).
"""

from __future__ import annotations

import logging

import torch

from archlab.diffusion.autoencoder import LatentAutoencoder
from archlab.lab.experiment import SampledTask, quick_fit

log = logging.getLogger(__name__)

KL_WEIGHT = 1e-6


class AutoencoderTask(SampledTask):
    """``LatentAutoencoder.loss`` on batches of ``images`` (N, C, H, W) drawn with the step's generator."""

    def __init__(self, model: LatentAutoencoder, images: torch.Tensor, *, batch_size: int, seed: int,
                 eval_size: int = 128, kl_weight: float = KL_WEIGHT) -> None:
        super().__init__(batch_size=batch_size, seed=seed, eval_size=eval_size)
        if kl_weight < 0:
            raise ValueError(f"kl_weight={kl_weight} must be >= 0")
        self.model, self.images, self.kl_weight = model, images, kl_weight

    def sample(self, size: int, generator: torch.Generator) -> dict:
        index = torch.randint(len(self.images), (size,), generator=generator)
        return {"x": self.images[index], "seed": int(torch.randint(2 ** 31, (), generator=generator))}

    def loss(self, batch: dict, player: str = "model") -> torch.Tensor:
        generator = torch.Generator(device=batch["x"].device).manual_seed(batch["seed"])
        return self.model.loss(batch["x"], kl_weight=self.kl_weight, generator=generator)


def train_autoencoder(model: LatentAutoencoder, images: torch.Tensor, *, steps: int, seed: int,
                      batch_size: int = 32, lr: float = 5e-3) -> tuple[float, float]:
    """Train ``model`` on ``images`` for ``steps`` AdamW steps through the one loop, leave it frozen in eval mode,
    and return ``(shift, scale)``: the mean and the reciprocal standard deviation of its posterior means on
    ``images``."""
    model.train().requires_grad_(True)
    task = AutoencoderTask(model, images, batch_size=batch_size, seed=seed)
    quick_fit(task, steps=steps, lr=lr, batch_size=batch_size, seed=seed, warmup_steps=min(25, steps // 4))
    model.eval().requires_grad_(False)
    with torch.no_grad():
        mean = torch.cat([model.encode(chunk).mean for chunk in images.split(256)])
        decoded = torch.cat([model.decode(model.encode(chunk).mean) for chunk in images.split(256)])
    log.info("autoencoder: %d steps, reconstruction MSE %.4f", steps, float((decoded - images).pow(2).mean()))
    return float(mean.mean()), float(1.0 / mean.std().clamp_min(1e-6))


__all__ = ["AutoencoderTask", "KL_WEIGHT", "train_autoencoder"]
