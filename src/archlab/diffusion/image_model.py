"""Diffusion on images: a U-Net or DiT denoiser trained and sampled with the family's one objective
(``archlab.diffusion.objective``), and the digits as its data.

The digits (8 x 8, scikit-learn's) are resized to ``image_size`` (16 by default, so the U-Net has two levels
and the DiT 64 patches of 2 x 2) by bilinear interpolation and mapped from [0, 1] to [-1, 1], the range the
noise schedule assumes (Ho et al. 2020, section 3.3). ``ImageDiffusionTask`` draws each step's images, labels,
noise and timesteps from the step's generator, so a run is a pure function of its seed.

Conditioning (``conditioning`` with ``n_classes=10``): ``"class"`` embeds the label; ``"text"`` reads the label's
caption ("a handwritten seven", ``archlab.diffusion.text_cond``) through a frozen text encoder: its token states
go to the U-Net's cross-attention (Rombach et al. 2022, section 3.3), its pooled vector to the DiT's adaLN. The
11 captions (the 10 digits and the empty null caption) are encoded once into the buffers ``caption_states`` and
``caption_pooled`` and looked up by label; ``add_prompts`` encodes other prompts for sampling.

Latent diffusion (``latent_compression`` f = 2 or 4; Rombach et al. 2022): the model holds a KL autoencoder
(``archlab.diffusion.autoencoder``) that compresses each side by f into ``latent_channels`` maps; the denoiser
runs on the scaled latents ``(mu - shift) * scale``, and ``sample`` decodes. ``prepare`` trains the autoencoder
(``archlab.diffusion.latent``) and encodes the captions once; a model loaded from a checkpoint is prepared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.io import PretrainedMixin
from archlab.core.validation import check_at_least, check_choices
from archlab.data.images import digits_dataset
from archlab.diffusion.autoencoder import AutoencoderConfig, LatentAutoencoder
from archlab.diffusion.dit import DiT, DiTConfig
from archlab.diffusion.latent import train_autoencoder
from archlab.diffusion.objective import DenoiserMixin, ObjectiveConfig, schedule_alphas_cumprod
from archlab.diffusion.sampling import SampleOutput
from archlab.diffusion.text_cond import CAPTIONS, MINILM_DIM, MiniLMTextEncoder, TextEncoder, encode_captions
from archlab.diffusion.unet import UNet, UNetConfig
from archlab.lab.experiment import SampledTask

DENOISERS = ("unet", "dit")
CONDITIONINGS = ("class", "text")
COMPRESSIONS = (1, 2, 4)


@dataclass
class ImageDenoiserConfig(ObjectiveConfig):
    """``denoiser`` ``"unet"`` | ``"dit"``; images ``channels`` x ``image_size`` x ``image_size``; ``width``
    (the U-Net's top level, doubled below it; the DiT's width is ``2 width`` with 4 heads, ``dit_layers``
    blocks and patches of ``patch_size``); ``conditioning`` ``"class"`` | ``"text"`` of a model with
    ``n_classes`` (text: ``text_len`` token states of width ``text_dim`` per caption); ``latent_compression``
    (1: pixels; 2 or 4: a latent model whose autoencoder has ``latent_channels`` maps, top width
    ``autoencoder_width`` and trains ``autoencoder_steps`` steps); and the objective's fields
    (``ObjectiveConfig``; the cosine schedule by default, which suits small images, Nichol and Dhariwal 2021)."""

    denoiser: str = "unet"
    image_size: int = 16
    channels: int = 1
    width: int = 32
    dit_layers: int = 4
    patch_size: int = 2
    beta_schedule: str = "cosine"
    conditioning: str = "class"
    text_dim: int = MINILM_DIM
    text_len: int = 8
    latent_compression: int = 1
    latent_channels: int = 4
    autoencoder_width: int = 32
    autoencoder_steps: int = 400

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choices(self, dict(denoiser=DENOISERS, conditioning=CONDITIONINGS))
        if self.latent_compression not in COMPRESSIONS:
            raise ValueError(f"latent_compression={self.latent_compression} is not one of 1 (pixels), 2, 4")
        check_at_least(self, 1, "channels", "dit_layers", "patch_size", "text_dim", "latent_channels",
                       "autoencoder_steps")
        check_at_least(self, 2, "text_len")
        check_at_least(self, 8, "width", "autoencoder_width")
        if self.image_size < 4 or self.image_size % 4:
            raise ValueError(f"image_size={self.image_size} must be a multiple of 4, at least 4")
        for name in ("width", "autoencoder_width"):
            if getattr(self, name) % 8:
                raise ValueError(f"{name}={getattr(self, name)} must be divisible by 8 (the norm groups)")
        if self.conditioning == "text" and self.n_classes != len(CAPTIONS):
            raise ValueError(f"n_classes={self.n_classes} must be {len(CAPTIONS)} with conditioning='text' "
                             f"(one caption per digit)")
        side = self.denoiser_size
        if self.image_size % self.latent_compression or side % 4:
            raise ValueError(f"image_size={self.image_size} / latent_compression={self.latent_compression} must "
                             f"be a whole multiple of 4")

    @property
    def denoiser_size(self) -> int:
        """The side of what the denoiser sees: the image, or its latent."""
        return self.image_size // self.latent_compression

    @property
    def denoiser_channels(self) -> int:
        return self.channels if self.latent_compression == 1 else self.latent_channels

    def autoencoder(self) -> Optional[AutoencoderConfig]:
        """The autoencoder of a latent model (widths ``autoencoder_width`` doubling per level); None for pixels."""
        if self.latent_compression == 1:
            return None
        levels = self.latent_compression.bit_length()  # f = 2^(levels - 1)
        return AutoencoderConfig(in_channels=self.channels, latent_channels=self.latent_channels,
                                 widths=tuple(self.autoencoder_width * 2 ** i for i in range(levels)))

    def network(self) -> nn.Module:
        """The denoiser network this config names."""
        text = self.n_classes and self.conditioning == "text"
        classes = self.n_classes if not text else 0
        if self.denoiser == "unet":
            return UNet(UNetConfig(in_channels=self.denoiser_channels, widths=(self.width, 2 * self.width),
                                   layers_per_block=1, down_attention=(False, True), norm_groups=8,
                                   head_dim=self.width // 2, class_embeddings=classes + 1 if classes else 0,
                                   d_context=self.text_dim if text else None))
        return DiT(DiTConfig(in_channels=self.denoiser_channels, sample_size=self.denoiser_size,
                             patch_size=self.patch_size, d_model=2 * self.width, n_heads=4, n_layers=self.dit_layers,
                             n_classes=classes, text_dim=self.text_dim if text else 0))


class ImageDenoiser(DenoiserMixin, nn.Module, PretrainedMixin):
    """``(x_t (B, C, S, S), t (B,), cond (B,) long or None) -> prediction (B, C, S, S)``, with ``make_batch``,
    ``loss`` and ``sample`` of a generative model. Images live in [-1, 1]."""

    config_class = ImageDenoiserConfig

    def __init__(self, config: ImageDenoiserConfig) -> None:
        super().__init__()
        self.config = c = config
        self.network = config.network()
        self.register_buffer("alphas_cumprod", schedule_alphas_cumprod(config), persistent=False)
        self.register_buffer("prepared", torch.zeros((), dtype=torch.bool))
        self.text = bool(c.n_classes) and c.conditioning == "text"
        if self.text:
            self.register_buffer("caption_states", torch.zeros(c.n_classes + 1, c.text_len, c.text_dim))
            self.register_buffer("caption_pooled", torch.zeros(c.n_classes + 1, c.text_dim))
        self.prompts: list[str] = []  # captions encoded after CAPTIONS and the null one, by add_prompts
        ae = config.autoencoder()
        self.autoencoder = None if ae is None else LatentAutoencoder(ae).requires_grad_(False)
        if ae is not None:  # the latents' mean and reciprocal standard deviation (set by prepare)
            self.register_buffer("latent_shift", torch.zeros(()))
            self.register_buffer("latent_scale", torch.ones(()))

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        if not self.text:
            return self.network(x, t, cond)
        if cond is None:
            cond = torch.full((x.shape[0],), self.config.n_classes, dtype=torch.long, device=x.device)
        elif cond.dtype.is_floating_point or cond.shape != (x.shape[0],):
            raise ValueError(f"a text-conditioned denoiser takes caption indices (batch,) long as cond, "
                             f"got {cond.dtype} {tuple(cond.shape)}")
        if self.config.denoiser == "unet":
            return self.network(x, t, None, context=self.caption_states[cond])  # context (B, text_len, text_dim)
        return self.network(x, t, self.caption_pooled[cond])  # pooled (B, text_dim)

    def sample_shape(self, n: int) -> tuple[int, ...]:
        """The shape of ``n`` samples as the denoiser sees them (latents for a latent model)."""
        c = self.config
        return (n, c.denoiser_channels, c.denoiser_size, c.denoiser_size)

    def prepare(self, images: torch.Tensor, *, seed: int, text_encoder: Optional[TextEncoder] = None) -> None:
        """Once per model: train the autoencoder of a latent model on ``images`` (N, C, S, S) in [-1, 1] and set
        the latents' scale, and encode the captions of a text model with ``text_encoder`` (default: the frozen
        MiniLM). A prepared model (e.g. loaded from a checkpoint) is left as it is."""
        if bool(self.prepared):
            return
        if self.autoencoder is not None:
            shift, scale = train_autoencoder(self.autoencoder, images, steps=self.config.autoencoder_steps, seed=seed)
            self.latent_shift.fill_(shift)
            self.latent_scale.fill_(scale)
        if self.text:
            states, pooled = encode_captions(text_encoder or MiniLMTextEncoder.load(), self.config.text_len,
                                             self.config.text_dim)
            self.caption_states.copy_(states)
            self.caption_pooled.copy_(pooled)
        self.prepared.fill_(True)

    @torch.no_grad()
    def to_latent(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, S, S) in [-1, 1] to what the denoiser sees: themselves, or the scaled latents."""
        if self.autoencoder is None:
            return images
        return (self.autoencoder.encode(images).mean - self.latent_shift) * self.latent_scale

    @torch.no_grad()
    def from_latent(self, latents: torch.Tensor) -> torch.Tensor:
        """The inverse of ``to_latent``: decoded images (B, C, S, S)."""
        if self.autoencoder is None:
            return latents
        return self.autoencoder.decode(latents / self.latent_scale + self.latent_shift)

    def caption_index(self, prompts: Sequence[str], text_encoder: Optional[TextEncoder] = None) -> torch.Tensor:
        """The caption indices (n,) of ``prompts`` for ``sample(labels=...)``: a digit caption is looked up in the
        cached states; any other prompt is encoded once by ``text_encoder`` (default: the frozen MiniLM) and
        appended to the caption buffers."""
        if not self.text:
            raise ValueError("this denoiser is not text-conditioned (train it with conditioning='text')")
        known = [*CAPTIONS, "", *self.prompts]
        new = sorted({p for p in prompts if p not in known})
        if new:
            states, pooled = (text_encoder or MiniLMTextEncoder.load())(new, self.config.text_len)
            self.caption_states = torch.cat([self.caption_states, states.to(self.caption_states)])
            self.caption_pooled = torch.cat([self.caption_pooled, pooled.to(self.caption_pooled)])
            self.prompts.extend(new)
            known.extend(new)
        return torch.tensor([known.index(p) for p in prompts], dtype=torch.long)

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None, **kwargs) -> SampleOutput:
        """``n`` images (``DenoiserMixin.sample``'s arguments); a latent model samples latents and decodes them,
        and its trajectory too."""
        out = super().sample(n, generator, **kwargs)
        if self.autoencoder is None:
            return out
        return SampleOutput(self.from_latent(out.sample), out.nfe, [self.from_latent(x) for x in out.trajectory])


def digit_images(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The training digits (N, 1, size, size) in [-1, 1] and their labels (N,)."""
    data = digits_dataset()
    images = data.train_images
    if size != images.shape[-1]:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return images * 2 - 1, data.train_labels


class ImageDiffusionTask(SampledTask):
    """The image denoiser's loss on batches of digits (one player, ``"model"``)."""

    def __init__(self, model: ImageDenoiser, *, batch_size: int, seed: int, eval_size: int = 256,
                 text_encoder: Optional[TextEncoder] = None) -> None:
        super().__init__(batch_size=batch_size, seed=seed, eval_size=eval_size)
        if model.config.n_classes not in (0, 10):
            raise ValueError(f"model.n_classes={model.config.n_classes} must be 0 or the digits' 10 labels")
        if model.config.channels != 1:
            raise ValueError(f"model.channels={model.config.channels} must be 1 for the greyscale digits")
        self.model = model
        images, self.labels = digit_images(model.config.image_size)
        model.prepare(images, seed=seed, text_encoder=text_encoder)
        self.images = torch.cat([model.to_latent(chunk) for chunk in images.split(256)])  # what the denoiser sees

    def sample(self, size: int, generator: torch.Generator) -> dict:
        index = torch.randint(len(self.labels), (size,), generator=generator)
        labels = self.labels[index] if self.model.config.n_classes else None
        return self.model.make_batch(self.images[index], labels, generator)

    def loss(self, batch: dict, player: str = "model") -> torch.Tensor:
        return self.model.loss(batch)
