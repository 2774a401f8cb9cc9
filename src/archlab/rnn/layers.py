"""Recurrent layers over the cells: several layers, one or two directions, initial state in, final state out.

``RNN``, ``LSTM`` and ``GRU`` compute what ``torch.nn.RNN/LSTM/GRU`` compute, from ``archlab.rnn.cells``:

    output, final_state = layer(x, state)

- ``x``: (B, L, I) with ``layout="batch_first"`` (the default: archlab's public shapes are batch-first), or
  (L, B, I) with ``layout="time_first"`` (torch's default layout, for modules converted from torch).
- ``output``: the last layer's h at every step, (B, L, dirs * H) (or (L, B, dirs * H)); with
  ``direction="bidirectional"`` the forward and backward halves are concatenated, forward first.
- ``state`` / ``final_state``: torch's layout in both layouts, ``h`` (n_layers * dirs, B, H) with row
  ``layer * dirs + direction``; the LSTM's is the pair ``(h, c)``. ``state=None`` starts from zeros.
- ``dropout`` acts on each layer's output except the last, in training mode only (as in torch).

Per layer and direction, the input terms of every step are one matmul over the whole sequence
(``cell.input_projection``); only the recurrent terms run step by step (``cell.recur``). ``step(x_t, state)``
advances a unidirectional stack by one time step and agrees with ``forward``; ``init_state(batch)`` is the
zero state. ``path="auto"`` runs the LSTM's recurrence through ``archlab.rnn.fused`` and the GRU's through
``archlab.rnn.fused_gru`` (one autograd node per sequence, a hand-written backward); ``path="stepwise"`` steps
the readable cells, the reference they are tested against (the Elman layer always steps). Options:
``recurrent_init="orthogonal"``, ``forget_bias`` and ``chrono_t_max`` (see ``archlab.rnn.init``). Not supported:
packed sequences, LSTM projections (torch's ``proj_size``).
"""

from __future__ import annotations

from typing import Literal, Optional, Union

import torch
from torch import nn

from archlab.rnn.cells import CELLS, CellState, GRUCell, LSTMCell, RecurrentCell
from archlab.rnn.fused import lstm_sequence
from archlab.rnn.fused_gru import gru_sequence
from archlab.rnn.init import initialise_cell

LayerState = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]
Kind = Literal["rnn", "lstm", "gru"]
Direction = Literal["forward", "bidirectional"]
Layout = Literal["batch_first", "time_first"]
RecurrentInit = Literal["uniform", "orthogonal"]
Path = Literal["auto", "stepwise"]


class RecurrentLayer(nn.Module):
    """A stack of recurrent cells of one ``kind`` ("rnn", "lstm", "gru"); see the module docstring."""

    def __init__(
        self,
        *,
        kind: Kind,
        input_size: int,
        hidden_size: int,
        n_layers: int = 1,
        bias: bool = True,
        direction: Direction = "forward",
        layout: Layout = "batch_first",
        dropout: float = 0.0,
        nonlinearity: Literal["tanh", "relu"] = "tanh",
        recurrent_init: RecurrentInit = "uniform",
        forget_bias: Optional[float] = None,
        chrono_t_max: Optional[float] = None,
        generator: Optional[torch.Generator] = None,
        path: Path = "auto",
    ) -> None:
        super().__init__()
        if kind not in CELLS:
            raise ValueError(f"kind={kind!r} is not one of {', '.join(CELLS)}")
        if n_layers < 1:
            raise ValueError(f"n_layers={n_layers} must be >= 1")
        if direction not in ("forward", "bidirectional"):
            raise ValueError(f"direction={direction!r} is not one of 'forward', 'bidirectional'")
        if layout not in ("batch_first", "time_first"):
            raise ValueError(f"layout={layout!r} is not one of 'batch_first', 'time_first'")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout} must be in [0, 1)")
        if path not in ("auto", "stepwise"):
            raise ValueError(f"path={path!r} is not one of 'auto', 'stepwise'")
        if kind != "rnn" and nonlinearity != "tanh":
            raise ValueError(f"nonlinearity={nonlinearity!r} applies to kind='rnn' only")
        self.kind, self.hidden_size, self.n_layers = kind, hidden_size, n_layers
        self.direction, self.layout, self.path = direction, layout, path
        self.dirs = 2 if direction == "bidirectional" else 1
        extra = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
        cells = []
        for layer in range(n_layers):
            for _ in range(self.dirs):
                size = input_size if layer == 0 else hidden_size * self.dirs
                cell = CELLS[kind](input_size=size, hidden_size=hidden_size, bias=bias, **extra)
                initialise_cell(cell, recurrent_init=recurrent_init, forget_bias=forget_bias,
                                chrono_t_max=chrono_t_max, generator=generator)
                cells.append(cell)
        self.cells = nn.ModuleList(cells)  # index layer * dirs + direction, as torch's weight_*_l{layer}[_reverse]
        self.dropout = nn.Dropout(dropout)
        self.input_size = input_size

    @property
    def is_lstm(self) -> bool:
        return self.kind == "lstm"

    # --- state --------------------------------------------------------------------------------------

    def init_state(self, batch: int) -> LayerState:
        """Zeros of (n_layers * dirs, B, H); for the LSTM the pair (h, c)."""
        w = self.cells[0].weight_hh
        h = w.new_zeros(self.n_layers * self.dirs, batch, self.hidden_size)
        return (h, h.clone()) if self.is_lstm else h

    def _cell_state(self, state: LayerState, index: int) -> CellState:
        if self.is_lstm:
            return state[0][index], state[1][index]
        return state[index]

    def _stack_states(self, states: list[CellState]) -> LayerState:
        if self.is_lstm:
            return torch.stack([s[0] for s in states]), torch.stack([s[1] for s in states])  # 2 x (layers*dirs, B, H)
        return torch.stack(states)  # (layers*dirs, B, H)

    def _check_state(self, state: LayerState, batch: int) -> None:
        expected = (self.n_layers * self.dirs, batch, self.hidden_size)
        parts = state if self.is_lstm else (state,)
        if self.is_lstm and not (isinstance(state, tuple) and len(state) == 2):
            raise ValueError("an LSTM state is a pair (h, c)")
        for part in parts:
            if tuple(part.shape) != expected:
                raise ValueError(f"state has shape {tuple(part.shape)}; expected (n_layers * dirs, batch, hidden) "
                                 f"= {expected}")

    # --- forward ------------------------------------------------------------------------------------

    def _run(self, cell: RecurrentCell, x: torch.Tensor, state: CellState, reverse: bool
             ) -> tuple[torch.Tensor, CellState]:
        """One cell over ``x`` (B, L, I): outputs (B, L, H) and final state."""
        if self.path == "auto" and isinstance(cell, LSTMCell):
            return lstm_sequence(cell, x, state, reverse=reverse)
        if self.path == "auto" and isinstance(cell, GRUCell):
            return gru_sequence(cell, x, state, reverse=reverse)
        return self._run_stepwise(cell, cell.input_projection(x), state, reverse)

    @staticmethod
    def _run_stepwise(cell: RecurrentCell, gi: torch.Tensor, state: CellState, reverse: bool
                      ) -> tuple[torch.Tensor, CellState]:
        """The recurrence of one cell over the input terms ``gi`` (B, L, G*H): outputs (B, L, H) and final state."""
        steps = gi.unbind(dim=1)  # L x (B, G*H); one backward node (gi[:, t] would zero-fill (B, L, G*H) per step)
        length = len(steps)
        outputs: list[Optional[torch.Tensor]] = [None] * length
        for t in (range(length - 1, -1, -1) if reverse else range(length)):
            state = cell.recur(steps[t], state)
            outputs[t] = cell.output(state)
        return torch.stack(outputs, dim=1), state  # (B, L, H)

    def forward(self, x: torch.Tensor, state: Optional[LayerState] = None) -> tuple[torch.Tensor, LayerState]:
        """``x`` (B, L, I) (time_first: (L, B, I)) -> ``(output, final_state)``; see the module docstring."""
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must be (batch, length, {self.input_size}) (time_first: (length, batch, "
                             f"{self.input_size})), got shape {tuple(x.shape)}")
        if self.layout == "time_first":
            x = x.transpose(0, 1)  # (L, B, I) -> (B, L, I)
        if x.shape[1] == 0:
            raise ValueError("x has length 0; a recurrent layer needs at least one time step")
        batch = x.shape[0]
        if state is None:
            state = self.init_state(batch)
        self._check_state(state, batch)
        finals: list[CellState] = []
        for layer in range(self.n_layers):
            if layer > 0:
                x = self.dropout(x)
            outs = []
            for d in range(self.dirs):
                index = layer * self.dirs + d
                cell = self.cells[index]
                out, final = self._run(cell, x, self._cell_state(state, index), reverse=d == 1)
                outs.append(out)
                finals.append(final)
            x = outs[0] if self.dirs == 1 else torch.cat(outs, dim=-1)  # (B, L, dirs * H)
        if self.layout == "time_first":
            x = x.transpose(0, 1)  # (B, L, dirs * H) -> (L, B, dirs * H)
        return x, self._stack_states(finals)

    def step(self, x_t: torch.Tensor, state: LayerState) -> tuple[torch.Tensor, LayerState]:
        """One time step of a unidirectional stack: ``x_t`` (B, I) -> ``(y_t (B, H), next_state)``."""
        if self.dirs != 1:
            raise ValueError("step needs direction='forward': a bidirectional layer reads the whole sequence")
        if x_t.dim() != 2 or x_t.shape[-1] != self.input_size:
            raise ValueError(f"x_t must be (batch, {self.input_size}), got shape {tuple(x_t.shape)}")
        self._check_state(state, x_t.shape[0])
        finals = []
        for layer, cell in enumerate(self.cells):
            if layer > 0:
                x_t = self.dropout(x_t)
            new = cell(x_t, self._cell_state(state, layer))
            finals.append(new)
            x_t = cell.output(new)
        return x_t, self._stack_states(finals)

    def extra_repr(self) -> str:
        return (f"kind={self.kind!r}, input_size={self.input_size}, hidden_size={self.hidden_size}, "
                f"n_layers={self.n_layers}, direction={self.direction!r}, layout={self.layout!r}, path={self.path!r}")


class RNN(RecurrentLayer):
    """Elman RNN layer (tanh or ReLU); keyword arguments as ``RecurrentLayer``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(kind="rnn", **kwargs)


class LSTM(RecurrentLayer):
    """LSTM layer; keyword arguments as ``RecurrentLayer``; states are pairs ``(h, c)``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(kind="lstm", **kwargs)


class GRU(RecurrentLayer):
    """GRU layer (torch's reset-after-matmul form); keyword arguments as ``RecurrentLayer``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(kind="gru", **kwargs)
