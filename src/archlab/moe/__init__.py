"""Mixture of experts: routers, balancing losses, capacity, grouped dispatch, expert parallelism, an MoE LM."""

from archlab.moe.layer import MoELayer, MoEOutput, RouterStats, expert_capacity

__all__ = ["MoELayer", "MoEOutput", "RouterStats", "expert_capacity"]
