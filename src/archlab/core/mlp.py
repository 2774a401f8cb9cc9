"""Position-wise feed-forward layers: the two-layer MLP and SwiGLU.

- MLP: Vaswani et al. 2017, ``W2 act(W1 x + b1) + b2``; GPT-2 uses the tanh approximation of GELU
  (Hendrycks and Gimpel 2016); CLIP (Radford et al. 2021) uses the sigmoid approximation ``x sigmoid(1.702 x)``
  of the same paper ("quick_gelu").
- SwiGLU: Shazeer 2020 ("GLU Variants Improve Transformer"), ``W_down (silu(W_gate x) * W_up x)``,
  as in Llama (Touvron et al. 2023).
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn

Activation = Literal["gelu", "gelu_tanh", "quick_gelu", "relu", "silu"]

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "relu": F.relu,
    "silu": F.silu,
}


def activation_fn(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation function called ``name``."""
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"activation={name!r} is not one of {', '.join(_ACTIVATIONS)}") from None


def hidden_layers(in_dim: int, hidden_dim: int, n_layers: int,
                  act: Callable[[], nn.Module] = nn.ReLU,
                  wrap: Callable[[nn.Module], nn.Module] = lambda layer: layer) -> tuple[list[nn.Module], int]:
    """The hidden part of a plain MLP, ``[wrap(Linear), act()] x n_layers``, and the width it ends at
    (``hidden_dim``, or ``in_dim`` when ``n_layers`` is 0); ``wrap`` may reparameterise each Linear (spectral
    norm)."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(n_layers):
        layers += [wrap(nn.Linear(width, hidden_dim)), act()]
        width = hidden_dim
    return layers, width


class MLP(nn.Module):
    """``fc2(dropout(act(fc1(x))))``: (..., D) -> (..., D)."""

    def __init__(
        self, *, d_model: int, d_hidden: int, activation: Activation = "gelu", bias: bool = True, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.act = activation_fn(activation)
        self.fc1 = nn.Linear(d_model, d_hidden, bias=bias)
        self.fc2 = nn.Linear(d_hidden, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.act(self.fc1(x))))


class SwiGLU(nn.Module):
    """``down(silu(gate(x)) * up(x))``: (..., D) -> (..., D)."""

    def __init__(self, *, d_model: int, d_hidden: int, bias: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.gate = nn.Linear(d_model, d_hidden, bias=bias)
        self.up = nn.Linear(d_model, d_hidden, bias=bias)
        self.down = nn.Linear(d_hidden, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.dropout(F.silu(self.gate(x)) * self.up(x)))
