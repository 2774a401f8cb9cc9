"""``from_transformers(CLIPModel)``: image and text features equal the reference's within 1e-4 across small
configs (patch sizes, widths, projection dims, activations, padded text batches, both pooling conventions);
unmapped options refused by name."""

import pytest
import torch

from archlab.interop import from_transformers

transformers = pytest.importorskip("transformers")


def reference(*, patch=4, image=8, v_width=16, t_width=24, proj=12, act="quick_gelu", eos=5, layers=2, **extra):
    torch.manual_seed(0)
    text = dict(vocab_size=40, hidden_size=t_width, intermediate_size=2 * t_width + 4, num_hidden_layers=layers,
                num_attention_heads=2, max_position_embeddings=12, hidden_act=act, eos_token_id=eos,
                layer_norm_eps=1e-5)
    vision = dict(hidden_size=v_width, intermediate_size=3 * v_width, num_hidden_layers=layers,
                  num_attention_heads=4, image_size=image, patch_size=patch, num_channels=3, hidden_act=act,
                  layer_norm_eps=1e-6)
    text.update(extra.pop("text", {}))
    vision.update(extra.pop("vision", {}))
    config = transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=proj, **extra)
    model = transformers.CLIPModel(config).eval()
    with torch.no_grad():  # non-trivial norms so that a swapped norm would show
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


def features(out):
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def text_batch(eos):
    ids = torch.randint(6, 40, (3, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    ids[0, 8], ids[1, 5], ids[2, 3] = eos, eos, eos  # each text ends with its end token, then padding
    mask[1, 6:], mask[2, 4:] = 0, 0
    ids[1, 6:], ids[2, 4:] = 1, 1
    return ids, mask


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(patch=2, v_width=8, t_width=16, proj=20),
    dict(patch=8, image=16, v_width=32, proj=4, act="gelu", layers=1),
    dict(eos=2),  # transformers' original pooling at the largest id
])
def test_clip_features_equal_the_reference(kwargs):
    ref = reference(**kwargs)
    ours = from_transformers(ref).eval()
    pixels = torch.randn(2, 3, ref.config.vision_config.image_size, ref.config.vision_config.image_size)
    ids, mask = text_batch(kwargs.get("eos", 5))
    with torch.no_grad():
        image_ref = features(ref.get_image_features(pixel_values=pixels))
        text_ref = features(ref.get_text_features(input_ids=ids, attention_mask=mask))
        assert (ours.encode_image(pixels) - image_ref).abs().max().item() < 1e-4
        assert (ours.encode_text(ids, attention_mask=mask) - text_ref).abs().max().item() < 1e-4
        assert (ours.encode_text(ids[:1]) - features(ref.get_text_features(input_ids=ids[:1]))).abs().max() < 1e-4
    assert ours.scale().item() == pytest.approx(ref.logit_scale.exp().item(), rel=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(act="relu"), r"CLIPTextConfig.hidden_act='relu' is not supported"),
    (dict(text=dict(attention_dropout=0.1)), r"CLIPTextConfig.attention_dropout=0.1 is not supported"),
    (dict(vision=dict(dropout=0.2)), r"CLIPVisionConfig.dropout=0.2 is not supported"),
    (dict(vision=dict(hidden_act="gelu")), r"CLIPTextConfig.hidden_act='quick_gelu' differs"),
])
def test_unmapped_options_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        from_transformers(reference(layers=1, **kwargs))
