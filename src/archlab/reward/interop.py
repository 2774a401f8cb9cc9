"""Reward heads as people ship them: ``LlamaForSequenceClassification`` and ``GPT2ForSequenceClassification``
with ``num_labels=1``, as archlab ``RewardModel``s with the same weights.

The backbone (``reference.model`` for Llama, ``reference.transformer`` for GPT-2) goes through the family-neutral
converter registry, ``archlab.interop.from_transformers``, at run time; this module maps only the head::

    transformers          archlab
    score.weight (1, D)   score.weight (1, D)

The reference reads the logit at the rightmost position whose id is not ``config.pad_token_id`` (left or right
padding alike; the attention mask is not consulted), and the converted model keeps ``pad_token_id`` to read the
same token. With ``pad_token_id=None`` the reference reads the final position and refuses batches larger than
one; that case is refused here by name instead (set ``config.pad_token_id``). Other ``num_labels`` (a
classifier, not a reward) are refused too.
"""

from __future__ import annotations

from typing import Any

import torch

from archlab.reward.model import RewardModel


def _pad_token_id(reference: Any) -> int | None:
    config = reference.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return text.pad_token_id


def _convert(reference: Any, base: Any) -> RewardModel:
    from archlab.interop import from_transformers

    name = type(reference).__name__
    if reference.config.num_labels != 1:
        raise ValueError(f"{name} with num_labels={reference.config.num_labels} is a classifier; only num_labels=1 "
                         "(a scalar reward) converts to a RewardModel")
    pad_token_id = _pad_token_id(reference)
    if pad_token_id is None:
        raise ValueError(f"{name} with config.pad_token_id=None is not supported: the reference then reads the "
                         "final position and refuses batches of more than one; set config.pad_token_id")
    if reference.score.bias is not None:
        raise ValueError(f"{name}.score has a bias, which archlab's reward head does not")
    backbone = from_transformers(base)
    weight = reference.score.weight  # (1, D)
    model = RewardModel(backbone, weight.shape[1], pooling="last", pad_token_id=int(pad_token_id))
    model.to(dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        model.score.weight.copy_(weight)
    return model.train(reference.training)


def convert_llama_reward(reference: Any) -> RewardModel:
    """``LlamaForSequenceClassification`` (num_labels=1) -> ``RewardModel`` over an archlab Llama decoder."""
    return _convert(reference, reference.model)


def convert_gpt2_reward(reference: Any) -> RewardModel:
    """``GPT2ForSequenceClassification`` (num_labels=1) -> ``RewardModel`` over an archlab GPT-2 decoder."""
    return _convert(reference, reference.transformer)


TRANSFORMERS = {
    "LlamaForSequenceClassification": convert_llama_reward,
    "GPT2ForSequenceClassification": convert_gpt2_reward,
}
