"""The atlas hook: the projector-fusion model measured part by part."""

import pytest

from archlab.atlas.anatomy import anatomize, representative_model


def test_the_hook_measures_the_projector_fusion_model():
    model, inputs, method = representative_model("multimodal")
    anatomy = anatomize(model, inputs, method)
    names = [p.name for p in anatomy.top_level]
    assert {"vision", "projector", "blocks", "lm_head"} <= set(names)
    assert sum(p.share for p in anatomy.top_level) == pytest.approx(1.0)
    assert anatomy.output == f"({inputs[0].shape[0]}, {inputs[0].shape[1]}, {model.config.vocab_size})"
