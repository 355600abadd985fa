"""The HalluAudio classifier: the estimator and its skorch training engine."""

from ._engine import EpisodicValidation
from ._estimator import HalluAudioClassifier

__all__ = ["HalluAudioClassifier", "EpisodicValidation"]
