"""Transformers: the decoder (GPT-2 and Llama presets), the BERT-style encoder, sentence embeddings, weight
interop with Hugging Face transformers, and the family's claims."""

from archlab.transformer.encoder import Encoder, EncoderConfig, bert_config, pool
from archlab.transformer.lm import DecoderLM, DecoderModel, LMConfig, gpt2_config, llama_config
from archlab.transformer.sentence import SentenceEncoder, SentenceEncoderConfig

__all__ = [
    "DecoderLM", "DecoderModel", "Encoder", "EncoderConfig", "LMConfig", "SentenceEncoder",
    "SentenceEncoderConfig", "bert_config", "gpt2_config", "llama_config", "pool",
]
