"""The HalluAudio paper's Kaggle18 curation: balanced classes, fixed length around the peak."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils import Bunch

from ._kaggle18 import KAGGLE18_CLASS_NAMES, _load_many, kaggle18_class_split

__all__ = ["crop_around_peak", "curate_kaggle18"]


def crop_around_peak(y, n_samples, *, return_peak=False):
    """Cut or pad a clip to ``n_samples`` samples, its peak in the middle when possible.

    The peak is the first sample of largest absolute value. A longer clip keeps
    the window ``[peak - n_samples // 2, peak - n_samples // 2 + n_samples)``,
    shifted inside the clip when the peak is near an end. A shorter clip is
    placed whole in a window of zeros (silence) so that its peak lands as near
    the middle as the clip allows; nothing is repeated or stretched. Either
    way the peak is inside the result.

    The ``crop="loudest"`` option of
    :class:`~sklearn_hallu.preprocessing.LogMelTransformer` is not this: it keeps
    the window of most energy (the peak may fall outside it, for a click beside
    a long hum) and pads short clips at the end, so the peak of a short clip is
    not centred. The paper cuts "around the peak of the waveform", which is what
    its time-concept ablation relies on (the first half of the spectrogram is
    the onset, the second the decay).

    Parameters
    ----------
    y : array-like of shape (n,)
        One mono waveform, ``n >= 1``.
    n_samples : int
        Length of the result.
    return_peak : bool, default=False
        Also return where the peak lies in the result.

    Returns
    -------
    clip : ndarray of shape (n_samples,), float32
        The cut or padded clip.
    peak : int
        Index of the peak in ``clip``; with ``return_peak=True`` only.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(
            f"crop_around_peak takes one mono waveform (a non-empty 1-D array); got shape "
            f"{y.shape}. Mix a multi-channel clip to mono first (y.mean(axis=0))."
        )
    if not isinstance(n_samples, Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
    peak = int(np.argmax(np.abs(y)))
    out = np.zeros(int(n_samples), dtype=np.float32)
    if y.size >= n_samples:
        start = min(max(peak - n_samples // 2, 0), y.size - n_samples)
        out[:] = y[start:start + n_samples]
        where = peak - start
    else:
        offset = min(max(n_samples // 2 - peak, 0), n_samples - y.size)
        out[offset:offset + y.size] = y
        where = peak + offset
    return (out, where) if return_peak else out


def _balanced_indices(target, verified, n_per_class, prefer_verified, random_state):
    """Indices of ``n_per_class`` clips of every class, drawn with one seeded RandomState."""
    classes, counts = np.unique(target, return_counts=True)
    n = int(counts.min()) if n_per_class is None else n_per_class
    if not isinstance(n, Integral) or n < 1:
        raise ValueError(f"n_per_class must be a positive integer or None; got {n_per_class!r}.")
    short = [(KAGGLE18_CLASS_NAMES[c], int(k)) for c, k in zip(classes, counts) if k < n]
    if short:
        raise ValueError(
            f"n_per_class={n} but {len(short)} classes have fewer clips: {short[:5]}. "
            f"Pass n_per_class<={int(counts.min())} or n_per_class=None (the smallest count)."
        )
    rng = np.random.RandomState(random_state)
    keep = []
    for c in classes:
        idx = np.flatnonzero(target == c)
        idx = idx[rng.permutation(idx.size)]
        if prefer_verified:  # verified clips first, the random order kept among equals
            idx = idx[np.argsort(~verified[idx], kind="stable")]
        keep.append(np.sort(idx[:n]))
    return np.concatenate(keep), n


def _waveforms(dataset, idx, sr):
    """The waveforms of clips ``idx``: from ``dataset.data`` when loaded at ``sr``, else read."""
    data = dataset["data"]
    if dataset.get("sr") == sr and len(data) and not isinstance(data[0], str):
        return [data[i] for i in idx]
    return _load_many([dataset["filenames"][i] for i in idx], sr)


def curate_kaggle18(dataset, *, n_per_class=None, duration=2.0, sr=16000,
                    prefer_verified=True, random_state=0):
    """The paper's balanced fixed-length Kaggle18: equal clips per class, cut around the peak.

    The paper curates FSDKaggle2018 into "a balanced fixed-length dataset"
    around "the peak of the waveform", at 16 kHz, with hop 201 giving 160
    frames; it gives neither the length nor the number of clips per class.
    Here:

    * length: ``duration=2.0`` s, 32,000 samples at 16 kHz. With librosa's
      centred frames a clip gives ``1 + n_samples // 201`` frames, so 160
      frames need 31,959 to 32,159 samples; 2 s is the round value inside.
      Use ``LogMelTransformer(hop_length=201, duration=2.0)``.
    * cut: :func:`crop_around_peak` on the clip resampled to ``sr`` (the peak
      in the middle; shorter clips zero-padded around, never repeated).
    * balance: ``n_per_class`` clips of every class in ``dataset``. ``None``
      takes the smallest class's count, the largest balanced set that keeps
      every class without repeating a clip (FSDKaggle2018's smallest class has
      94 training clips, so ``subset="all"`` gives at least 94).
    * which clips: a ``np.random.RandomState(random_state)`` permutation per
      class, in class-id order; with ``prefer_verified`` the clips with a
      verified label come first (the paper does not say; fewer wrong labels).

    Parameters
    ----------
    dataset : Bunch
        The result of :func:`fetch_kaggle18` (paths, or waveforms loaded at ``sr``).
    n_per_class : int or None, default=None
        Clips kept per class; ``None`` is the smallest class's count.
    duration : float, default=2.0
        Length of every clip in seconds.
    sr : int, default=16000
        Sample rate of the result (files are resampled).
    prefer_verified : bool, default=True
        Take clips with a manually verified label before the others.
    random_state : int, default=0
        Seed of the choice of clips. The same seed and dataset give the same set.

    Returns
    -------
    curated : Bunch
        ``data`` ndarray ``(n_classes * n_per_class, round(duration * sr))``
        float32, grouped by class id; ``target`` (class ids, indices into
        ``target_names``); ``target_names``; ``filenames``;
        ``manually_verified``; ``peak`` (index of each clip's peak in ``data``);
        ``n_per_class``; ``class_split`` and ``class_split_names`` (as
        :func:`kaggle18_class_split`); ``sr``; ``DESCR``.
    """
    target = np.asarray(dataset["target"])
    if target.size == 0:
        raise ValueError("The dataset holds no clips; check the subset and filters of "
                         "fetch_kaggle18.")
    n_samples = int(round(duration * sr))
    if n_samples < 1:
        raise ValueError(f"duration * sr must give at least one sample; got {duration!r} s "
                         f"at {sr!r} Hz.")
    verified = np.asarray(dataset["manually_verified"], dtype=bool)
    idx, n = _balanced_indices(target, verified, n_per_class, prefer_verified, random_state)
    cut = [crop_around_peak(y, n_samples, return_peak=True) for y in _waveforms(dataset, idx, sr)]
    split = kaggle18_class_split()
    return Bunch(
        data=np.stack([c for c, _ in cut]), target=target[idx],
        target_names=np.asarray(KAGGLE18_CLASS_NAMES, dtype=object),
        filenames=np.asarray(dataset["filenames"], dtype=object)[idx],
        manually_verified=verified[idx], peak=np.asarray([p for _, p in cut]),
        n_per_class=n, class_split=split,
        class_split_names={k: [KAGGLE18_CLASS_NAMES[i] for i in v] for k, v in split.items()},
        sr=sr,
        DESCR=(f"Kaggle18 curated as in HalluAudio: {n} clips per class, {duration:g} s at "
               f"{sr} Hz cut around the waveform's peak (zero-padded when shorter); "
               f"clips drawn with random_state={random_state}."),
    )
