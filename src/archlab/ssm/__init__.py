"""State space models: HiPPO, S4D, Mamba (selective SSM), linear attention as a recurrent model, hybrids with
attention, and their claims."""

from archlab.ssm.linear_attention import (LinearAttention, LinearAttentionLM, LinearAttentionLMConfig,
                                          LinearAttentionLMState)
from archlab.ssm.lm import ConvAttention, MambaBackbone, MambaLM, MambaLMConfig, MambaLMState, interleaved_layers
from archlab.ssm.mamba import MambaMixer, MambaState
from archlab.ssm.s4d import S4D

__all__ = ["ConvAttention", "LinearAttention", "LinearAttentionLM", "LinearAttentionLMConfig",
           "LinearAttentionLMState", "MambaBackbone", "MambaLM", "MambaLMConfig", "MambaLMState", "MambaMixer",
           "MambaState", "S4D", "interleaved_layers"]
