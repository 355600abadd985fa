"""Errors raised by sklearn-hallu."""

from sklearn.exceptions import NotFittedError

__all__ = ["NotFittedError", "DataNotFoundError"]


class DataNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says what to do."""
