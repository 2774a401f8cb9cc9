"""``torch.nn.RNN``, ``torch.nn.LSTM`` and ``torch.nn.GRU`` as archlab recurrent layers with the same weights.

The converted layer takes the input in the torch module's own layout (``batch_first=True`` becomes
``layout="batch_first"``, ``batch_first=False`` becomes ``layout="time_first"``), and returns torch's
``(output, final_state)``: ``h_n`` (and ``c_n``) in torch's (n_layers * dirs, B, H) layout either way. Dropout
between layers carries over (active in training mode only, as in torch). LSTM projections (``proj_size > 0``)
have no archlab counterpart and raise ValueError.

Key mapping, for layer ``k`` and direction ``d`` (0 forward, 1 reverse; torch's suffix ``_reverse``)::

    torch                         archlab
    weight_ih_l{k}[_reverse]  ->  cells.{k * dirs + d}.weight_ih
    weight_hh_l{k}[_reverse]  ->  cells.{k * dirs + d}.weight_hh
    bias_ih_l{k}[_reverse]    ->  cells.{k * dirs + d}.bias_ih
    bias_hh_l{k}[_reverse]    ->  cells.{k * dirs + d}.bias_hh
"""

from __future__ import annotations

from typing import Any

import torch

from archlab.rnn.layers import RecurrentLayer

PARAMETER_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def torch_key_map(n_layers: int, dirs: int, *, bias: bool = True) -> dict[str, str]:
    """torch parameter name -> archlab parameter name for a stack of ``n_layers`` with ``dirs`` directions."""
    names = PARAMETER_NAMES if bias else PARAMETER_NAMES[:2]
    table = {}
    for layer in range(n_layers):
        for d in range(dirs):
            suffix = "_reverse" if d == 1 else ""
            for name in names:
                table[f"{name}_l{layer}{suffix}"] = f"cells.{layer * dirs + d}.{name}"
    return table


def _from_torch_recurrent(module: Any, kind: str) -> RecurrentLayer:
    if getattr(module, "proj_size", 0):
        raise ValueError(f"torch.nn.LSTM with proj_size={module.proj_size} is not supported (no projections)")
    dirs = 2 if module.bidirectional else 1
    extra = {"nonlinearity": module.nonlinearity} if kind == "rnn" else {}
    layer = RecurrentLayer(
        kind=kind, input_size=module.input_size, hidden_size=module.hidden_size, n_layers=module.num_layers,
        bias=module.bias, direction="bidirectional" if module.bidirectional else "forward",
        layout="batch_first" if module.batch_first else "time_first", dropout=module.dropout, **extra,
    )
    reference = module.state_dict()
    table = torch_key_map(module.num_layers, dirs, bias=module.bias)
    missing = sorted(set(reference) - set(table))
    if missing:
        raise ValueError(f"torch.nn.{type(module).__name__} has parameters archlab does not map: {missing}")
    param = next(iter(reference.values()))
    layer.to(dtype=param.dtype, device=param.device)
    layer.load_state_dict({table[k]: v for k, v in reference.items()}, strict=True)
    layer.train(module.training)
    return layer


def from_torch_rnn(module: torch.nn.RNN) -> RecurrentLayer:
    """An archlab Elman layer (tanh or ReLU) with the weights and layout of ``module``."""
    return _from_torch_recurrent(module, "rnn")


def from_torch_lstm(module: torch.nn.LSTM) -> RecurrentLayer:
    """An archlab LSTM layer with the weights and layout of ``module``."""
    return _from_torch_recurrent(module, "lstm")


def from_torch_gru(module: torch.nn.GRU) -> RecurrentLayer:
    """An archlab GRU layer with the weights and layout of ``module``."""
    return _from_torch_recurrent(module, "gru")


TORCH = {"RNN": from_torch_rnn, "LSTM": from_torch_lstm, "GRU": from_torch_gru}
