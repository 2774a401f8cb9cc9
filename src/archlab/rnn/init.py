"""Initialisations of recurrent cells beyond torch's uniform default.

- ``orthogonal_recurrent_``: each gate block of ``W_hh`` a random orthogonal H x H matrix (Saxe et al. 2014;
  Le et al. 2015 and Henaff et al. 2016 for recurrent nets), so that at initialisation the linear part of
  the recurrence neither shrinks nor grows the state.
- ``forget_bias_``: a constant forget-gate bias (Gers et al. 2000 propose a positive one; Jozefowicz et al.
  2015 recommend 1), so that the LSTM remembers by default.
- ``chrono_``: chrono initialisation (Tallec and Ollivier 2018): ``b_f ~ log(U[1, T_max - 1])`` and
  ``b_i = -b_f``, which spreads the characteristic forgetting times ``1 / (1 - sigma(b_f))`` over
  ``[2, T_max]`` for dependencies up to ``T_max`` steps.

For the GRU the update gate ``z`` weighs the old state (``h' = (1 - z) n + z h``), so it plays the forget
gate's role: ``forget_bias_`` sets ``b_z`` and ``chrono_`` sets ``b_z ~ log(U[1, T_max - 1])``; the GRU has
no separate input gate (its input weight is ``1 - z``). The Elman cell has no gates: both raise ValueError.
Biases are written to ``bias_ih`` with the matching block of ``bias_hh`` zeroed, so their sum is the value.
"""

from __future__ import annotations

import torch
from archlab.rnn.cells import GRUCell, LSTMCell, RecurrentCell


def orthogonal_recurrent_(cell: RecurrentCell, *, generator: torch.Generator | None = None) -> None:
    """Set each of the G gate blocks (H, H) of ``cell.weight_hh`` to a random orthogonal matrix."""
    h = cell.hidden_size
    with torch.no_grad():
        for k in range(cell.gates):
            a = torch.randn(h, h, generator=generator, dtype=torch.float64)
            q, r = torch.linalg.qr(a)
            q = q * torch.sign(torch.diagonal(r))[None, :]  # Haar-distributed (Mezzadri 2007)
            cell.weight_hh[k * h:(k + 1) * h] = q.to(cell.weight_hh.dtype)


def _forget_block(cell: RecurrentCell) -> slice:
    h = cell.hidden_size
    if isinstance(cell, LSTMCell):
        return slice(h, 2 * h)  # blocks i, f, g, o
    if isinstance(cell, GRUCell):
        return slice(h, 2 * h)  # blocks r, z, n
    raise ValueError(f"{type(cell).__name__} has no forget gate; forget_bias and chrono apply to LSTM and GRU")


def _set_bias(cell: RecurrentCell, block: slice, values: torch.Tensor) -> None:
    if cell.bias_ih is None:
        raise ValueError("bias=False: a cell without biases cannot take a forget-gate bias or chrono init")
    with torch.no_grad():
        cell.bias_ih[block] = values
        cell.bias_hh[block] = 0.0


def forget_bias_(cell: RecurrentCell, value: float) -> None:
    """Set the forget-gate bias (LSTM ``b_f``, GRU ``b_z``) to ``value``."""
    block = _forget_block(cell)
    _set_bias(cell, block, torch.full((cell.hidden_size,), float(value)))


def chrono_(cell: RecurrentCell, t_max: float, *, generator: torch.Generator | None = None) -> None:
    """Chrono initialisation for dependencies up to ``t_max`` steps (Tallec and Ollivier 2018, Section 4)."""
    if t_max <= 2:
        raise ValueError(f"chrono_t_max={t_max} must be > 2 (b_f ~ log U[1, t_max - 1])")
    block = _forget_block(cell)
    u = torch.rand(cell.hidden_size, generator=generator, dtype=torch.float64)
    b_f = torch.log(1 + u * (t_max - 2))  # log U[1, t_max - 1]
    _set_bias(cell, block, b_f)
    if isinstance(cell, LSTMCell):
        _set_bias(cell, slice(0, cell.hidden_size), -b_f)  # b_i = -b_f


def initialise_cell(cell: RecurrentCell, *, recurrent_init: str, forget_bias: float | None,
                    chrono_t_max: float | None, generator: torch.Generator | None = None) -> None:
    """Apply the layer options: ``recurrent_init`` ("uniform": torch's default, kept; "orthogonal"), then a
    ``forget_bias`` or chrono initialisation (at most one of the two; None: keep the uniform biases)."""
    if recurrent_init == "orthogonal":
        orthogonal_recurrent_(cell, generator=generator)
    elif recurrent_init != "uniform":
        raise ValueError(f"recurrent_init={recurrent_init!r} is not one of 'uniform', 'orthogonal'")
    if chrono_t_max is not None and forget_bias is not None:
        raise ValueError(f"forget_bias={forget_bias} and chrono_t_max={chrono_t_max}: choose one gate-bias init")
    if chrono_t_max is not None:
        chrono_(cell, chrono_t_max, generator=generator)
    elif forget_bias is not None:
        forget_bias_(cell, forget_bias)

