"""Errors raised by sklearn-hallu."""

from sklearn.exceptions import NotFittedError

__all__ = ["NotFittedError", "DataNotFoundError", "UntrustedTypesError"]


class DataNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says what to do."""


class UntrustedTypesError(ValueError):
    """A skops file holds types sklearn-hallu does not trust; the message names them.

    Raised by :func:`sklearn_hallu.persistence.load` before anything in the
    file is built. ``untrusted`` lists the fully qualified type names.
    """

    def __init__(self, message, untrusted=()):
        super().__init__(message)
        self.untrusted = list(untrusted)
