"""LogMelTransformer and FrequencyMaskTransformer: thin estimator shells."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .._compat import Interval, StrOptions
from ._audio import _check_ref, as_waveform_batch, log_mel_spectrogram, reject_sparse
from ._masks import band_rows, masked_views

__all__ = ["LogMelTransformer", "FrequencyMaskTransformer", "check_spectrograms"]


def check_spectrograms(X, *, n_mels=None, name="X", ndim=3):
    """Validate a float array of spectrograms (or views) and return it as float32."""
    reject_sparse(X)
    if not hasattr(X, "shape") or not hasattr(X, "dtype"):
        X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {X.dtype}.")
    if X.ndim != ndim:
        raise ValueError(
            f"{name} must be {ndim}-D, got shape {X.shape}. "
            + (
                "Pass log-mel spectrograms (n_clips, n_mels, n_frames), e.g. the output "
                "of LogMelTransformer."
                if ndim == 3
                else "Pass views (n_clips, n_views, n_mels, n_frames) from "
                "FrequencyMaskTransformer, or 3-D spectrograms."
            )
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} holds no clips (shape {X.shape}); pass at least one.")
    X = np.asarray(X, dtype=np.float32)
    if not np.isfinite(X).all():
        bad = np.flatnonzero(~np.isfinite(X.reshape(X.shape[0], -1)).all(axis=1))
        raise ValueError(
            f"{name} contains NaN or infinity in {bad.size} clip(s), first at index "
            f"{bad[0]}. Clean or drop those clips before transforming."
        )
    if n_mels is not None and X.shape[-2] != n_mels:
        raise ValueError(
            f"{name} has {X.shape[-2]} mel rows but n_mels={n_mels}. Set n_mels (and "
            "the other mel parameters) to those used to make the spectrograms."
        )
    return X


class LogMelTransformer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Waveforms or audio files to log-mel spectrograms, one array out.

    Each clip is scaled on its own (``power_to_db`` with a fixed ``ref`` or the
    clip's own maximum, ``top_db`` relative to the clip's own peak), so one
    clip's output never depends on the rest of the batch. The transformer is
    stateless: ``fit`` only checks the parameters.

    Parameters
    ----------
    sr : int, default=16000
        Sample rate of waveform arrays, and the rate files are resampled to.
    n_mels : int, default=128
        Number of mel bands (rows of the output).
    n_fft : int, default=2048
        FFT size and Hann window length (the paper does not give it; 2048 is
        Chou et al.'s and librosa's default).
    hop_length : int, default=502
        Samples between frames; 502 gives 160 frames for a 5 s clip at 16 kHz.
    fmin, fmax : float, default=0.0, 8000.0
        Frequency range of the mel filters in Hz.
    duration : float or None, default=5.0
        Every clip is brought to ``round(duration * sr)`` samples: longer clips
        keep their beginning, shorter ones are padded with silence (zeros) at
        the end. ``None`` keeps the input length, which must be the same for
        every clip.
    ref : "max" or float, default="max"
        Power of 0 dB. ``"max"`` uses each clip's own peak, so that every clip
        spans 0 dB down to ``-top_db`` whatever its recording level (chosen on
        ESC-50's validation classes, ``benchmarks/validation_probe.py``).
        A float gives absolute dB.
    top_db : float or None, default=80.0
        Dynamic range kept below each clip's peak.
    htk : bool, default=False
        Use the HTK mel formula instead of Slaney's.
    batch_size : int, default=4
        Clips per batched STFT call (small batches stay in cache; see
        ``benchmarks/bench_logmel.py``).
    dtype : {"float32", "float64"}, default="float32"
        Precision of the computation (the output is float32). float32 agrees
        with librosa to within 3e-4 dB for 99.99% of cells and 3e-3 dB at worst,
        in cells at the ``top_db`` floor; float64 agrees to about 1e-5 dB
        everywhere at half the speed.

    Attributes
    ----------
    n_features_in_ : int
        Samples per clip seen in ``fit`` when it was given a 2-D waveform array.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_hallu.preprocessing import LogMelTransformer
    >>> X = np.random.default_rng(0).normal(size=(3, 80000)).astype("float32")
    >>> LogMelTransformer().fit_transform(X).shape
    (3, 128, 160)
    """

    _parameter_constraints = {
        "sr": [Interval(Integral, 1, None, closed="left")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "n_fft": [Interval(Integral, 2, None, closed="left")],
        "hop_length": [Interval(Integral, 1, None, closed="left")],
        "fmin": [Interval(Real, 0, None, closed="left")],
        "fmax": [Interval(Real, 0, None, closed="neither")],
        "duration": [Interval(Real, 0, None, closed="neither"), None],
        "ref": [Interval(Real, 0, None, closed="neither"), StrOptions({"max"})],
        "top_db": [Interval(Real, 0, None, closed="neither"), None],
        "htk": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "dtype": [StrOptions({"float32", "float64"})],
    }

    def __init__(
        self,
        *,
        sr=16000,
        n_mels=128,
        n_fft=2048,
        hop_length=502,
        fmin=0.0,
        fmax=8000.0,
        duration=5.0,
        ref="max",
        top_db=80.0,
        htk=False,
        batch_size=4,
        dtype="float32",
    ):
        self.sr = sr
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.fmin = fmin
        self.fmax = fmax
        self.duration = duration
        self.ref = ref
        self.top_db = top_db
        self.htk = htk
        self.batch_size = batch_size
        self.dtype = dtype

    def _check_params(self):
        self._validate_params()
        if self.sr is not None and not self.fmin < self.fmax <= self.sr / 2:
            raise ValueError(
                f"fmin={self.fmin} and fmax={self.fmax} must satisfy fmin < fmax <= sr/2 "
                f"= {self.sr / 2}. Lower fmax or raise sr."
            )
        _check_ref(self.ref)

    @property
    def n_samples(self):
        """Samples per clip after cropping/padding (None: the input's own length)."""
        return None if self.duration is None else int(round(self.duration * self.sr))

    def fit(self, X, y=None):
        """Check the parameters (and the input); nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples), list of 1-D arrays, or list of paths
        y : ignored

        Returns
        -------
        self : LogMelTransformer
        """
        self._check_params()
        reject_sparse(X)
        if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "biuf":
            self.n_features_in_ = X.shape[1]
        # Check the input's shape and first clip only: transform checks every clip, so
        # fit_transform does not validate (and copy) the whole batch twice. Arrays that
        # are not 2-D go in whole so that the error reports their real shape.
        if isinstance(X, np.ndarray):
            head = X[:1] if X.ndim == 2 else X
        else:
            head = X[:1] if hasattr(X, "__getitem__") else X
        as_waveform_batch(head, sr=self.sr, n_samples=self.n_samples, min_samples=self.n_fft)
        return self

    def transform(self, X):
        """Compute the log-mel spectrogram of every clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples), list of 1-D arrays, or list of paths
            Waveforms at ``sr`` Hz, or audio files of any rate and channel count.

        Returns
        -------
        S_db : ndarray of shape (n_clips, n_mels, n_frames), float32
            ``n_frames = 1 + n_samples // hop_length``.
        """
        self._check_params()
        waves = as_waveform_batch(X, sr=self.sr, n_samples=self.n_samples, min_samples=self.n_fft)
        return log_mel_spectrogram(
            waves,
            sr=self.sr,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.n_mels,
            fmin=self.fmin,
            fmax=self.fmax,
            htk=self.htk,
            ref=self.ref,
            top_db=self.top_db,
            batch_size=self.batch_size,
            dtype=self.dtype,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.string = True  # file paths
        return tags


class FrequencyMaskTransformer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Log-mel spectrograms to masked views: the whole, then one view per band.

    The bands are given in Hz and mapped to mel rows with the mel scale of
    :class:`LogMelTransformer`; its parameters (``sr``, ``n_mels``, ``fmin``,
    ``fmax``, ``htk``) are repeated here with the same defaults and must match
    the spectrograms (``n_mels`` is checked against the input). A row belongs to
    a band when its filter's centre frequency lies in ``[low_hz, high_hz)``.

    Parameters
    ----------
    split_hz : float, default=2000.0
        One split frequency: bands ``(fmin, split_hz)`` (low) and
        ``(split_hz, fmax)`` (high). Ignored when ``bands`` is given. This is the
        knob for ``GridSearchCV`` (``"masks__split_hz"`` in a Pipeline).
    bands : list of (low_hz, high_hz) or None, default=None
        Two or more non-overlapping bands, for more than two concepts.
    axis : {"frequency", "time"}, default="frequency"
        ``"time"`` is the paper's time-concept ablation: the bands are replaced
        by the first and second half of the frames (``split_hz``/``bands`` are
        then ignored).
    fill : "min", "nan" or float, default="min"
        Value written in masked cells. In dB, 0 is loud, not silent; ``"min"``
        writes each clip's own minimum (its ``top_db`` floor), so a masked cell
        reads as the quietest thing in the clip: "nothing there". ``"nan"`` marks
        masked cells as missing: :class:`~sklearn_hallu.HalluAudioClassifier`
        reads them as the mean of its training spectrograms, i.e. 0 after its
        standardisation (the paper's "set to zero").
    include_whole : bool, default=True
        Put the unmasked spectrogram first (view 0), as HalluAudio does.
    sr, n_mels, fmin, fmax, htk
        Mel-scale parameters, as in :class:`LogMelTransformer`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_hallu.preprocessing import FrequencyMaskTransformer
    >>> S = np.zeros((2, 128, 160), dtype="float32")
    >>> FrequencyMaskTransformer(split_hz=2000).fit_transform(S).shape
    (2, 3, 128, 160)
    """

    _parameter_constraints = {
        "split_hz": [Interval(Real, 0, None, closed="left")],
        "bands": [list, tuple, None],
        "axis": [StrOptions({"frequency", "time"})],
        "fill": [StrOptions({"min", "nan"}), Real],
        "include_whole": ["boolean"],
        "sr": [Interval(Integral, 1, None, closed="left")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "fmin": [Interval(Real, 0, None, closed="left")],
        "fmax": [Interval(Real, 0, None, closed="neither")],
        "htk": ["boolean"],
    }

    def __init__(
        self,
        split_hz=2000.0,
        *,
        bands=None,
        axis="frequency",
        fill="min",
        include_whole=True,
        sr=16000,
        n_mels=128,
        fmin=0.0,
        fmax=8000.0,
        htk=False,
    ):
        self.split_hz = split_hz
        self.bands = bands
        self.axis = axis
        self.fill = fill
        self.include_whole = include_whole
        self.sr = sr
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.htk = htk

    def _ranges(self, n_frames):
        """Rows (frequency) or frames (time) each band view keeps."""
        self._validate_params()
        if self.axis == "time":
            half = n_frames // 2
            if half == 0:
                raise ValueError(
                    f"axis='time' needs at least 2 frames, got {n_frames}. Use longer clips."
                )
            return [(0, half), (half, n_frames)]
        if not self.fmin < self.fmax <= self.sr / 2:
            raise ValueError(
                f"fmin={self.fmin} and fmax={self.fmax} must satisfy fmin < fmax <= sr/2 = "
                f"{self.sr / 2}; use the values given to LogMelTransformer."
            )
        if self.bands is None:
            if not self.fmin < self.split_hz < self.fmax:
                raise ValueError(
                    f"split_hz={self.split_hz} must lie strictly inside [fmin, fmax] = "
                    f"[{self.fmin}, {self.fmax}] so both bands hold mel rows. Choose a "
                    "split frequency in that range."
                )
            bands = [(self.fmin, self.split_hz), (self.split_hz, self.fmax)]
        else:
            bands = [tuple(b) for b in self.bands]
            if any(len(b) != 2 for b in bands) or len(bands) == 0:
                raise ValueError(
                    f"bands must be a non-empty list of (low_hz, high_hz) pairs, got "
                    f"{self.bands!r}."
                )
        return band_rows(bands, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax, htk=self.htk)

    def fit(self, X, y=None):
        """Check the parameters against the spectrograms; nothing is learned.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_mels, n_frames)
        y : ignored

        Returns
        -------
        self : FrequencyMaskTransformer
        """
        # shape and parameters only; transform checks every clip (no double copy in
        # fit_transform)
        head = check_spectrograms(X[:1] if getattr(X, "ndim", 0) == 3 else X, n_mels=self.n_mels)
        self.ranges_ = self._ranges(head.shape[2])
        self.n_views_ = len(self.ranges_) + int(self.include_whole)
        return self

    def transform(self, X):
        """Build the views.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_mels, n_frames)

        Returns
        -------
        views : ndarray of shape (n_clips, n_views, n_mels, n_frames), float32
            View 0 is the whole spectrogram (if ``include_whole``), then one
            view per band in the order given (low before high for ``split_hz``).
        """
        X = check_spectrograms(X, n_mels=self.n_mels)
        ranges = self._ranges(X.shape[2])
        axis = 2 if self.axis == "time" else 1
        return masked_views(X, ranges, axis=axis, fill=self.fill, include_whole=self.include_whole)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags
