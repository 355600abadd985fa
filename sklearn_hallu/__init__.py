"""sklearn-hallu: few-shot audio classification with HalluAudio, the scikit-learn way.

The three steps of a Pipeline::

    Pipeline([("logmel", LogMelTransformer()),
              ("masks", FrequencyMaskTransformer(split_hz=2000)),
              ("clf", HalluAudioClassifier())])
"""

import importlib

__version__ = "0.2.0"

# Imported on first use (PEP 562), so that ``sklearn-hallu --help`` and
# ``--version`` answer without importing torch.
_LAZY = {
    "fit_support": "._support",
    "embed": "._support",
    "fit_embedding_stats": "._support",
    "final_estimator": "._support",
    "HalluAudioClassifier": ".classifier",
    "FrequencyMaskTransformer": ".preprocessing",
    "LogMelTransformer": ".preprocessing",
    "predict_proba_windows": "._window_prediction",
    "predict_windows": "._window_prediction",
    "embed_windows": "._window_prediction",
    "fit_support_windows": "._window_prediction",
    "predict_files": ".streaming",
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "LogMelTransformer",
    "FrequencyMaskTransformer",
    "HalluAudioClassifier",
    "fit_support",
    "embed",
    "fit_embedding_stats",
    "final_estimator",
    "predict_proba_windows",
    "predict_windows",
    "embed_windows",
    "fit_support_windows",
    "predict_files",
    "__version__",
]
