"""sklearn-hallu: few-shot audio classification with HalluAudio, the scikit-learn way.

The three steps of a Pipeline::

    Pipeline([("logmel", LogMelTransformer()),
              ("masks", FrequencyMaskTransformer(split_hz=2000)),
              ("clf", HalluAudioClassifier())])
"""

from ._support import fit_support
from .classifier import HalluAudioClassifier
from .preprocessing import FrequencyMaskTransformer, LogMelTransformer

__version__ = "0.1.0"

__all__ = [
    "LogMelTransformer",
    "FrequencyMaskTransformer",
    "HalluAudioClassifier",
    "fit_support",
    "__version__",
]
