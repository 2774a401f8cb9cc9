"""Mixture of experts: routers, balancing losses, capacity, grouped dispatch, expert parallelism, an MoE LM."""

from archlab.moe.layer import MoELayer, MoEOutput, RouterStats, expert_capacity
from archlab.moe.lm import MoEFeedForward, MoELM, MoELMConfig

__all__ = ["MoEFeedForward", "MoELM", "MoELMConfig", "MoELayer", "MoEOutput", "RouterStats",
           "expert_capacity"]
