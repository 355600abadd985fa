"""LogMelTransformer and FrequencyMaskTransformer: thin estimator shells."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .._compat import DocLinkMixin, Interval, StrOptions
from ..utils.validation import check_spectrograms, reject_sparse
from ._audio import CROP_MODES, as_waveform_batch, log_mel_spectrogram, warn_silent
from ._masks import band_rows, masked_views
from ._output import ArrayOutputMixin

__all__ = ["LogMelTransformer", "FrequencyMaskTransformer"]


class LogMelTransformer(DocLinkMixin, ArrayOutputMixin, TransformerMixin, BaseEstimator,
                        auto_wrap_output_keys=None):
    """Waveforms or audio files to log-mel spectrograms, one array out.

    Each clip is scaled on its own (``power_to_db`` with a fixed ``ref`` or the
    clip's own maximum, ``top_db`` relative to the clip's own peak), so one
    clip's output never depends on the rest of the batch. The transformer is
    stateless: ``fit`` only checks the parameters.

    A silent clip (peak mel power below 1e-8, about -80 dB; a full-scale sine
    is about +30 dB) is set to the floor, ``-top_db`` (-100 dB if ``top_db`` is
    None), never to a flat 0 dB; a
    :class:`~sklearn_hallu.exceptions.SilentClipWarning` names such clips.

    Read more in the :doc:`User Guide </user_guide>`.

    Parameters
    ----------
    sr : int, default=16000
        Sample rate of waveform arrays, and the rate files are resampled to.
    n_mels : int, default=128
        Number of mel bands (rows of the output).
    n_fft : int, default=1024
        FFT size and Hann window length. The paper does not give it; 1024 beat
        2048 (Chou et al.'s and librosa's default) on ESC-50's validation
        classes (:doc:`/results`).
    hop_length : int, default=502
        Samples between frames; 502 gives 160 frames for a 5 s clip at 16 kHz.
    fmin : float, default=0.0
        Lowest frequency of the mel filters in Hz.
    fmax : float, default=8000.0
        Highest frequency of the mel filters in Hz.
    duration : float or None, default=5.0
        Every clip is brought to ``round(duration * sr)`` samples: longer clips
        are cut as ``crop`` says, shorter ones are padded with silence (zeros) at
        the end. ``None`` keeps the input length, which must be the same for
        every clip.
    crop : {"start", "centre", "center", "loudest"}, default="start"
        Which ``duration`` seconds of a longer clip are kept: the beginning, the
        middle, or the window with the most energy (sum of squared samples).
        Whenever more than 1 ms of a clip is dropped, an
        :class:`~sklearn_hallu.exceptions.AudioCroppedWarning` says how many
        clips and seconds.
    ref : "max" or float, default="max"
        Power of 0 dB. ``"max"`` uses each clip's own peak, so that every clip
        spans 0 dB down to ``-top_db`` whatever its recording level (chosen on
        ESC-50's validation classes, :doc:`/results`).
        A float gives absolute dB.
    top_db : float or None, default=80.0
        Dynamic range kept below each clip's peak.
    htk : bool, default=False
        Use the HTK mel formula instead of Slaney's.
    batch_size : int, default=4
        Clips per batched STFT call (small batches stay in cache; see
        the repository's ``benchmarks/bench_logmel.py``).
    dtype : {"float32", "float64"}, default="float32"
        Precision of the computation (the output is float32). float32 agrees
        with librosa to within 3e-4 dB for 99.99% of cells and 3e-3 dB at worst,
        in cells at the ``top_db`` floor; float64 agrees to about 1e-5 dB
        everywhere, and is slower (the repository's ``benchmarks/bench_logmel.py``).

    Attributes
    ----------
    n_features_in_ : int
        Samples per clip seen in ``fit`` when it was given a 2-D waveform array.
        With ``duration=None``, ``transform`` then refuses 2-D arrays of another
        length (it would change the number of frames).

    See Also
    --------
    FrequencyMaskTransformer : The next step: the spectrograms' views.
    sklearn_hallu.preprocessing.load_audio : How files are read and cropped.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_hallu.preprocessing import LogMelTransformer
    >>> X = np.random.default_rng(0).normal(size=(3, 80000)).astype("float32")
    >>> LogMelTransformer().fit_transform(X).shape
    (3, 128, 160)
    """

    _output_shape = "(n_clips, n_mels, n_frames)"  # for set_output's message
    _parameter_constraints = {
        "sr": [Interval(Integral, 1, None, closed="left")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "n_fft": [Interval(Integral, 2, None, closed="left")],
        "hop_length": [Interval(Integral, 1, None, closed="left")],
        "fmin": [Interval(Real, 0, None, closed="left")],
        "fmax": [Interval(Real, 0, None, closed="neither")],
        "duration": [Interval(Real, 0, None, closed="neither"), None],
        "crop": [StrOptions(set(CROP_MODES))],
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
        n_fft=1024,
        hop_length=502,
        fmin=0.0,
        fmax=8000.0,
        duration=5.0,
        crop="start",
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
        self.crop = crop
        self.ref = ref
        self.top_db = top_db
        self.htk = htk
        self.batch_size = batch_size
        self.dtype = dtype

    def _check_params(self):
        self._validate_params()
        if not self.fmin < self.fmax <= self.sr / 2:
            raise ValueError(
                f"fmin={self.fmin} and fmax={self.fmax} must satisfy fmin < fmax <= sr/2 "
                f"= {self.sr / 2}. Lower fmax or raise sr."
            )

    @property
    def n_samples(self):
        """Samples per clip after cropping/padding (None: the input's own length)."""
        return None if self.duration is None else int(round(self.duration * self.sr))

    def fit(self, X, y=None):
        """Check the parameters (and the input); nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples), or list of 1-D arrays or of paths
            Waveforms at ``sr`` Hz, or audio files.
        y : None
            Ignored.

        Returns
        -------
        self : LogMelTransformer
            The transformer itself.
        """
        self._check_params()
        reject_sparse(X)
        if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "biuf":
            self.n_features_in_ = X.shape[1]
        # The shape and first clip only (transform checks every clip); arrays that are
        # not 2-D go in whole so that the error reports their real shape.
        if isinstance(X, np.ndarray):
            head = X[:1] if X.ndim == 2 else X
        else:
            head = X[:1] if hasattr(X, "__getitem__") else X
        as_waveform_batch(head, sr=self.sr, n_samples=None, min_samples=self.n_fft)
        return self

    def transform(self, X):
        """Compute the log-mel spectrogram of every clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples), or list of 1-D arrays or of paths
            Waveforms at ``sr`` Hz, or audio files of any rate and channel count.

        Returns
        -------
        S_db : ndarray of shape (n_clips, n_mels, n_frames), float32
            ``n_frames = 1 + n_samples // hop_length``.
        """
        S, silent = self._spectrograms(X)
        warn_silent(X, silent)
        return S

    def _spectrograms(self, X):
        """``transform``'s output and which clips were silent (bool mask), without warning."""
        self._check_params()
        self._check_n_samples(X)
        waves = as_waveform_batch(X, sr=self.sr, n_samples=self.n_samples,
                                  min_samples=self.n_fft, crop=self.crop)
        return log_mel_spectrogram(
            waves, sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length,
            n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax, htk=self.htk, ref=self.ref,
            top_db=self.top_db, batch_size=self.batch_size, dtype=self.dtype,
            return_silent=True,
        )

    def _check_n_samples(self, X):
        """With ``duration=None`` the clip length sets the frame count: after a fit on
        a 2-D array, refuse arrays of another length instead of changing the output shape."""
        fitted = getattr(self, "n_features_in_", None)
        if (self.duration is None and fitted is not None and isinstance(X, np.ndarray)
                and X.ndim == 2 and X.dtype.kind in "biuf" and X.shape[1] != fitted):
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{fitted} features as input: with duration=None the clips must be as long "
                "as in fit (samples per clip). Set duration to crop or pad them."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.string = True  # file paths
        # The output is float32 for float32 input (the default dtype); float64 input
        # is not preserved (computed in ``dtype``, returned as float32).
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class FrequencyMaskTransformer(DocLinkMixin, ArrayOutputMixin, TransformerMixin, BaseEstimator,
                               auto_wrap_output_keys=None):
    """Log-mel spectrograms to masked views: the whole, then one view per band.

    The bands are given in Hz and mapped to mel rows with the mel scale of
    :class:`LogMelTransformer`; its parameters (``sr``, ``n_mels``, ``fmin``,
    ``fmax``, ``htk``) are repeated here with the same defaults and must match
    the spectrograms (``n_mels`` is checked against the input). A row belongs to
    a band when its filter's centre frequency lies in ``[low_hz, high_hz)``.

    ``fit`` computes the bands once (``ranges_``) and describes them
    (``view_names_``, ``bands_hz_``, ``view_windows_``): the metadata that
    :func:`~sklearn_hallu.inspection.frequency_importance` and the classifier's
    ``crop_views`` read. ``transform`` uses the fitted bands; called unfitted it
    computes them from the parameters (the transformer learns nothing from data).

    Read more in the :doc:`User Guide </user_guide>`.

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
    fill : "nan", "min" or float, default="nan"
        Value written in masked cells. ``"nan"`` marks them as missing:
        :class:`~sklearn_hallu.HalluAudioClassifier` reads them as the mean of
        its training spectrograms, i.e. 0 after its standardisation (the paper's
        "set to zero"); it beat ``"min"`` by 3-4 points on ESC-50's validation
        classes (:doc:`/results`). ``"min"`` writes each clip's own
        minimum (its ``top_db`` floor), the quietest thing in the clip; a number
        writes that many dB. Estimators other than ours may need one of those.
    include_whole : bool, default=True
        Put the unmasked spectrogram first (view 0), as HalluAudio does.
    sr : int, default=16000
        Sample rate, as in :class:`LogMelTransformer`.
    n_mels : int, default=128
        Number of mel rows, as in :class:`LogMelTransformer`.
    fmin : float, default=0.0
        Lowest mel frequency in Hz, as in :class:`LogMelTransformer`.
    fmax : float, default=8000.0
        Highest mel frequency in Hz, as in :class:`LogMelTransformer`.
    htk : bool, default=False
        HTK mel formula, as in :class:`LogMelTransformer`.

    Attributes
    ----------
    ranges_ : list of (int, int)
        Rows (frequency axis) or frames (time axis) ``(start, stop)`` each band view keeps.
    n_views_ : int
        Views in the output.
    view_names_ : list of str
        Name of each output view: ``"whole"``, then ``"low"`` and ``"high"`` for
        ``split_hz``, ``"<low>-<high> Hz"`` for ``bands``, ``"first half"`` and
        ``"second half"`` for ``axis="time"``.
    bands_hz_ : list of (float, float) or None
        The Hz band of each band view; ``None`` for ``axis="time"``.
    view_windows_ : list of (int, int, int, int)
        For each output view, the window ``(row_start, row_stop, frame_start,
        frame_stop)`` where it is unmasked, on the spectrograms seen in ``fit``.

    See Also
    --------
    LogMelTransformer : The step before: waveforms to log-mel spectrograms.
    HalluAudioClassifier : The step after: one backbone per view.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_hallu.preprocessing import FrequencyMaskTransformer
    >>> S = np.zeros((2, 128, 160), dtype="float32")
    >>> masks = FrequencyMaskTransformer(split_hz=2000).fit(S)
    >>> masks.transform(S).shape
    (2, 3, 128, 160)
    >>> masks.view_names_, masks.view_windows_[1]
    (['whole', 'low', 'high'], (0, 71, 0, 160))
    """

    _output_shape = "(n_clips, n_views, n_mels, n_frames)"
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
        fill="nan",
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

    def _bands_hz(self):
        """The Hz bands of the band views (frequency axis), checked against the mel range."""
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
            return [(self.fmin, self.split_hz), (self.split_hz, self.fmax)]
        bands = [tuple(b) for b in self.bands]
        if any(len(b) != 2 for b in bands) or len(bands) == 0:
            raise ValueError(
                f"bands must be a non-empty list of (low_hz, high_hz) pairs, got {self.bands!r}."
            )
        return bands

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
        return band_rows(self._bands_hz(), n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax,
                         htk=self.htk)

    def _describe(self, n_frames):
        """``view_names_``, ``bands_hz_`` and ``view_windows_`` of the fitted ranges."""
        whole = ["whole"] if self.include_whole else []
        if self.axis == "time":
            self.bands_hz_ = None
            self.view_names_ = whole + ["first half", "second half"]
            windows = [(0, self.n_mels, a, b) for a, b in self.ranges_]
        else:
            self.bands_hz_ = [(float(lo), float(hi)) for lo, hi in self._bands_hz()]
            names = (["low", "high"] if self.bands is None
                     else [f"{lo:g}-{hi:g} Hz" for lo, hi in self.bands_hz_])
            self.view_names_ = whole + names
            windows = [(a, b, 0, n_frames) for a, b in self.ranges_]
        self.view_windows_ = [(0, self.n_mels, 0, n_frames)] * len(whole) + windows

    def fit(self, X, y=None):
        """Compute the bands for spectrograms shaped like ``X``.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_mels, n_frames)
            Log-mel spectrograms; only their shape and first clip are checked.
        y : None
            Ignored.

        Returns
        -------
        self : FrequencyMaskTransformer
            The fitted transformer.
        """
        # shape and parameters only; transform checks every clip (no double copy in
        # fit_transform)
        head = check_spectrograms(X[:1] if getattr(X, "ndim", 0) == 3 else X, n_mels=self.n_mels)
        self.ranges_ = self._ranges(head.shape[2])
        self.n_views_ = len(self.ranges_) + int(self.include_whole)
        self._describe(head.shape[2])
        return self

    def transform(self, X):
        """Build the views.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_mels, n_frames)
            Log-mel spectrograms.

        Returns
        -------
        views : ndarray of shape (n_clips, n_views, n_mels, n_frames), float32
            View 0 is the whole spectrogram (if ``include_whole``), then one
            view per band in the order given (low before high for ``split_hz``).
        """
        X = check_spectrograms(X, n_mels=self.n_mels)
        ranges = getattr(self, "ranges_", None)
        if ranges is None or (self.axis == "time" and ranges[-1][1] != X.shape[2]):
            ranges = self._ranges(X.shape[2])  # unfitted (stateless), or other clip lengths
        axis = 2 if self.axis == "time" else 1
        return masked_views(X, ranges, axis=axis, fill=self.fill, include_whole=self.include_whole)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags
