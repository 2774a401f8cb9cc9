"""Transformers: the decoder-only language model (GPT-2 and Llama presets) and its claims."""

from archlab.transformer.lm import DecoderLM, DecoderState, LMConfig, LMOutput, gpt2_config, llama_config

__all__ = ["DecoderLM", "DecoderState", "LMConfig", "LMOutput", "gpt2_config", "llama_config"]
