"""Recurrent networks: Elman, LSTM and GRU cells and layers, a recurrent language model trained with truncated
backpropagation through time, the adding problem, and the claims about vanishing gradients and sequential cost."""

from archlab.rnn.cells import GRUCell, LSTMCell, RNNCell
from archlab.rnn.layers import GRU, LSTM, RNN, RecurrentLayer
from archlab.rnn.lm import RecurrentState, RNNLM, RNNLMConfig, gru_config, lstm_config
from archlab.rnn.tbptt import TBPTTTask

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNCell", "RNNLM", "RNNLMConfig", "RecurrentLayer",
           "RecurrentState", "TBPTTTask", "gru_config", "lstm_config"]
