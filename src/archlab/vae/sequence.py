"""A sequence VAE with a GRU decoder (Bowman et al. 2016, *Generating Sentences from a Continuous Space*), and
the synthetic "topic" sequences of the posterior-collapse claim.

Model: a GRU encoder reads x_1..x_L and its last state gives q(z|x) = N(mu, diag sigma^2); the GRU decoder is
initialised from z (h_0 = tanh(W z + b)) and sees z again at every step beside the embedding of the previous
token (teacher forcing), so it is a strong autoregressive model that can explain the data without z: the
setting in which the KL term drives q(z|x) to the prior ("posterior collapse"). Bowman et al.'s two fixes are
here: KL cost annealing (``VAEConfig``-style ``kl_weight``, given by the caller) and **word dropout**: each
decoder input token is replaced by an ``<unk>`` symbol with probability ``word_dropout`` (their keep rate is
1 - word_dropout), which weakens the decoder. Free bits (Kingma et al. 2016) are ``free_bits`` nats per
latent dimension, as in ``archlab.vae.objectives.free_bits_kl``.

Data (``TopicSequences``): ``n_topics`` hidden "topics", each a Markov chain over ``vocab_size`` symbols with
its own start distribution and transition matrix (each row proportional to e_i ** ``sharpness`` with e_i
~ Exp(1) i.i.d., so each topic prefers a few successors of each symbol); a sequence is ``length`` steps of
the chain of a uniformly drawn topic. The topic is the global factor a useful latent should carry; a linear
probe from mu to the topic measures whether it does. Token ids: symbols 0..V-1, ``<bos>`` = V, ``<unk>`` = V+1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.core.io import PretrainedMixin
from archlab.core.validation import check_at_least
from archlab.data.streams import step_generator
from archlab.lab.experiment import SampledTask
from archlab.train.task import LossOutput
from archlab.core.gaussian import gaussian_kl, reparameterize
from archlab.vae.objectives import active_units, free_bits_kl, kl_anneal_weight


@dataclass
class SequenceVAEConfig:
    """Sizes of the sequence VAE and its objective: ``word_dropout`` in [0, 1) (the decoder's inputs replaced
    by ``<unk>`` during training), ``free_bits`` nats per latent dimension, ``kl_anneal_steps`` of linear KL
    warm-up (0: off)."""

    vocab_size: int = 16
    embed_dim: int = 32
    hidden_dim: int = 64
    latent_dim: int = 8
    word_dropout: float = 0.0
    free_bits: float = 0.0
    kl_anneal_steps: int = 0

    def __post_init__(self) -> None:
        check_at_least(self, 1, "vocab_size", "embed_dim", "hidden_dim", "latent_dim")
        check_at_least(self, 0, "free_bits", "kl_anneal_steps")
        if not 0 <= self.word_dropout < 1:
            raise ValueError(f"word_dropout={self.word_dropout} must be in [0, 1)")


@dataclass
class SequenceVAEOutput:
    """``loss`` the objective; ``reconstruction`` the summed token cross-entropy and ``kl`` KL(q || p), batch
    means in nats; ``mean`` (B, Z) the posterior means."""

    loss: Tensor
    reconstruction: Tensor
    kl: Tensor
    mean: Tensor


class SequenceVAE(PretrainedMixin, nn.Module):
    config_class = SequenceVAEConfig

    def __init__(self, config: SequenceVAEConfig) -> None:
        super().__init__()
        self.config = config
        v, e, h, z = config.vocab_size, config.embed_dim, config.hidden_dim, config.latent_dim
        self.bos, self.unk = v, v + 1
        self.embed = nn.Embedding(v + 2, e)
        self.encoder = nn.GRU(e, h, batch_first=True)
        self.to_posterior = nn.Linear(h, 2 * z)
        self.to_initial_state = nn.Linear(z, h)
        self.decoder = nn.GRU(e + z, h, batch_first=True)
        self.head = nn.Linear(h, v)

    def encode(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """q(z|x) of tokens (B, L): ``(mean, logvar)``, each (B, Z)."""
        _, last = self.encoder(self.embed(tokens))  # last: (1, B, H)
        mean, logvar = self.to_posterior(last[0]).chunk(2, dim=-1)  # (B, 2Z) -> 2 x (B, Z)
        return mean, logvar

    def decode(self, z: Tensor, inputs: Tensor) -> Tensor:
        """Next-token logits (B, L, V) given z (B, Z) and the decoder's input tokens (B, L) (<bos>, x_1..x_{L-1})."""
        b, length = inputs.shape
        steps = torch.cat([self.embed(inputs), z[:, None, :].expand(b, length, z.shape[-1])], dim=-1)  # (B, L, E+Z)
        h0 = torch.tanh(self.to_initial_state(z))[None]  # (1, B, H)
        out, _ = self.decoder(steps, h0)  # (B, L, H)
        return self.head(out)

    def decoder_inputs(self, tokens: Tensor, *, generator: Optional[torch.Generator] = None) -> Tensor:
        """<bos> followed by x_1..x_{L-1} (B, L); in training each symbol is <unk> with probability word_dropout."""
        inputs = torch.cat([torch.full_like(tokens[:, :1], self.bos), tokens[:, :-1]], dim=1)  # (B, L)
        if self.training and self.config.word_dropout > 0:
            device = generator.device if generator is not None else tokens.device
            drop = torch.rand(inputs.shape, generator=generator, device=device).to(tokens.device)
            drop = drop < self.config.word_dropout
            drop[:, 0] = False  # <bos> stays
            inputs = inputs.masked_fill(drop, self.unk)
        return inputs

    def loss(self, tokens: Tensor, *, kl_weight: float = 1.0,
             generator: Optional[torch.Generator] = None) -> SequenceVAEOutput:
        """The negative ELBO of tokens (B, L), the KL weighted by ``kl_weight`` and floored by free bits."""
        mean, logvar = self.encode(tokens)
        z = reparameterize(mean, logvar, generator=generator)
        logits = self.decode(z, self.decoder_inputs(tokens, generator=generator))  # (B, L, V)
        reconstruction = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none").sum(-1).mean()  # (B, V, L)
        kl = gaussian_kl(mean, logvar)  # (B, Z)
        loss = reconstruction + kl_weight * free_bits_kl(kl, self.config.free_bits)
        return SequenceVAEOutput(loss=loss, reconstruction=reconstruction, kl=kl.sum(-1).mean(), mean=mean)


class TopicSequences:
    """Sequences of ``length`` symbols from one of ``n_topics`` Markov chains (see the module docstring); the
    chains are fixed by ``task_seed`` (the ``"task"`` stream of ``archlab.data.streams``)."""

    def __init__(self, *, vocab_size: int = 16, n_topics: int = 8, length: int = 16, sharpness: float = 5.0,
                 task_seed: int = 0) -> None:
        g = step_generator(task_seed, "task", 0)
        weights = torch.empty(n_topics, vocab_size + 1, vocab_size).exponential_(generator=g) ** sharpness
        self.start = weights[:, 0] / weights[:, 0].sum(-1, keepdim=True)  # (T, V)
        self.transitions = weights[:, 1:] / weights[:, 1:].sum(-1, keepdim=True)  # (T, V, V)
        self.vocab_size, self.n_topics, self.length = vocab_size, n_topics, length

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``(tokens (n, L), topics (n,))``."""
        topics = torch.randint(0, self.n_topics, (n,), generator=generator)
        tokens = torch.empty(n, self.length, dtype=torch.long)
        tokens[:, 0] = torch.multinomial(self.start[topics], 1, generator=generator)[:, 0]
        for t in range(1, self.length):
            rows = self.transitions[topics, tokens[:, t - 1]]  # (n, V)
            tokens[:, t] = torch.multinomial(rows, 1, generator=generator)[:, 0]
        return tokens, topics


class TopicVAETask(SampledTask):
    """Train a ``SequenceVAE`` on ``TopicSequences``; batches ``(tokens, topics)`` (the topic is never seen by
    the model); logs reconstruction, KL, KL weight and active units."""

    def __init__(self, model: SequenceVAE, data: TopicSequences, *, batch_size: int, seed: int,
                 eval_size: int = 1000) -> None:
        super().__init__(batch_size=batch_size, seed=seed, eval_size=eval_size)
        self.model, self.data = model, data
        self.kl_weight = 1.0

    def sample(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return self.data.sample(size, generator)

    def train_batch(self, step: int, substep: int = 0) -> tuple[Tensor, Tensor]:
        self.kl_weight = kl_anneal_weight(step, self.model.config.kl_anneal_steps)
        return super().train_batch(step, substep)

    def loss(self, batch: tuple[Tensor, Tensor], player: str) -> LossOutput:
        out = self.model.loss(batch[0], kl_weight=self.kl_weight)
        return LossOutput(out.loss, {"reconstruction": out.reconstruction, "kl": out.kl, "kl_weight": self.kl_weight,
                                     "active_units": float(active_units(out.mean.detach()))})

    def evaluate(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        out = self.model.loss(batch[0])
        return {"val_loss": out.loss, "val_reconstruction": out.reconstruction, "val_kl": out.kl}
