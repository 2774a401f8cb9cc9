"""The vision family's benchmark ``vision-vit``: archlab's ViT against transformers' ``ViTModel`` holding the
same weights, inference, side by side.

ViT-B/16 (``size="default"``: 224x224 RGB, batch 8, float32, 12 layers of width 768, eager attention through
SDPA on both sides) or a 2-layer width-64 ViT on 32x32 images (``"tiny"``, for tests). transformers' model is
built from its config with random weights (no hub), without the pooler (its ``last_hidden_state`` is the
primary output), and converted with ``archlab.interop.from_transformers``; both run under ``torch.no_grad`` in
eval mode on the same pixels, both eager (nothing compiled). archlab's side takes its ordinary CPU inference path
(``vision.inference``: the blocks' matrix products through oneDNN, bias and residual add fused), the one any
user gets in eval mode without gradients. ``extra`` holds the largest absolute difference of the two outputs
and the path archlab took.
"""

from __future__ import annotations

import torch

from archlab.bench.harness import BenchResult, compare
from archlab.bench.registry import benchmark
from archlab.errors import UserError

SIZES = {
    "default": dict(image_size=224, patch_size=16, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, batch=8),
    "tiny": dict(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=128, batch=2),
}


@benchmark("vision-vit", description="ViT-B/16 inference (224x224, batch 8, fp32) vs transformers' ViTModel, "
           "same weights", target=1.0)
def vision_vit(*, device: str = "cpu", repeats: int | None = None, size: str = "default", seed: int = 0) -> BenchResult:
    try:
        import transformers
    except ImportError:
        raise UserError("the vision-vit benchmark needs transformers as its peer: pip install transformers") from None
    from archlab.interop import from_transformers
    from archlab.vision.inference import onednn_applies

    settings = dict(SIZES[size])
    batch = settings.pop("batch")
    torch.manual_seed(seed)
    config = transformers.ViTConfig(**settings, attn_implementation="sdpa")
    peer = transformers.ViTModel(config, add_pooling_layer=False).eval().to(device)
    ours = from_transformers(peer).eval().to(device)
    pixels = torch.randn(batch, 3, settings["image_size"], settings["image_size"],
                         generator=torch.Generator().manual_seed(seed)).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else None
    with torch.no_grad():
        fused = device == "cpu" and onednn_applies(pixels, ours)
        diff = (ours(pixels) - peer(pixel_values=pixels).last_hidden_state).abs().max().item()
        result = compare("vision-vit", lambda: ours(pixels), lambda: peer(pixel_values=pixels),
                         repeats=repeats or (5 if size == "default" else 3), sync=sync, work=batch, unit="images",
                         device=device, peer="transformers ViTModel (sdpa attention)")
    result.config = dict(settings, batch=batch, dtype="float32")
    result.extra = {"max_abs_difference": diff,
                    "archlab_path": "eager, oneDNN fused linears (vision.inference)" if fused else "eager, core.Block"}
    return result
