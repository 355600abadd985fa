"""The one module that imports scikit-learn's private or version-dependent API."""

from sklearn.utils._param_validation import Interval, StrOptions

__all__ = ["Interval", "StrOptions"]
