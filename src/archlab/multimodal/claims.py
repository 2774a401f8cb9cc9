"""Claims of the multimodal family: the cone effect at initialisation, the modality gap a contrastive loss keeps,
the token budget of each modality, projector fusion, and relation grounding.

Each experiment lives in its own module (setup and what was measured in that module's docstring); this module
registers them with their rules, written from issue 16 before the first run.
"""

from __future__ import annotations

from archlab.lab.registry import claim
from archlab.multimodal.cone import cone_effect
from archlab.multimodal.grounding import projector_fusion
from archlab.multimodal.modality_gap import modality_gap_claim
from archlab.multimodal.relation import relation_grounding
from archlab.multimodal.token_budget import token_budget

claim(
    "multimodal.cone-effect",
    statement="Randomly initialised encoders already map inputs into a narrow cone, and two independently "
    "initialised encoders into two different cones: the modality gap exists before training.",
    source="Liang, Zhang, Kwon, Yeung, Zou 2022 (Mind the Gap), section 3",
    rule="1,000 512-d standard-normal inputs; width-512 MLPs, weights and biases ~ N(0, 1/512), each layer Linear "
    "then the nonlinearity, depths 1-8: without a nonlinearity the average pairwise cosine < 0.1 at every depth; "
    "at every depth >= 2 the ReLU or the sigmoid MLP has average cosine >= 0.5, and both rise with depth "
    "(non-decreasing from depth 1 to 8, depth 8 above depth 1); two independently initialised encoders (ReLU MLP "
    "of depth 4 then a linear projection) on identical inputs: centroid gap of normalised embeddings >= 0.5",
    threads=1,
)(cone_effect)

claim(
    "multimodal.token-budget",
    statement="A modality's token count grows with the square of an image's side and linearly with a video's "
    "frames and an audio clip's duration; self-attention's cost grows with the square of the tokens.",
    source="Dosovitskiy et al. 2021 (ViT); Arnab et al. 2021 (ViViT tubelets); Gong et al. 2021 (AST); "
    "Vaswani et al. 2017",
    rule="log-log slopes of tokens against image side (16-256 px, 16 x 16 patches) in [1.9, 2.1], against video "
    "frames (4-64, 2-frame tubelets) and audio seconds (1-16 s, 4 x 4 log-mel patches) in [0.9, 1.1]; attention "
    "FLOPs (scores and mixing) against tokens in [1.9, 2.1]; the counts equal the lengths the tokenisers return",
    threads=1,
)(token_budget)

claim(
    "multimodal.projector-fusion",
    statement="Image tokens projected into a language model's embedding space and prefixed to the text let it "
    "answer questions about the image; without the image the same model is at chance.",
    source="Liu, Li, Wu, Lee 2023 (Visual Instruction Tuning, LLaVA)",
    rule="trained 400 steps (batch 64) on 'what digit is this ?' over the training digits; on the 359 test digits "
    "accuracy with the projected image tokens >= 0.9, and the same model without the image <= 0.2 (chance 0.1)",
    threads=1,
)(projector_fusion)

claim(
    "multimodal.modality-gap",
    statement="A contrastively trained dual encoder keeps a gap between its two modalities' embeddings; a low "
    "temperature keeps it (closing it raises the loss), a high one lets it close.",
    source="Liang, Zhang, Kwon, Yeung, Zou 2022 (Mind the Gap), section 4",
    rule="two 3-layer MLP encoders on paired synthetic data (5 % mismatched), symmetric InfoNCE at fixed tau in "
    "{0.01, 0.03, 0.1, 1.0}, 800 steps of batch 64 each: the held-out gap is non-increasing in tau and "
    "gap(0.01) >= 2 x gap(1.0); retrieval top-1 >= 0.5 at every tau; on the tau = 0.01 model, shifting the "
    "embeddings to close the gap raises the loss at tau = 0.01 and lowers it at tau = 1",
    threads=1,
)(modality_gap_claim)

claim(
    "multimodal.relation-grounding",
    statement="On two-digit canvases the fused model identifies which digits are present far better than it "
    "answers which is left of which: the grounding failure of vision-language models that behave like bags of words.",
    source="Yuksekgonul, Bianchi, Kalluri, Jurafsky, Zou 2023 (When and why vision-language models behave like "
    "bags-of-words); Thrush et al. 2022 (Winoground)",
    rule="the projector-fusion model trained 200 steps (batch 64, learning rate 1.5e-3) on 'what digit is on the "
    "left / right ?' about two-digit canvases; on the test canvases' questions, from the same answers, identity "
    "accuracy (names a digit on the canvas; chance 0.2) minus relation accuracy (names the asked one; chance 0.1) "
    ">= 0.2",
    threads=1,
)(relation_grounding)
