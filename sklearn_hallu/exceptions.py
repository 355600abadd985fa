"""Warnings and errors raised by sklearn-hallu."""

from sklearn.exceptions import NotFittedError

__all__ = ["HalluAudioWarning", "NotFittedError", "DataNotFoundError"]


class HalluAudioWarning(UserWarning):
    """Base class of every warning this library emits."""


class DataNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says what to do."""
