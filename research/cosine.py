"""Training with a cosine metric (issue 23 lever; rule: research/results/levers/RULES_cosine.md).

The library's loss takes ``temperature`` (:func:`sklearn_hallu.nn.prototypical_loss`);
:class:`TrainTemperature` sets it on the net's criterion when training starts, so that a
lever run of ``research.ablation`` can train with it without a new estimator parameter
(one would follow if the lever were kept). Prediction and the best-epoch choice are
unchanged (centred-L2 at prediction; raw embeddings for the validation score).
"""

from __future__ import annotations

from skorch.callbacks import Callback

__all__ = ["TrainTemperature"]


class TrainTemperature(Callback):
    """At the start of training, give the episode loss a cosine metric of temperature ``t``."""

    def __init__(self, temperature):
        self.temperature = float(temperature)

    def on_train_begin(self, net, **kwargs):
        net.criterion_.temperature = self.temperature
