"""CLIP: symmetric InfoNCE by hand on a 3 x 3 case, the gap / cone / retrieval measures on known inputs, the
temperature's modes, config rules, save / load."""

import math

import pytest
import torch

from archlab.multimodal import vocab
from archlab.multimodal.clip import CLIP, CLIPConfig
from archlab.multimodal.contrastive import (mean_pairwise_cosine, modality_gap, retrieval_top1,
                                            symmetric_infonce)

TINY = dict(vision_width=16, text_width=16, projection_dim=8, vision_layers=1, text_layers=1)


def test_symmetric_infonce_by_hand_3x3():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])  # normalised: e1, e2, (e1 + e2) / sqrt 2
    y = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, -5.0]])  # normalised: e1, (e1 + e2) / sqrt 2, -e2
    r = 1 / math.sqrt(2)
    sims = [[1, r, 0], [0, r, -1], [r, 1, -r]]  # cos(x_i, y_j)
    s = 2.0
    logits = [[s * v for v in row] for row in sims]

    def ce(row, target):
        return -(row[target] - math.log(sum(math.exp(v) for v in row)))

    image_to_text = sum(ce(logits[i], i) for i in range(3)) / 3
    text_to_image = sum(ce([logits[j][i] for j in range(3)], i) for i in range(3)) / 3
    expected = (image_to_text + text_to_image) / 2
    assert symmetric_infonce(x, y, s).item() == pytest.approx(expected, abs=1e-6)
    # The two directions differ here, so a one-directional loss would fail the check above.
    assert abs(image_to_text - text_to_image) > 1e-3
    # Swapping the modalities transposes the logits: the symmetric loss is unchanged.
    assert symmetric_infonce(y, x, s).item() == pytest.approx(expected, abs=1e-6)


def test_gap_cone_and_retrieval_on_known_inputs():
    x = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    y = -x
    assert modality_gap(x, y).item() == pytest.approx(math.sqrt(2))  # means (.5, .5) and (-.5, -.5)
    assert modality_gap(x, 5 * x).item() == pytest.approx(0.0)  # on normalised embeddings, scale does not matter
    assert mean_pairwise_cosine(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])).item() == pytest.approx(-1 / 3)
    assert retrieval_top1(x, x).item() == 1.0 and retrieval_top1(x, x.flip(0)).item() == 0.0


def test_forward_shapes_and_temperature_modes():
    torch.manual_seed(0)
    model = CLIP(CLIPConfig(**TINY))
    ids, mask = vocab.pad([vocab.encode("a handwritten two"), vocab.encode("a handwritten seven"),
                           vocab.encode("yes")])
    out = model(torch.rand(3, 1, 8, 8), ids, mask)
    assert out.logits_per_image.shape == (3, 3)
    assert model.scale().item() == pytest.approx(1 / 0.07, rel=1e-5)
    out.loss.backward()
    assert model.logit_scale.grad is not None
    fixed = CLIP(CLIPConfig(**TINY, temperature="fixed", init_temperature=0.5))
    assert "logit_scale" not in dict(fixed.named_parameters()) and fixed.scale().item() == pytest.approx(2.0)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert model.scale().item() == pytest.approx(100.0)  # clamped: tau >= 0.01


def test_padding_does_not_change_the_text_features():
    torch.manual_seed(0)
    model = CLIP(CLIPConfig(**TINY)).eval()
    short = torch.tensor([vocab.encode("a handwritten two")])
    padded, mask = vocab.pad([vocab.encode("a handwritten two"), vocab.encode("a three to the left of an eight")])
    assert torch.allclose(model.encode_text(short)[0], model.encode_text(padded, mask)[0], atol=1e-5)


@pytest.mark.parametrize("overrides, message", [
    (dict(patch_size=3), "image_size=8 must be divisible by patch_size=3"),
    (dict(vision_width=18, vision_heads=4), "vision_width=18 must be divisible by vision_heads=4"),
    (dict(projection_dim=0), "projection_dim=0 must be >= 1"),
    (dict(temperature="warm"), "temperature='warm' is not one of 'learnable', 'fixed'"),
    (dict(init_temperature=0.0), "init_temperature=0.0 must be > 0"),
    (dict(text_ff=0), "text_ff=0 must be >= 1"),
])
def test_config_rules(overrides, message):
    with pytest.raises(ValueError, match=message):
        CLIPConfig(**overrides)


def test_save_and_load(tmp_path):
    torch.manual_seed(0)
    model = CLIP(CLIPConfig(**TINY)).eval()
    model.save_pretrained(tmp_path)
    loaded = CLIP.from_pretrained(tmp_path).eval()
    images = torch.rand(2, 1, 8, 8)
    assert torch.equal(model.encode_image(images), loaded.encode_image(images))
    # vision 3,696 + text 4,048 + projections 256 + the logit scale
    assert sum(p.numel() for p in model.parameters()) == 8_001
