"""The HalluAudio classifier: the estimator and its skorch training engine."""

from ._engine import EpisodicValidation
from ._estimator import HalluAudioClassifier
from ._recipes import RECIPE_NAMES, recipe_params

__all__ = ["HalluAudioClassifier", "EpisodicValidation", "recipe_params", "RECIPE_NAMES"]
