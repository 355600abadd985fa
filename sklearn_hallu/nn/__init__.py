"""PyTorch building blocks: backbone, multi-view encoder, prototype routine."""

from ._backbone import Backbone, ConvBlock, MultiViewEncoder
from ._prototypes import prototype_logits, prototypes, prototypical_loss

__all__ = [
    "ConvBlock",
    "Backbone",
    "MultiViewEncoder",
    "prototypes",
    "prototype_logits",
    "prototypical_loss",
]
