"""One home for input checks: waveforms, spectrograms, views and labels.

Every family validates its input here, so that one kind of input gets one kind
of message wherever it is passed.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils import check_array

__all__ = [
    "reject_sparse",
    "check_waveform",
    "check_waveform_array",
    "check_spectrograms",
    "check_views",
    "check_labels",
    "check_two_classes",
    "check_time_shift",
    "check_spec_augment",
]


def reject_sparse(X):
    """Raise a TypeError for scipy sparse input (waveforms and spectrograms are dense).

    Parameters
    ----------
    X : object
        Any input.

    Raises
    ------
    TypeError
        ``X`` is a scipy sparse matrix or array.
    """
    from scipy import sparse

    if sparse.issparse(X):
        raise TypeError(
            "Sparse data was passed, but dense data is required: waveforms and spectrograms "
            "are dense arrays. Convert with X.toarray()."
        )


def _as_array(X):
    """``X`` itself when it already has a shape and a dtype, else ``np.asarray(X)``."""
    reject_sparse(X)
    if not hasattr(X, "shape") or not hasattr(X, "dtype"):
        X = np.asarray(X)
    return X


def _first_bad_clip(bad_rows, name, hint):
    """The ValueError naming how many clips hold NaN/inf, and the first one."""
    bad = np.flatnonzero(bad_rows)
    return ValueError(
        f"{name} contains NaN or infinity in {bad.size} clip(s), first at index {bad[0]}. "
        + hint
    )


def _too_short(what, n, min_samples, *, array=False):
    # For a 2-D array, also in scikit-learn's words: a sample is a feature (a column).
    features = f" (X has {n} feature(s): samples per clip)" if array else ""
    return ValueError(
        f"{what} has {n} samples{features}, shorter than one frame (n_fft={min_samples}). "
        "Use longer clips or a smaller n_fft."
    )


def _nonfinite_samples(what, n_bad):
    return ValueError(
        f"{what} contains NaN or infinity ({n_bad} samples). Replace them "
        "(e.g. np.nan_to_num) or drop the clip."
    )


def check_waveform_array(arr, *, min_samples):
    """Validate a 2-D array of equal-length waveforms with vectorised checks.

    Parameters
    ----------
    arr : ndarray of shape (n_clips, n_samples)
        Waveforms, one per row.
    min_samples : int
        Clips shorter than this are refused (one STFT frame).

    Returns
    -------
    waveforms : ndarray of shape (n_clips, n_samples), float32
        ``arr`` itself when it is already float32.
    """
    if arr.dtype.kind in "biuf" and arr.ndim == 2 and min(arr.shape) > 0:
        arr = arr.astype(np.float32, copy=False)
    else:  # scikit-learn's messages for complex, object, empty and 1-D input
        arr = check_array(arr, dtype=np.float32, ensure_all_finite=False)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        n_bad = int(arr[i].size - np.count_nonzero(np.isfinite(arr[i])))
        raise _nonfinite_samples(f"clip {i}", n_bad)
    if arr.shape[1] < min_samples:
        raise _too_short("clip 0", arr.shape[1], min_samples, array=True)
    return arr


def check_waveform(arr, *, what, min_samples):
    """Validate one waveform (a clip of a list of clips, or a decoded file).

    Parameters
    ----------
    arr : array-like of shape (n_samples,)
        One waveform.
    what : str
        How the messages name the clip, e.g. ``"clip 3"`` or ``"file 'a.wav'"``.
    min_samples : int
        Clips shorter than this are refused (one STFT frame).

    Returns
    -------
    waveform : ndarray of shape (n_samples,), float32
        The clip, finite and long enough.
    """
    arr = np.asarray(arr)
    if arr.dtype.kind == "c":
        raise ValueError(
            f"{what} is complex ({arr.dtype}); complex data is not supported. Pass "
            "real-valued waveforms."
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{what} has dtype {arr.dtype}; waveforms must be numeric arrays (or file paths)."
        )
    if arr.ndim != 1:
        raise ValueError(
            f"{what} must be a 1-D waveform, got shape {arr.shape}. Mix multichannel "
            "audio to mono first (e.g. arr.mean(axis=0)) or pass the file path."
        )
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise _nonfinite_samples(what, int(np.size(arr) - np.count_nonzero(np.isfinite(arr))))
    if arr.shape[0] < min_samples:
        raise _too_short(what, arr.shape[0], min_samples)
    return arr


def check_spectrograms(X, *, n_mels=None, name="X", ndim=3):
    """Validate a float array of spectrograms (or views) and return it as float32.

    Parameters
    ----------
    X : array-like of shape (n_clips, n_mels, n_frames)
        Spectrograms (or, with ``ndim=4``, views ``(n_clips, n_views, n_mels, n_frames)``).
    n_mels : int or None, default=None
        When given, the number of mel rows ``X`` must have.
    name : str, default="X"
        How the messages name the input.
    ndim : int, default=3
        The number of dimensions ``X`` must have.

    Returns
    -------
    X : ndarray, float32
        Finite values only.
    """
    X = _as_array(X)
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
        raise _first_bad_clip(~np.isfinite(X.reshape(X.shape[0], -1)).all(axis=1), name,
                              "Clean or drop those clips before transforming.")
    if n_mels is not None and X.shape[-2] != n_mels:
        raise ValueError(
            f"{name} has {X.shape[-2]} mel rows but n_mels={n_mels}. Set n_mels (and "
            "the other mel parameters) to those used to make the spectrograms."
        )
    return X


def check_views(X, *, view_shape=None, estimator_name="the classifier"):
    """Validate a classifier's input and return it as views ``(n, n_views, n_mels, n_frames)``.

    2-D input is read as one view of one mel row per clip, 3-D input as one view
    (the plain prototypical network). NaN is allowed only in band views (view 1
    onwards): masked cells of ``FrequencyMaskTransformer(fill="nan")``.

    Parameters
    ----------
    X : array-like of shape (n_clips, n_views, n_mels, n_frames)
        Views, or 3-D spectrograms ``(n_clips, n_mels, n_frames)``, or 2-D rows.
    view_shape : tuple of int or None, default=None
        ``(n_views, n_mels, n_frames)`` the views must have (those seen in ``fit``).
    estimator_name : str, default="the classifier"
        How the messages name the estimator.

    Returns
    -------
    X : ndarray of shape (n_clips, n_views, n_mels, n_frames), float32
        The views; NaN only in band views.
    """
    X = _as_array(X)
    if X.ndim <= 2:  # scikit-learn's own messages for 1-D, empty, complex, object
        X = check_array(X, dtype=np.float32, ensure_all_finite=False)
    if X.dtype.kind not in "biuf":
        raise TypeError(
            f"X must be a numeric array of spectrogram views, got dtype {X.dtype}. "
            "Put LogMelTransformer (and FrequencyMaskTransformer) before the classifier."
        )
    if X.ndim == 2:  # tabular input: one view, one row
        X = X[:, None, None, :]
    elif X.ndim == 3:  # one view: the plain prototypical network
        X = X[:, None]
    elif X.ndim != 4:
        raise ValueError(
            f"X must be 3-D (n_clips, n_mels, n_frames) or 4-D (n_clips, n_views, "
            f"n_mels, n_frames), got shape {X.shape}."
        )
    if X.shape[0] == 0:
        raise ValueError(f"X holds no clips (shape {X.shape}); pass at least one.")
    X = np.asarray(X, dtype=np.float32)
    inf, nan0 = np.isinf(X), np.isnan(X[:, 0])
    if inf.any() or nan0.any():
        bad = inf.reshape(len(X), -1).any(axis=1) | nan0.reshape(len(X), -1).any(axis=1)
        raise _first_bad_clip(bad, "X", "Check the audio (LogMelTransformer refuses such "
                                        "waveforms) or drop them.")
    if view_shape is not None and X.shape[1:] != tuple(view_shape):
        raise ValueError(
            f"X has {int(np.prod(X.shape[1:]))} features, but {estimator_name} is expecting "
            f"{int(np.prod(view_shape))} features as input: views of shape {X.shape[1:]} "
            f"(n_views, n_mels, n_frames) instead of {tuple(view_shape)}. Use the same "
            "transformers (and clip duration) as in fit."
        )
    return X


def check_labels(y, n_samples, *, estimator_name="the estimator"):
    """Validate class labels: one per clip, not continuous, a column vector raveled.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels of any type (strings work).
    n_samples : int
        The number of clips the labels go with.
    estimator_name : str, default="the estimator"
        How the messages name the estimator.

    Returns
    -------
    y : ndarray of shape (n_samples,)
        The labels, 1-D.
    """
    if y is None:
        raise ValueError(
            f"{estimator_name} requires y to be passed, but the target y is None. "
            "Pass one label per clip."
        )
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        from sklearn.exceptions import DataConversionWarning

        warnings.warn(
            "A column-vector y was passed when a 1d array was expected; it is raveled.",
            DataConversionWarning,
            stacklevel=4,
        )
        y = y.ravel()
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("Input y contains NaN or infinity; give every clip a label.")
    if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        raise ValueError(
            "Unknown label type: y holds continuous values; a classifier needs class "
            "labels (integers or strings)."
        )
    if y.ndim != 1 or y.shape[0] != n_samples:
        raise ValueError(
            f"y must be 1-D with one label per clip ({n_samples}), got shape {y.shape}."
        )
    return y


def check_two_classes(y, *, support=False):
    """Raise a ValueError when ``y`` holds a single class.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Labels.
    support : bool, default=False
        Word the message for a support set instead of training data.
    """
    classes = np.unique(y)
    if len(classes) >= 2:
        return
    only = classes[0].item() if hasattr(classes[0], "item") else classes[0]
    if support:
        raise ValueError(
            f"The support set has a single class ({only!r}); give labelled clips of at "
            "least 2 classes."
        )
    raise ValueError(
        f"y has a single class ({only!r}): the classifier can't train when only one class "
        "is present. Give clips of at least 2 classes."
    )


def check_time_shift(time_shift):
    """Raise a ValueError unless ``time_shift`` is None or ``(low, high)``, 0 <= low <= high.

    Parameters
    ----------
    time_shift : tuple of int or None
        The classifier's ``time_shift`` parameter.
    """
    if time_shift is not None and (
        len(time_shift) != 2 or not 0 <= time_shift[0] <= time_shift[1]
    ):
        raise ValueError(
            f"time_shift must be None or (low, high) with 0 <= low <= high, got {time_shift!r}."
        )


def check_spec_augment(spec_augment):
    """Raise a ValueError unless ``spec_augment`` is None or a valid masking dict.

    Parameters
    ----------
    spec_augment : dict or None
        The classifier's ``spec_augment`` parameter: keys ``"freq"`` and/or
        ``"time"``, each ``(n_masks, max_width)`` with ``n_masks >= 0`` and
        ``max_width >= 0`` (mel rows or frames).
    """
    if spec_augment is None:
        return
    how = ('e.g. spec_augment={"freq": (2, 12), "time": (2, 16)}: per clip, 2 bands of up '
           "to 12 mel rows and 2 of up to 16 frames are blanked")
    if not isinstance(spec_augment, dict) or not spec_augment:
        raise ValueError(f"spec_augment must be None or a non-empty dict, got "
                         f"{spec_augment!r}; {how}.")
    unknown = set(spec_augment) - {"freq", "time"}
    if unknown:
        raise ValueError(f"spec_augment has unknown keys {sorted(unknown)!r}: only 'freq' "
                         f"and 'time'; {how}.")
    for key, value in spec_augment.items():
        ok = (isinstance(value, (tuple, list)) and len(value) == 2
              and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0
                      for v in value))
        if not ok:
            raise ValueError(f"spec_augment[{key!r}] must be (n_masks, max_width), two "
                             f"integers >= 0, got {value!r}; {how}.")
