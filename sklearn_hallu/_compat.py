"""The one module that imports scikit-learn's private or version-dependent API."""

from sklearn.utils._param_validation import Interval, StrOptions, validate_params

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    validate_data = None

__all__ = ["Interval", "StrOptions", "validate_params", "validate_data"]
