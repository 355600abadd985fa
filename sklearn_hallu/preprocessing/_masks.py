"""Pure functions: map Hz bands to mel rows and build masked views of spectrograms."""

from __future__ import annotations

import numpy as np

__all__ = ["mel_row_centres", "band_rows", "masked_views"]


def mel_row_centres(n_mels: int, fmin: float, fmax: float, htk: bool = False) -> np.ndarray:
    """Centre frequency in Hz of each mel row, on the scale of ``librosa.filters.mel``.

    Row ``i`` of a log-mel spectrogram made with the same ``n_mels``, ``fmin``,
    ``fmax`` and ``htk`` is the filter whose triangle peaks at ``centres[i]``.

    Parameters
    ----------
    n_mels : int
        Number of mel rows.
    fmin : float
        Lowest mel frequency in Hz.
    fmax : float
        Highest mel frequency in Hz.
    htk : bool, default=False
        HTK mel formula instead of Slaney's.

    Returns
    -------
    centres : ndarray of shape (n_mels,)
        Centre frequencies in Hz, increasing.
    """
    import librosa

    return librosa.mel_frequencies(n_mels=n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)[1:-1]


def band_rows(bands, *, n_mels: int, fmin: float, fmax: float, htk: bool = False):
    """Mel rows ``(start, stop)`` of each Hz band ``(low_hz, high_hz)``.

    A row belongs to a band when its centre frequency ``c`` satisfies
    ``low_hz <= c < high_hz`` (``<= high_hz`` for a band that ends at ``fmax``).

    Parameters
    ----------
    bands : list of (float, float)
        Bands ``(low_hz, high_hz)``.
    n_mels : int
        Number of mel rows.
    fmin : float
        Lowest mel frequency in Hz.
    fmax : float
        Highest mel frequency in Hz.
    htk : bool, default=False
        HTK mel formula instead of Slaney's.

    Returns
    -------
    rows : list of (int, int)
        ``(start, stop)`` mel rows of each band, in the order given.

    Raises
    ------
    ValueError
        A band outside ``[fmin, fmax]``, with ``low_hz >= high_hz``, holding no
        mel row, or overlapping another band.
    """
    centres = mel_row_centres(n_mels, fmin, fmax, htk)
    rows = []
    for low, high in bands:
        if not (fmin <= low < high <= fmax):
            raise ValueError(
                f"Band ({low}, {high}) Hz must satisfy fmin <= low < high <= fmax with "
                f"fmin={fmin}, fmax={fmax}. Choose band edges inside that range."
            )
        upper = centres <= high if high >= fmax else centres < high
        idx = np.flatnonzero((centres >= low) & upper)
        if idx.size == 0:
            raise ValueError(
                f"Band ({low}, {high}) Hz holds no mel row (n_mels={n_mels}, fmin={fmin}, "
                f"fmax={fmax}); widen it or use more mel bands."
            )
        rows.append((int(idx[0]), int(idx[-1]) + 1))
    order = sorted(range(len(rows)), key=lambda i: rows[i])
    for a, b in zip(order, order[1:]):
        if rows[b][0] < rows[a][1]:
            raise ValueError(
                f"Bands {tuple(bands[a])} and {tuple(bands[b])} Hz overlap; give "
                "bands that share no mel row."
            )
    return rows


def masked_views(S: np.ndarray, ranges, *, axis: int, fill="min", include_whole=True):
    """Stack masked copies of spectrograms into views.

    Parameters
    ----------
    S : ndarray of shape (n_clips, n_mels, n_frames)
        Spectrograms.
    ranges : list of (start, stop)
        Rows (``axis=1``) or frames (``axis=2``) kept by each view.
    axis : {1, 2}
    fill : "min", "nan" or float
        Value written where a view is masked. ``"min"`` writes each clip's own
        minimum, the quietest value it has, so masked cells read as "nothing there";
        ``"nan"`` marks them missing.
    include_whole : bool
        Put the unmasked spectrogram first, as view 0.

    Returns
    -------
    views : ndarray of shape (n_clips, n_views, n_mels, n_frames), float32
        The whole (if ``include_whole``), then one masked copy per range.
    """
    n = S.shape[0]
    n_views = len(ranges) + int(include_whole)
    out = np.empty((n, n_views) + S.shape[1:], dtype=np.float32)
    if isinstance(fill, str) and fill == "nan":
        fill_values = np.full((n, 1, 1), np.nan, dtype=np.float32)
    elif isinstance(fill, str):
        fill_values = S.reshape(n, -1).min(axis=1)[:, None, None]
    else:
        fill_values = np.full((n, 1, 1), fill, dtype=np.float32)
    v0 = 0
    if include_whole:
        out[:, 0] = S
        v0 = 1
    for v, (start, stop) in enumerate(ranges, start=v0):
        out[:, v] = fill_values
        if axis == 1:
            out[:, v, start:stop, :] = S[:, start:stop, :]
        else:
            out[:, v, :, start:stop] = S[:, :, start:stop]
    return out
