"""Vision: CNNs from LeNet-5 to ConvNeXt, the Vision Transformer, weights from Hugging Face transformers,
image classification on the digits and on users' image folders, and the inductive-bias claims."""

from archlab.vision.classifier import ImageClassifier
from archlab.vision.convnext import ConvNeXt, ConvNeXtBlock, ConvNeXtConfig, convnext_config
from archlab.vision.lenet import LeNet5, LeNetConfig
from archlab.vision.plain import PlainCNN, PlainCNNConfig
from archlab.vision.resnet import ResidualBlock, ResNet, ResNetConfig, resnet_config
from archlab.vision.vit import ViT, ViTAttention, ViTConfig, ViTOutput, interpolate_positions, vit_config

__all__ = [
    "ConvNeXt", "ConvNeXtBlock", "ConvNeXtConfig", "ImageClassifier", "LeNet5", "LeNetConfig", "PlainCNN",
    "PlainCNNConfig", "ResNet", "ResNetConfig", "ResidualBlock", "ViT", "ViTAttention", "ViTConfig", "ViTOutput",
    "convnext_config", "interpolate_positions", "resnet_config", "vit_config",
]
