"""Pure function: cut clips of any length into overlapping windows that cover all of them."""

from __future__ import annotations

import numpy as np

from ..utils.validation import check_waveform, check_waveform_array
from ._audio import _as_items, _load_all, clip_label

__all__ = ["window_clips"]


def _window_starts(length: int, n_samples: int, hop_length: int) -> np.ndarray:
    """Start of each window of a clip of ``length`` samples; the last one ends at its end."""
    if length <= n_samples:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, length - n_samples, hop_length, dtype=np.int64)
    return np.append(starts, length - n_samples)


def window_clips(X, *, sr: int, n_samples: int, hop_length: int, min_samples: int = 1):
    """Cut every clip into windows of ``n_samples``, ``hop_length`` apart, covering all of it.

    A clip no longer than ``n_samples`` gives one window, padded with zeros at
    the end (as :func:`as_waveform_batch` pads). A longer clip gives windows
    starting every ``hop_length`` samples, and a last one that ends with the
    clip, so that every sample lies in at least one window: nothing is dropped.

    Parameters
    ----------
    X : array-like of shape (n_clips, n_samples), or sequence of 1-D arrays or of paths
        Waveforms at ``sr`` Hz, or audio files (loaded, mixed to mono, resampled).
    sr : int
        Sample rate of arrays, and target rate of files.
    n_samples : int
        Samples per window: the clip length the model reads.
    hop_length : int
        Samples between the starts of consecutive windows, ``1 <= hop_length <= n_samples``.
    min_samples : int, default=1
        Clips with fewer samples than this (before padding) are refused.

    Returns
    -------
    windows : ndarray of shape (n_windows, n_samples), float32
        The windows, clip after clip, in time order.
    clip : ndarray of shape (n_windows,), int
        The position in ``X`` of each window's clip.
    start : ndarray of shape (n_windows,), int
        The sample of its clip at which each window starts.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_hallu.preprocessing import window_clips
    >>> X = [np.ones(10, "float32"), np.ones(3, "float32")]
    >>> windows, clip, start = window_clips(X, sr=1, n_samples=4, hop_length=2)
    >>> windows.shape, clip.tolist(), start.tolist()
    ((5, 4), [0, 0, 0, 0, 1], [0, 2, 4, 6, 0])
    """
    if not 1 <= int(hop_length) <= int(n_samples):
        raise ValueError(
            f"hop_length={hop_length} must be between 1 and n_samples={n_samples}: a longer "
            "hop would skip the audio between windows. Choose a smaller hop."
        )
    items, arr = _as_items(X)
    if arr is not None:
        clips = list(check_waveform_array(arr, min_samples=min_samples))
    else:
        clips = [
            check_waveform(c, min_samples=min_samples, what=clip_label(items, i))
            for i, c in enumerate(_load_all(items, sr))
        ]
    starts = [_window_starts(c.shape[0], n_samples, hop_length) for c in clips]
    clip = np.repeat(np.arange(len(clips)), [len(s) for s in starts])
    start = np.concatenate(starts)
    windows = np.zeros((len(start), n_samples), dtype=np.float32)
    for w, (i, a) in enumerate(zip(clip, start)):
        piece = clips[i][a : a + n_samples]
        windows[w, : piece.shape[0]] = piece
    return windows, clip, start
