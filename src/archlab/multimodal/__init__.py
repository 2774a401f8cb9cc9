"""The multimodal family: images, audio and video into token space; contrastive (CLIP), projector (LLaVA) and
gated cross-attention (Flamingo) fusion; the modality-gap claims (Liang et al. 2022)."""

from archlab.multimodal.clip import CLIP, CLIPConfig, CLIPOutput
from archlab.multimodal.digits import MultimodalDigits, multimodal_digits
from archlab.multimodal.encoders import ImageEncoder, TextEncoder
from archlab.multimodal.tokenizers import AudioTokenizer, ImageTokenizer, VideoTokenizer

__all__ = ["AudioTokenizer", "CLIP", "CLIPConfig", "CLIPOutput", "ImageEncoder", "ImageTokenizer",
           "MultimodalDigits", "TextEncoder", "VideoTokenizer", "multimodal_digits"]
