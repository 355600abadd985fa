"""PyTorch building blocks: backbone, encoders, prototype routines and the episode loss."""

from ._backbone import Backbone, ConvBlock, MultiViewEncoder
from ._encoder import StandardizedEncoder
from ._fused import BatchNormPoolReLU, FusedConvBlock
from ._loss import PrototypicalLoss
from ._prototypes import (
    centered_l2,
    class_prototypes,
    embedding_stats,
    prototype_logits,
    prototypes,
    prototypical_loss,
)

__all__ = [
    "ConvBlock",
    "Backbone",
    "MultiViewEncoder",
    "BatchNormPoolReLU",
    "FusedConvBlock",
    "StandardizedEncoder",
    "PrototypicalLoss",
    "prototypes",
    "class_prototypes",
    "prototype_logits",
    "prototypical_loss",
    "embedding_stats",
    "centered_l2",
]
