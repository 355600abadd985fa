"""Errors raised by sklearn-hallu."""

from sklearn.exceptions import NotFittedError

__all__ = [
    "NotFittedError",
    "DataNotFoundError",
    "UntrustedTypesError",
    "PickleNotAllowedError",
    "ClipWarning",
    "SilentClipWarning",
    "AudioCroppedWarning",
]


class DataNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says what to do."""


class UntrustedTypesError(ValueError):
    """A skops file holds types sklearn-hallu does not trust; the message names them.

    Raised by :func:`sklearn_hallu.persistence.load` before anything in the
    file is built. ``untrusted`` lists the fully qualified type names.

    Parameters
    ----------
    message : str
        What is untrusted and what to do.
    untrusted : iterable of str, default=()
        The fully qualified names of the untrusted types, kept as ``untrusted``.
    """

    def __init__(self, message, untrusted=()):
        super().__init__(message)
        self.untrusted = list(untrusted)


class PickleNotAllowedError(UntrustedTypesError):
    """A model file is a pickle, and loading pickles was not allowed.

    Raised by :func:`sklearn_hallu.persistence.load` (and the command line)
    before the file is unpickled: unpickling runs code stored in the file. The
    message names the file and shows how to convert it to a ``.skops`` file
    once, if you trust whoever wrote it. ``untrusted`` is empty: what a pickle
    holds is only known by running it.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    message : str
        Which file, and what to do.
    untrusted : iterable of str, default=()
        Kept as ``untrusted`` (empty).
    """


class ClipWarning(UserWarning):
    """A warning about some clips of the input; ``indices`` says which.

    ``indices`` are positions in the ``X`` given to the function that warned
    (a list of int). Code that knows more than positions re-issues the warning
    with better names: the command line names the files it read.

    Parameters
    ----------
    message : str
        What happened to which clips, and what to do.
    indices : iterable of int, default=()
        Positions of those clips in the input, kept as ``indices``.
    """

    def __init__(self, message, indices=()):
        super().__init__(message)
        self.indices = [int(i) for i in indices]


class SilentClipWarning(ClipWarning):
    """A clip carries no energy; it is represented as silence (the dB floor).

    Raised by :class:`~sklearn_hallu.preprocessing.LogMelTransformer` for clips
    whose peak mel power is below ``1e-8`` (-80 dB; a full-scale sine reaches
    about +30 dB): scaled to their own maximum they would become a (nearly) flat
    0 dB spectrogram, as loud as anything. The message names the clips,
    ``indices`` lists them.

    Parameters
    ----------
    message : str
        The message.
    indices : iterable of int, default=()
        Positions of the silent clips in the input, kept as ``indices``.
    """


class AudioCroppedWarning(ClipWarning):
    """Clips longer than ``duration`` were cut: some audio was dropped.

    Raised by :class:`~sklearn_hallu.preprocessing.LogMelTransformer` (and
    :func:`~sklearn_hallu.preprocessing.as_waveform_batch`). The message says how
    many clips and seconds, and which part (``crop``) was kept; ``indices``
    lists the clips that were cut.

    Parameters
    ----------
    message : str
        The message.
    indices : iterable of int, default=()
        Positions of the cut clips in the input, kept as ``indices``.
    """
