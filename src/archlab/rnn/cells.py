"""Recurrent cells written from their equations: Elman (1990), LSTM (Hochreiter and Schmidhuber 1997, with the
forget gate of Gers et al. 2000) and GRU (Cho et al. 2014).

Each cell maps one time step ``x_t`` (B, I) and the previous state to the next state. The weights are stored
in torch's layout, so that ``torch.nn.RNN/LSTM/GRU`` weights load unchanged (``archlab.rnn.interop``):
``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih`` and ``bias_hh`` (G*H,), with the G gate blocks
stacked in torch's order. Symbols (the papers' on the right):

- Elman: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or ReLU), h the context units.
- LSTM, blocks (i, f, g, o): ``i = sigma(.)`` input gate, ``f = sigma(.)`` forget gate (Gers et al.),
  ``g = tanh(.)`` cell input, ``o = sigma(.)`` output gate, each ``(.) = W_i* x + b_i* + W_h* h + b_h*``;
  ``c' = f * c + i * g`` (the constant error carousel when f = 1), ``h' = o * tanh(c')``. No peepholes.
- GRU, blocks (r, z, n): ``r = sigma(W_ir x + b_ir + W_hr h + b_hr)`` reset gate,
  ``z = sigma(W_iz x + b_iz + W_hz h + b_hz)`` update gate, ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``,
  ``h' = (1 - z) * n + z * h`` (Cho et al.'s ``h' = z * h + (1 - z) * h~``: z keeps the old state). One
  departure from Cho et al., torch's, kept for interop: the reset gate multiplies ``W_hn h + b_hn`` after the
  matmul, where Cho et al. write ``tanh(W x + U (r * h))``.

The work of a step is split in two so that layers can batch the first part over the whole sequence:
``input_projection(x)`` computes the input terms ``W_ih x + b`` (any leading shape) and ``recur(gi_t, state)``
adds the recurrent terms and applies the gates. ``forward(x_t, state)`` is the two in a row.
"""

from __future__ import annotations

from typing import Literal, Union

import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.validation import check_at_least

LSTMState = tuple[torch.Tensor, torch.Tensor]
CellState = Union[torch.Tensor, LSTMState]
Nonlinearity = Literal["tanh", "relu"]


class RecurrentCell(nn.Module):
    """Shared parameters and default initialisation of the three cells; ``gates`` is G, the number of blocks."""

    gates: int = 1

    def __init__(self, *, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        check_at_least({"input_size": input_size, "hidden_size": hidden_size}, 1)
        self.input_size, self.hidden_size = input_size, hidden_size
        width = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(width, input_size))
        self.weight_hh = nn.Parameter(torch.empty(width, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(width)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(width)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias: torch's default for its recurrent modules."""
        bound = self.hidden_size ** -0.5
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def init_state(self, batch: int) -> CellState:
        """The zero state for ``batch`` sequences."""
        return self.weight_hh.new_zeros(batch, self.hidden_size)

    def input_projection(self, x: torch.Tensor) -> torch.Tensor:
        """The input terms of every gate: (..., I) -> (..., G*H)."""
        raise NotImplementedError

    def recur(self, gi: torch.Tensor, state: CellState) -> CellState:
        """One step from the input terms ``gi`` (B, G*H) of ``input_projection`` and the previous state."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, state: CellState | None = None) -> CellState:
        """One time step: ``x`` (B, I) and the previous state (zeros when None) -> the next state."""
        if state is None:
            state = self.init_state(x.shape[0])
        return self.recur(self.input_projection(x), state)

    @staticmethod
    def output(state: CellState) -> torch.Tensor:
        """The cell's output at a step: h (B, H)."""
        return state[0] if isinstance(state, tuple) else state

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(RecurrentCell):
    """Elman (1990) cell: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, act tanh (default) or ReLU."""

    gates = 1

    def __init__(self, *, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: Nonlinearity = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity={nonlinearity!r} is not one of 'tanh', 'relu'")
        super().__init__(input_size=input_size, hidden_size=hidden_size, bias=bias)
        self.nonlinearity = nonlinearity

    def input_projection(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        return F.linear(x, self.weight_ih, bias)  # (..., H)

    def recur(self, gi: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        pre = torch.addmm(gi, state, self.weight_hh.t())  # (B, H)
        return torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, nonlinearity={self.nonlinearity!r}"


class LSTMCell(RecurrentCell):
    """LSTM cell with a forget gate (Gers et al. 2000), gate blocks (i, f, g, o); state ``(h, c)``."""

    gates = 4

    def init_state(self, batch: int) -> LSTMState:
        zeros = self.weight_hh.new_zeros(batch, self.hidden_size)
        return zeros, zeros.clone()

    def input_projection(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        return F.linear(x, self.weight_ih, bias)  # (..., 4H)

    def recur(self, gi: torch.Tensor, state: LSTMState) -> LSTMState:
        h, c = state
        gates = torch.addmm(gi, h, self.weight_hh.t())  # (B, 4H): blocks i, f, g, o
        i, f, g, o = gates.chunk(4, dim=-1)  # 4 x (B, H)
        c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_next = torch.sigmoid(o) * torch.tanh(c_next)
        return h_next, c_next


class GRUCell(RecurrentCell):
    """GRU cell (Cho et al. 2014) in torch's form, gate blocks (r, z, n); the reset gate acts after ``W_hn h``."""

    gates = 3

    def input_projection(self, x: torch.Tensor) -> torch.Tensor:
        if self.bias_ih is None:
            return F.linear(x, self.weight_ih)  # (..., 3H)
        h = self.hidden_size
        # b_hr and b_hz add to the input terms; b_hn stays inside r * (W_hn h + b_hn)
        bias = torch.cat((self.bias_ih[: 2 * h] + self.bias_hh[: 2 * h], self.bias_ih[2 * h:]))  # (3H,)
        return F.linear(x, self.weight_ih, bias)  # (..., 3H)

    def recur(self, gi: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        h = state
        gh = F.linear(h, self.weight_hh)  # (B, 3H)
        gi_r, gi_z, gi_n = gi.chunk(3, dim=-1)  # 3 x (B, H)
        gh_r, gh_z, gh_n = gh.chunk(3, dim=-1)  # 3 x (B, H)
        if self.bias_hh is not None:
            gh_n = gh_n + self.bias_hh[2 * self.hidden_size:]
        r = torch.sigmoid(gi_r + gh_r)
        z = torch.sigmoid(gi_z + gh_z)
        n = torch.tanh(gi_n + r * gh_n)
        return (1 - z) * n + z * h


CELLS: dict[str, type[RecurrentCell]] = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}
