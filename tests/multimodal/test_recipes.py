"""``archlab train multimodal --fusion ...`` and ``archlab sample multimodal``: each fusion trains a few steps
through the one loop, saves, loads by its config and samples."""

import argparse
import dataclasses

import pytest

from archlab.core.io import load_pretrained
from archlab.lab.experiment import quick_fit
from archlab.train.recipe import all_recipes, samplers

SMALL = dict(vision_width=16, vision_layers=1)


def test_the_target_has_the_three_fusions():
    assert list(all_recipes()["multimodal"]) == ["clip", "projector", "cross-attention"]
    assert "multimodal" in samplers()


@pytest.mark.parametrize("fusion, questions", [("clip", None), ("projector", "digit"),
                                               ("cross-attention", "canvas")])
def test_train_save_load_and_sample(fusion, questions, tmp_path):
    recipe = all_recipes()["multimodal"][fusion]
    config = recipe.default_config()
    parser = argparse.ArgumentParser()
    recipe.add_arguments(parser)
    config = recipe.apply_arguments(config, parser.parse_args([] if questions is None else
                                                              ["--questions", questions]))
    small = dict(SMALL, text_width=16, text_layers=1) if fusion == "clip" else dict(SMALL, d_model=16, n_layers=1)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, **small))
    task = recipe.build_task(config)
    result = quick_fit(task, steps=2, lr=1e-3, batch_size=16, seed=0)
    assert result.history
    task.save_model(tmp_path)
    model = load_pretrained(tmp_path)
    out = recipe.sample(model, argparse.Namespace(n=1, seed=0))
    if fusion == "clip":
        assert "zero-shot retrieval accuracy over 359 test canvases among 90 captions" in out
    elif questions == "digit":
        assert "what digit is this ?" in out and "digit questions: accuracy" in out
    else:
        assert "relation questions: accuracy" in out and "identity questions: accuracy" in out
