"""PyTorch building blocks: backbone, encoders, prototype routines, the episode loss and
training-time augmentation."""

from ._augment import random_time_shift, spec_augment
from ._backbone import (
    POOLINGS,
    Backbone,
    ConvBlock,
    MultiViewEncoder,
    block_pools,
    pool_feature_map,
)
from ._encoder import StandardizedEncoder
from ._fused import BatchNormPoolReLU, FusedConvBlock
from ._loss import PrototypicalLoss
from ._prototypes import (
    LABEL_PROPAGATION,
    centered_l2,
    class_prototypes,
    embedding_stats,
    label_propagation,
    neighbour_graph,
    propagated_l2,
    prototype_logits,
    prototypes,
    prototypical_loss,
    whitened_l2,
    whitening_stats,
)

__all__ = [
    "ConvBlock",
    "Backbone",
    "MultiViewEncoder",
    "POOLINGS",
    "pool_feature_map",
    "block_pools",
    "BatchNormPoolReLU",
    "FusedConvBlock",
    "StandardizedEncoder",
    "PrototypicalLoss",
    "prototypes",
    "class_prototypes",
    "prototype_logits",
    "propagated_l2",
    "neighbour_graph",
    "label_propagation",
    "LABEL_PROPAGATION",
    "prototypical_loss",
    "embedding_stats",
    "whitened_l2",
    "whitening_stats",
    "centered_l2",
    "random_time_shift",
    "spec_augment",
]
