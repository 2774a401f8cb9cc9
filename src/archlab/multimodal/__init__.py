"""The multimodal family: images, audio and video into token space; contrastive (CLIP), projector (LLaVA) and
gated cross-attention (Flamingo) fusion; the modality-gap claims (Liang et al. 2022)."""
