"""Long recordings: score every window of a clip and pool, instead of keeping one.

A fitted model reads clips of one length, its LogMelTransformer's ``duration``;
``crop`` keeps one window of a longer clip and drops the rest. These functions
cut each clip into overlapping windows of that length that cover all of it
(:func:`~sklearn_hallu.preprocessing.window_clips`), run the model on every
window at once, and pool per clip.
"""

from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
from sklearn.pipeline import Pipeline

from ._support import embed, fit_support
from .exceptions import SilentClipWarning
from .preprocessing import LogMelTransformer, clip_label, window_clips

__all__ = ["predict_proba_windows", "predict_windows", "embed_windows", "fit_support_windows"]

POOL_MODES = ("mean", "max")


def _check_model(model, func):
    """The model's first step, a LogMelTransformer, and its clip length in samples."""
    pipe = isinstance(model, Pipeline)
    first = model.steps[0][1] if pipe else model
    if not (isinstance(first, LogMelTransformer) and pipe and len(model.steps) >= 2):
        got = (f"a Pipeline whose first step is a {type(first).__name__}" if pipe
               else f"a {type(model).__name__}")
        raise TypeError(
            f"{func} needs a fitted Pipeline whose first step is a LogMelTransformer (it "
            f"reads the windows), got {got}. Put LogMelTransformer first, or cut the "
            "windows yourself with sklearn_hallu.preprocessing.window_clips."
        )
    n = first.n_samples if first.duration is not None else getattr(first, "n_features_in_", None)
    if n is None:
        raise ValueError(
            f"{func}: the model's LogMelTransformer has duration=None and was not fitted on "
            "a 2-D array, so it has no clip length to cut windows of. Set its duration."
        )
    return first, int(n)


def _check_hop(hop_s, n, sr):
    """``hop_s`` seconds as samples: half the window when None, else 1 to ``n``."""
    if hop_s is None:
        return max(1, n // 2)
    window = n / sr
    if not isinstance(hop_s, Real) or isinstance(hop_s, bool) or not hop_s > 0:
        raise ValueError(
            f"hop_s must be a positive number of seconds (at most the window, {window:g} s), "
            f"got {hop_s!r}. Use hop_s=None for half a window."
        )
    hop = int(round(hop_s * sr))
    if hop > n:
        raise ValueError(
            f"hop_s={hop_s!r} is longer than the window ({window:g} s, the model's "
            f"duration): the audio between windows would be skipped. Use hop_s <= {window:g}."
        )
    if hop < 1:
        raise ValueError(f"hop_s={hop_s!r} is shorter than one sample at {sr} Hz; use a "
                         f"hop of at least {1 / sr:g} s.")
    return hop


def _check_pool(pool):
    if pool not in POOL_MODES:
        raise ValueError(f"pool must be 'mean' or 'max', got {pool!r}. 'mean' averages "
                         "the windows' scores, 'max' keeps each class's highest.")


def _windows(model, X, hop_s, func):
    """Log-mel windows, their clips, the windows to pool, and the rest of the model."""
    logmel, n = _check_model(model, func)
    hop = _check_hop(hop_s, n, logmel.sr)
    wins, clip, _ = window_clips(X, sr=logmel.sr, n_samples=n, hop_length=hop,
                                 min_samples=logmel.n_fft)
    S, silent = logmel._spectrograms(wins)  # silent windows: no per-window warning
    silent = np.asarray(silent, dtype=bool)
    n_clips = int(clip[-1]) + 1
    sound = np.bincount(clip[~silent], minlength=n_clips) > 0
    keep = ~silent | ~sound[clip]  # silent windows count only for a clip silent throughout
    if not sound.all():
        idx = np.flatnonzero(~sound)
        names = ", ".join(clip_label(X, int(i)) for i in idx[:5])
        more = f" and {idx.size - 5} more" if idx.size > 5 else ""
        warnings.warn(SilentClipWarning(
            f"{idx.size} of {n_clips} clips are silent throughout (no window with energy "
            f"above about -80 dB): {names}{more}. They are scored as silence; remove them "
            "if they are not meant as silence.", indices=idx), stacklevel=3)
    return S, clip, keep, model[1:]


def _pool(values, clip, keep, pool):
    """Per clip, the mean or max of ``values`` over its kept windows (rows)."""
    clip, values = clip[keep], values[keep]
    n_clips = int(clip.max()) + 1
    if pool == "mean":
        out = np.zeros((n_clips, values.shape[1]), dtype=np.float64)
        np.add.at(out, clip, values)
        return out / np.bincount(clip, minlength=n_clips)[:, None]
    out = np.full((n_clips, values.shape[1]), -np.inf)
    np.maximum.at(out, clip, values)
    return out



def predict_proba_windows(model, X, *, hop_s=None, pool="mean"):
    """Predict class probabilities of clips of any length, pooled over their windows.

    Each clip is cut into windows of the model's clip length (its
    LogMelTransformer's ``duration``), ``hop_s`` apart, the last one ending
    with the clip, so nothing is dropped (and no ``AudioCroppedWarning`` is
    raised); a clip no longer than a window is one window, padded with silence
    as usual. All windows go through the model in one call, then each clip's
    window probabilities are pooled. Silent windows of a clip that has sound
    elsewhere are left out of the pool; a clip silent throughout is scored as
    silence, with a :class:`~sklearn_hallu.exceptions.SilentClipWarning`.
    With a batch ``embedding_norm`` (``"batch_centered_l2"``, ``"batch_whitened_l2"``,
    ``"batch_propagated_l2"``, ``"batch_label_propagated_l2"``) the statistics (or the
    graph) are those of the supports and every window of the call (silent ones included),
    so a long clip weighs in them by its number of windows.

    Parameters
    ----------
    model : Pipeline
        A fitted Pipeline whose first step is a
        :class:`~sklearn_hallu.LogMelTransformer`; its ``duration`` is the
        window length.
    X : array-like of shape (n_clips, n_samples), or sequence of 1-D arrays or of paths
        Waveforms at the LogMelTransformer's ``sr``, or audio files, of any lengths.
    hop_s : float or None, default=None
        Seconds between the starts of consecutive windows, at most the window;
        ``None`` is half a window.
    pool : {"mean", "max"}, default="mean"
        ``"mean"`` averages the windows' probabilities; ``"max"`` keeps each
        class's highest probability over the windows (the rows are then
        divided by their sum): a short event anywhere in the clip counts in full.

    Returns
    -------
    proba : ndarray of shape (n_clips, n_classes)
        Pooled probabilities (rows sum to 1), columns in the order of ``model.classes_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_hallu import (HalluAudioClassifier, LogMelTransformer,
    ...                            predict_proba_windows)
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(8, 4000)).astype("float32"), np.repeat(["a", "b"], 4)
    >>> model = make_pipeline(
    ...     LogMelTransformer(sr=8000, n_mels=16, n_fft=256, hop_length=128,
    ...                       fmax=4000.0, duration=0.5),
    ...     HalluAudioClassifier(train_backbone=False, channels=(4, 4, 4), random_state=0),
    ... ).fit(X, y)
    >>> long_clip = rng.normal(size=20000).astype("float32")  # 2.5 s: 9 windows
    >>> predict_proba_windows(model, [long_clip, X[0]], pool="max").shape
    (2, 2)
    """
    _check_pool(pool)
    S, clip, keep, rest = _windows(model, X, hop_s, "predict_proba_windows")
    proba = _pool(rest.predict_proba(S), clip, keep, pool)
    return proba / proba.sum(axis=1, keepdims=True)


def predict_windows(model, X, *, hop_s=None, pool="mean"):
    """Predict the labels of clips of any length: the highest pooled probability.

    See :func:`predict_proba_windows`, which this calls.

    Parameters
    ----------
    model : Pipeline
        A fitted Pipeline whose first step is a
        :class:`~sklearn_hallu.LogMelTransformer`; its ``duration`` is the
        window length.
    X : array-like of shape (n_clips, n_samples), or sequence of 1-D arrays or of paths
        Waveforms at the LogMelTransformer's ``sr``, or audio files, of any lengths.
    hop_s : float or None, default=None
        Seconds between the starts of consecutive windows, at most the window;
        ``None`` is half a window.
    pool : {"mean", "max"}, default="mean"
        How the windows' probabilities are pooled (see :func:`predict_proba_windows`).

    Returns
    -------
    labels : ndarray of shape (n_clips,)
        Labels from ``model.classes_``.
    """
    proba = predict_proba_windows(model, X, hop_s=hop_s, pool=pool)
    return np.asarray(model.classes_)[proba.argmax(axis=1)]


def embed_windows(model, X, *, hop_s=None, pool="mean"):
    """Compute embeddings of clips of any length, pooled over their windows.

    The windows are those of :func:`predict_proba_windows`. With
    ``pool="mean"`` a clip's embedding is the mean of its windows'
    embeddings, as a prototype is the mean of its clips': it is what the
    command line's ``evaluate --crop windows`` scores episodes on (through
    :func:`~sklearn_hallu.model_selection.few_shot_report`'s ``embeddings``).
    Each window is embedded as :meth:`~sklearn_hallu.HalluAudioClassifier.embed`
    does (normalised as its ``embedding_norm`` says); their mean no longer has one
    norm per view.

    Parameters
    ----------
    model : Pipeline
        A fitted Pipeline whose first step is a
        :class:`~sklearn_hallu.LogMelTransformer`; its ``duration`` is the
        window length.
    X : array-like of shape (n_clips, n_samples), or sequence of 1-D arrays or of paths
        Waveforms at the LogMelTransformer's ``sr``, or audio files, of any lengths.
    hop_s : float or None, default=None
        Seconds between the starts of consecutive windows, at most the window;
        ``None`` is half a window.
    pool : {"mean", "max"}, default="mean"
        ``"mean"`` averages the windows' embeddings; ``"max"`` keeps the
        largest value of each dimension.

    Returns
    -------
    emb : ndarray of shape (n_clips, embedding_dim)
        Pooled embeddings (float64).
    """
    _check_pool(pool)
    S, clip, keep, rest = _windows(model, X, hop_s, "embed_windows")
    return _pool(embed(rest, S), clip, keep, pool)


def fit_support_windows(model, X, y, *, hop_s=None):
    """Use labelled clips of any length as the classes to predict, every window a support.

    Like :func:`~sklearn_hallu.fit_support`, with each clip cut into the
    windows of :func:`predict_proba_windows` (silent windows of a clip with
    sound elsewhere left out), each window labelled as its clip: a class's
    prototype is the mean embedding of all its windows, so a longer clip weighs
    more. The backbones are not retrained.

    Parameters
    ----------
    model : Pipeline
        A fitted Pipeline whose first step is a
        :class:`~sklearn_hallu.LogMelTransformer`; its ``duration`` is the
        window length.
    X : array-like of shape (n_clips, n_samples), or sequence of 1-D arrays or of paths
        Waveforms at the LogMelTransformer's ``sr``, or audio files, of any lengths.
    y : array-like of shape (n_clips,)
        Labels of at least 2 classes.
    hop_s : float or None, default=None
        Seconds between the starts of consecutive windows, at most the window;
        ``None`` is half a window.

    Returns
    -------
    model : Pipeline
        The same object, now predicting among ``np.unique(y)``.
    """
    y = np.asarray(y)
    S, clip, keep, rest = _windows(model, X, hop_s, "fit_support_windows")
    if y.ndim != 1 or len(y) != int(clip[-1]) + 1:
        raise ValueError(f"y must hold one label per clip: X has {int(clip[-1]) + 1} clips, "
                         f"y has shape {y.shape}. Pass one label per clip of X.")
    fit_support(rest, S[keep], y[clip[keep]])
    return model

