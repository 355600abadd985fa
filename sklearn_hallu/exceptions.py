"""Errors raised by sklearn-hallu."""

from sklearn.exceptions import NotFittedError

__all__ = [
    "NotFittedError",
    "DataNotFoundError",
    "UntrustedTypesError",
    "SilentClipWarning",
    "AudioCroppedWarning",
]


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


class SilentClipWarning(UserWarning):
    """A clip carries no energy; it is represented as silence (the dB floor).

    Raised by :class:`~sklearn_hallu.preprocessing.LogMelTransformer` for clips
    whose peak mel power is below ``1e-8`` (-80 dB; a full-scale sine reaches
    about +30 dB): scaled to their own maximum they would become a (nearly) flat
    0 dB spectrogram, as loud as anything. The message names the clips.
    """


class AudioCroppedWarning(UserWarning):
    """Clips longer than ``duration`` were cut: some audio was dropped.

    Raised by :class:`~sklearn_hallu.preprocessing.LogMelTransformer` (and
    :func:`~sklearn_hallu.preprocessing.as_waveform_batch`). The message says how
    many clips and seconds, and which part (``crop``) was kept.
    """
