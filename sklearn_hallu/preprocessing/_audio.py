"""Pure functions: read audio, bring clips to one length, compute log-mel spectrograms.

Every function here is stateless; the estimators in this package validate their
parameters and call these.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache

import numpy as np
import torch

from ..utils.validation import check_waveform, check_waveform_array, reject_sparse

__all__ = [
    "load_audio",
    "as_waveform_batch",
    "mel_filterbank",
    "log_mel_spectrogram",
    "n_frames_for",
]


def _is_pathlike(obj) -> bool:
    return isinstance(obj, (str, bytes, os.PathLike))


def load_audio(path, sr: int) -> np.ndarray:
    """Read one audio file, mix it to mono and resample it to ``sr``.

    Parameters
    ----------
    path : str or path-like
        Any file that ``soundfile`` decodes (wav, flac, ogg, ...).
    sr : int
        Target sample rate in Hz.

    Returns
    -------
    y : ndarray of shape (n_samples,), float32
        The mono waveform at ``sr`` Hz.
    """
    import soundfile as sf

    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(
            f"Audio file {path!r} does not exist. Check the path, or pass the "
            "waveform as an array instead."
        )
    try:
        y, file_sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError...
        raise ValueError(
            f"Audio file {path!r} could not be decoded ({exc}). Convert it to "
            "wav, flac or ogg, or remove it from the input."
        ) from exc
    y = y.mean(axis=1)
    if y.size == 0:
        raise ValueError(f"Audio file {path!r} holds no samples; remove it from the input.")
    if file_sr != sr:
        import librosa

        y = librosa.resample(y, orig_sr=file_sr, target_sr=sr)
    return np.ascontiguousarray(y, dtype=np.float32)


def _load_all(items, sr):
    """Decode the paths among ``items`` in threads (libsndfile and soxr release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    paths = [i for i, c in enumerate(items) if _is_pathlike(c)]
    out = list(items)
    if len(paths) < 8:
        for i in paths:
            out[i] = load_audio(items[i], sr)
        return out
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        for i, y in zip(paths, pool.map(lambda k: load_audio(items[k], sr), paths)):
            out[i] = y
    return out


CROP_MODES = ("start", "centre", "center", "loudest")

#: Peak mel power (about -80 dB) below which a clip is taken as silent.
SILENCE_POWER = 1e-8


def _crop_start(y: np.ndarray, n_samples: int, crop: str) -> int:
    """First sample of the ``n_samples`` window kept from the 1-D clip ``y``."""
    excess = y.shape[-1] - n_samples
    if excess <= 0 or crop == "start":
        return 0
    if crop in ("centre", "center"):
        return excess // 2
    if crop == "loudest":  # the window with the most energy (the earliest on ties)
        energy = np.concatenate([[0.0], np.cumsum(np.square(y, dtype=np.float64))])
        return int(np.argmax(energy[n_samples:] - energy[:-n_samples]))
    raise ValueError(f"crop must be one of {CROP_MODES}, got {crop!r}.")


def _fix_length(y: np.ndarray, n_samples: int, crop: str = "start") -> np.ndarray:
    if y.shape[-1] >= n_samples:
        if crop == "start" or y.shape[-1] == n_samples:
            return y[..., :n_samples]
        if y.ndim == 1:
            a = _crop_start(y, n_samples, crop)
            return y[a : a + n_samples]
        return np.stack([_fix_length(row, n_samples, crop) for row in y])
    out = np.zeros(y.shape[:-1] + (n_samples,), dtype=np.float32)
    out[..., : y.shape[-1]] = y
    return out


def _warn_cropped(lengths, labels, *, n_samples, sr, crop):
    """Warn (AudioCroppedWarning) when clips lose more than 1 ms to the crop."""
    from ..exceptions import AudioCroppedWarning

    lengths = np.asarray(lengths)
    long = np.flatnonzero(lengths - n_samples > max(1, sr // 1000))
    if long.size == 0:
        return
    dropped = float((lengths[long] - n_samples).sum()) / sr
    first = labels(int(long[0]))
    kept = {"start": "the first", "centre": "the middle", "center": "the middle",
            "loudest": "the loudest"}[crop]
    warnings.warn(AudioCroppedWarning(
        f"{long.size} of {lengths.size} clips are longer than duration="
        f"{n_samples / sr:g} s (the longest {lengths.max() / sr:.3g} s, {first} first); "
        f"crop={crop!r} keeps {kept} {n_samples / sr:g} s of each and drops "
        f"{dropped:.3g} s of audio in all. Choose crop='start', 'centre' or 'loudest', "
        "or set a longer duration.", indices=long),
        stacklevel=3,
    )


def clip_label(X, i) -> str:
    """How messages name clip ``i`` of ``X``: ``file '<path>'`` or ``clip <i>``."""
    if isinstance(X, (list, tuple)) and i < len(X) and _is_pathlike(X[i]):
        return f"file {os.fsdecode(X[i])!r}"
    if hasattr(X, "iloc") and i < len(X) and _is_pathlike(X.iloc[i]):  # pandas
        return f"file {os.fsdecode(X.iloc[i])!r}"
    return f"clip {i}"


def _as_items(X):
    """The clips of ``X``: ``(None, arr)`` for one 2-D numeric array, else ``(items, None)``."""
    if _is_pathlike(X):
        raise TypeError(
            f"X must be a sequence of clips or file paths, got a single path {X!r}. "
            "Wrap it in a list: [path]."
        )
    reject_sparse(X)
    if hasattr(X, "to_numpy"):  # pandas objects
        X = X.to_numpy()
    elif hasattr(X, "__array__") and not isinstance(X, (list, tuple, np.ndarray)):
        X = np.asarray(X)
    if isinstance(X, np.ndarray) and X.dtype.kind in "biufc" and X.ndim != 2:
        hint = "X[np.newaxis] for one clip" if X.ndim == 1 else "one clip per row"
        raise ValueError(
            f"Waveform array X must be 2-D (n_clips, n_samples), got shape {X.shape}. "
            f"Reshape your data: pass {hint}, or a list of 1-D arrays for clips of "
            "different lengths."
        )
    try:
        items = list(X)
    except TypeError:
        raise TypeError(
            f"X must be an array of waveforms, a list of 1-D arrays or a list of "
            f"file paths, got {type(X).__name__}."
        ) from None
    if len(items) == 0:
        raise ValueError("X holds no clips (0 rows); pass at least one waveform or file.")
    if any(_is_pathlike(c) for c in items) or len({np.shape(c) for c in items}) > 1:
        return items, None
    return None, (X if isinstance(X, np.ndarray) else np.asarray(items))


def as_waveform_batch(
    X, *, sr: int, n_samples: int | None, min_samples: int, crop: str = "start"
) -> np.ndarray:
    """Turn any accepted input into a float32 array ``(n_clips, n_samples)``.

    Parameters
    ----------
    X : array-like of shape (n_clips, n_samples), or sequence of 1-D arrays or of paths
        Waveforms at ``sr`` Hz, or audio files (loaded, mixed to mono, resampled).
    sr : int
        Sample rate of arrays, and target rate of files.
    n_samples : int or None
        Length every clip is brought to: longer clips keep ``n_samples``
        samples chosen by ``crop`` (with an
        :class:`~sklearn_hallu.exceptions.AudioCroppedWarning` when more than
        1 ms is dropped), shorter ones are padded with zeros at the end.
        ``None`` keeps the input length, which must then be the same for all clips.
    min_samples : int
        Clips with fewer samples than this (before padding) are refused.
    crop : {"start", "centre", "center", "loudest"}, default="start"
        Which ``n_samples`` of a longer clip are kept: the beginning, the middle,
        or the window with the most energy.

    Returns
    -------
    waveforms : ndarray of shape (n_clips, n_samples), float32
        C-contiguous.
    """
    items, arr = _as_items(X)
    if arr is not None:  # one 2-D array: vectorised checks, no per-clip copies
        arr = check_waveform_array(arr, min_samples=min_samples)
        if n_samples is not None:
            _warn_cropped([arr.shape[1]] * arr.shape[0], lambda i: f"clip {i}",
                          n_samples=n_samples, sr=sr, crop=crop)
            arr = _fix_length(arr, n_samples, crop)
        return np.ascontiguousarray(arr)  # torch needs positive strides (e.g. X[::-1])
    clips = _load_all(items, sr)
    out = [
        check_waveform(
            clip, min_samples=min_samples,
            what=f"file {str(item)!r}" if _is_pathlike(item) else f"clip {i}",
        )
        for i, (item, clip) in enumerate(zip(items, clips))
    ]
    if n_samples is None:
        lengths = {a.shape[0] for a in out}
        if len(lengths) > 1:
            raise ValueError(
                f"Clips have different lengths ({min(lengths)} to {max(lengths)} samples) "
                "and duration=None. Set duration (seconds) so they are cropped or padded."
            )
        return np.stack(out)
    _warn_cropped([a.shape[0] for a in out], lambda i: clip_label(items, i),
                  n_samples=n_samples, sr=sr, crop=crop)
    return np.stack([_fix_length(a, n_samples, crop) for a in out])


def warn_silent(X, silent):
    """Warn (SilentClipWarning) naming the clips of ``X`` flagged in ``silent``."""
    from ..exceptions import SilentClipWarning

    if not np.any(silent):
        return
    idx = np.flatnonzero(silent)
    names = ", ".join(clip_label(X, int(i)) for i in idx[:5])
    more = f" and {idx.size - 5} more" if idx.size > 5 else ""
    warnings.warn(SilentClipWarning(
        f"{idx.size} of {len(silent)} clips are silent (no energy above about -80 dB): "
        f"{names}{more}. They are represented as silence (every cell at the dB floor), "
        "not as sound; remove them if they are not meant as silence.", indices=idx),
        stacklevel=3,
    )


@lru_cache(maxsize=16)
def _mel_basis(sr, n_fft, n_mels, fmin, fmax, htk):
    import librosa

    return librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk
    ).astype(np.float32)


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool = False):
    """Mel filter matrix ``(n_mels, 1 + n_fft // 2)``, librosa's Slaney-normalised filters."""
    return _mel_basis(int(sr), int(n_fft), int(n_mels), float(fmin), float(fmax), bool(htk))


def n_frames_for(n_samples: int, hop_length: int) -> int:
    """Number of frames of a centred STFT: ``1 + n_samples // hop_length``."""
    return 1 + n_samples // hop_length


def log_mel_spectrogram(
    waveforms: np.ndarray,
    *,
    sr: int = 16000,
    n_fft: int = 2048,
    hop_length: int = 502,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float = 8000.0,
    htk: bool = False,
    ref="max",
    amin: float = 1e-10,
    top_db: float | None = 80.0,
    batch_size: int = 4,
    dtype="float32",
    return_silent: bool = False,
) -> np.ndarray:
    """Log-mel spectrograms of a batch of equal-length clips, each scaled on its own.

    Equivalent, to within float32 rounding (about 1e-3 dB), to calling
    ``librosa.power_to_db(librosa.feature.melspectrogram(y=clip, ...), ref=ref,
    amin=amin, top_db=top_db)`` clip by clip, but computed in batches with
    ``torch.stft`` (zero padding at the edges, as librosa's ``center=True``).

    Parameters
    ----------
    waveforms : ndarray of shape (n_clips, n_samples)
        Equal-length clips.
    sr : int, default=16000
        Sample rate in Hz.
    n_fft : int, default=2048
        FFT size and Hann window length.
    hop_length : int, default=502
        Samples between frames.
    n_mels : int, default=128
        Number of mel bands.
    fmin : float, default=0.0
        Lowest mel frequency in Hz.
    fmax : float, default=8000.0
        Highest mel frequency in Hz.
    htk : bool, default=False
        Use the HTK mel formula instead of Slaney's.
    ref : float or "max"
        Reference power of 0 dB. ``"max"`` uses each clip's own peak. Either way
        no clip's output depends on any other clip of the batch. A silent clip
        (peak mel power below ``SILENCE_POWER``, 1e-8, about -80 dB; all zeros
        for instance) has no peak to scale to: with ``"max"`` it is set to the
        floor, ``-top_db`` (or ``10 * log10(amin)`` when ``top_db`` is None),
        instead of a flat 0 dB, as loud as anything. With a float it keeps its
        absolute (floor) level.
    amin : float
        Floor of the power before the logarithm.
    top_db : float or None
        Per clip, values below ``clip_max - top_db`` are raised to it.
    batch_size : int
        Clips per torch call. Small batches keep the STFT frames in cache
        (the repository's ``benchmarks/bench_logmel.py`` compares batch sizes).
    dtype : {"float32", "float64"}
        Precision of the STFT and mel product (the output is float32 either
        way). float32 is faster (the repository's ``benchmarks/bench_logmel.py``); its
        error grows towards the
        ``top_db`` floor, where a bin 80 dB below the frame's peak carries the
        float32 FFT's relative rounding (up to about 3e-3 dB there, below 3e-4 dB
        for 99.99% of cells). float64 matches librosa to about 1e-5 dB.
    return_silent : bool, default=False
        Also return which clips were silent.

    Returns
    -------
    S_db : ndarray of shape (n_clips, n_mels, 1 + n_samples // hop_length), float32
        Log-mel spectrograms in dB.
    silent : ndarray of shape (n_clips,), bool
        Which clips were silent (see ``ref``); only with ``return_silent=True``.
    """
    waveforms = np.asarray(waveforms, dtype=np.float32)
    tdtype = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
    basis = torch.from_numpy(mel_filterbank(sr, n_fft, n_mels, fmin, fmax, htk)).to(tdtype)
    window = torch.hann_window(n_fft, periodic=True, dtype=tdtype)
    n_clips, n_samples = waveforms.shape
    out = np.empty((n_clips, n_mels, n_frames_for(n_samples, hop_length)), dtype=np.float32)
    log_amin = 10.0 * np.log10(amin)
    silent = np.zeros(n_clips, dtype=bool)
    silent_db = -float(top_db) if top_db is not None else log_amin
    with torch.inference_mode():
        for start in range(0, n_clips, batch_size):
            x = torch.from_numpy(waveforms[start : start + batch_size]).to(tdtype)
            spec = torch.stft(
                x,
                n_fft=n_fft,
                hop_length=hop_length,
                window=window,
                center=True,
                pad_mode="constant",
                return_complex=True,
            )
            power = spec.real.square() + spec.imag.square()
            mel = torch.matmul(basis, power)
            quiet = mel.amax(dim=(1, 2)) < SILENCE_POWER
            silent[start : start + batch_size] = quiet.numpy()
            db = mel.clamp_(min=amin).log10_().mul_(10.0)
            if isinstance(ref, str) and ref == "max":
                db.sub_(db.amax(dim=(1, 2), keepdim=True).clamp_(min=log_amin))
                if bool(quiet.any()):
                    db[quiet] = silent_db
            else:
                db.sub_(10.0 * np.log10(max(amin, float(ref))))
            if top_db is not None:
                db = torch.maximum(db, db.amax(dim=(1, 2), keepdim=True) - top_db)
            out[start : start + batch_size] = db.numpy()
    return (out, silent) if return_silent else out
