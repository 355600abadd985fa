"""Prediction over many audio files in bounded batches, here or on a Dask cluster.

:func:`predict_files` reads, embeds and scores ``batch_size`` files at a time
and yields one :class:`FilePrediction` per file as soon as its batch is done,
so memory depends on the batch size, not on the number of files, and the first
results come out after one batch. The numbers are those of the Pipeline's own
``predict_proba`` (or of :func:`~sklearn_hallu.predict_proba_windows` with
``windows=True``) on all the files at once: every clip is scored on its own.
"""

from __future__ import annotations

import itertools
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._file_reading import check_audio_files, read_batch
from ._support import check_inductive
from ._window_prediction import _check_pool, predict_proba_windows
from .exceptions import AudioCroppedWarning, ClipWarning, SilentClipWarning
from .preprocessing import LogMelTransformer

__all__ = ["FilePrediction", "AudioFileError", "predict_files", "check_audio_files"]

ON_ERROR = ("stop", "skip")


@dataclass(frozen=True)
class FilePrediction:
    """What :func:`predict_files` found for one file.

    The fields are attributes of the same names.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    path : str
        The file, as given.
    label : object or None
        The predicted class (from ``model.classes_``); None when the file was skipped.
    proba : ndarray of shape (n_classes,) or None
        Class probabilities (float64) in the order of ``model.classes_``; None when
        the file was skipped.
    error : str or None
        Why the file could not be used (it names the file and the way out); None
        when it was predicted.
    seconds : float or None
        Length of the audio read, in seconds; None when the file was skipped.
    silent : bool
        The clip has no energy above about -80 dB (it is scored as silence).
    cropped : bool
        The clip is longer than the model's duration and was cut (not with
        ``windows=True``, which scores all of it).
    """

    path: str
    label: object = None
    proba: np.ndarray | None = None
    error: str | None = None
    seconds: float | None = None
    silent: bool = False
    cropped: bool = False

    @property
    def ok(self):
        """True when the file was predicted (``error`` is None)."""
        return self.error is None


class AudioFileError(ValueError):
    """A file :func:`predict_files` could not use, with ``on_error="stop"``.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    message : str
        Which file, why, and what to do.
    path : str
        The file, kept as ``path``.
    reason : str
        Why it could not be used, kept as ``reason``.
    n_done : int
        Files whose results were yielded before it, kept as ``n_done``.
    """

    def __init__(self, message, path, reason, n_done):
        super().__init__(message)
        self.path, self.reason, self.n_done = path, reason, n_done


#: ``warnings.catch_warnings`` is process-wide: batches scored by threads of one process
#: (a Dask worker with several threads) take turns, so no batch reads another's warnings.
_WARNINGS_LOCK = threading.Lock()


def _score(model, waves, opts):
    """Probabilities of the waveforms, and which of them the model found silent."""
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if opts["windows"]:
            proba = predict_proba_windows(model, waves, hop_s=opts["hop_s"], pool=opts["pool"])
        else:
            proba = model.predict_proba(waves)
    silent = np.zeros(len(waves), dtype=bool)
    for w in caught:
        if isinstance(w.message, SilentClipWarning):
            silent[[i for i in w.message.indices if i < len(waves)]] = True
        elif not isinstance(w.message, AudioCroppedWarning):  # flagged per file instead
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                                   source=w.source)
    return np.asarray(proba, dtype=np.float64), silent


def _predict_batch(model, paths, opts):
    """One :class:`FilePrediction` per path of the batch, in order (runs on Dask workers)."""
    logmel = model.steps[0][1]
    return _predict_read(model, paths, read_batch(paths, logmel.sr, logmel.n_fft), opts)


def _predict_read(model, paths, read, opts):
    """``_predict_batch`` on a batch already read: ``read`` holds ``(waveform, error)``."""
    logmel = model.steps[0][1]
    good = [i for i, (y, _) in enumerate(read) if y is not None]
    out = [FilePrediction(path=p, error=err) for p, (_, err) in zip(paths, read)]
    if not good:
        return out
    waves = [read[i][0] for i in good]
    proba, silent = _score(model, waves, opts)
    classes = np.asarray(model.classes_)
    n = None if opts["windows"] or logmel.duration is None else logmel.n_samples
    slack = max(1, logmel.sr // 1000)  # as AudioCroppedWarning counts: over 1 ms dropped
    for k, i in enumerate(good):
        size = waves[k].shape[0]
        out[i] = FilePrediction(
            path=paths[i], label=classes[int(proba[k].argmax())], proba=proba[k],
            seconds=size / logmel.sr, silent=bool(silent[k]),
            cropped=n is not None and size - n > slack)
    return out


def _check_model(model):
    first = model.steps[0][1] if isinstance(model, Pipeline) else model
    if not (isinstance(model, Pipeline) and isinstance(first, LogMelTransformer)):
        got = (f"a Pipeline whose first step is a {type(first).__name__}"
               if isinstance(model, Pipeline) else f"a {type(model).__name__}")
        raise TypeError(
            f"predict_files needs a fitted Pipeline whose first step is a LogMelTransformer "
            f"(it reads the files), got {got}. Put LogMelTransformer first, or read the "
            "files yourself and call the model's predict_proba on the waveforms.")
    try:
        check_is_fitted(model.steps[-1][1], "prototypes_")
    except Exception:
        raise ValueError(
            "predict_files: the model has no classes to predict yet (no prototypes_). Fit "
            "it, or give it the support set first: fit_support(model, X_support, y_support)."
        ) from None
    check_inductive(model.steps[-1][1], "predict_files")


def _check_options(batch_size, on_error, windows, hop_s, pool):
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer (files per batch), got "
                         f"{batch_size!r}. The default is 256.")
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be 'stop' or 'skip', got {on_error!r}. 'stop' raises "
                         "AudioFileError at the first unusable file; 'skip' yields it with "
                         "its error and goes on.")
    _check_pool(pool)
    if not windows and (hop_s is not None or pool != "mean"):
        raise ValueError(f"hop_s={hop_s!r} and pool={pool!r} apply to windows: pass "
                         "windows=True, or leave hop_s=None and pool='mean'.")


def _batches(paths, batch_size):
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(f"paths must be a sequence or an iterable of file paths, got a single "
                        f"path {paths!r}. Wrap it in a list: [path].")
    it = iter(os.fsdecode(p) for p in paths)
    while batch := list(itertools.islice(it, batch_size)):
        yield batch


def _local(model, batches, opts):
    """Batch results, reading the next batch in a thread while this one is scored."""
    logmel = model.steps[0][1]
    with ThreadPoolExecutor(max_workers=1) as ahead:
        pending = None
        for batch in batches:
            nxt = (batch, ahead.submit(read_batch, batch, logmel.sr, logmel.n_fft))
            if pending is not None:
                yield _predict_read(model, pending[0], pending[1].result(), opts)
            pending = nxt
        if pending is not None:
            yield _predict_read(model, pending[0], pending[1].result(), opts)


def _on_cluster(client, model, batches, opts, max_in_flight):
    """Batch results from Dask workers, in order, with at most ``max_in_flight`` batches out.

    The model goes to every worker once; each task reads and scores one batch, so
    a worker holds one batch per thread.
    """
    from collections import deque

    if max_in_flight is None:
        max_in_flight = 2 * max(1, sum(client.nthreads().values()))
    remote = client.scatter(model, broadcast=True, hash=False)
    pending = deque()
    try:
        for batch in batches:
            pending.append(client.submit(_predict_batch, remote, batch, opts, pure=False))
            if len(pending) >= max_in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # stopped early (an error, or the caller closed the generator): cancel the rest
        if pending:
            client.cancel(list(pending))


def _names(paths, more):
    names = ", ".join(repr(p) for p in paths)
    return names + (f" and {more} more" if more > 0 else "")


class _Tally:
    """Counts of the files yielded, and the first few names of the silent, cut or skipped."""

    TEXT = {
        "silent": ("silent (no energy above about -80 dB): {names}. They are scored as "
                   "silence; remove them if they are not meant as silence.", SilentClipWarning),
        "cropped": ("longer than the model's duration and were cut as its crop says: "
                    "{names}. Pass windows=True to score all of each file.",
                    AudioCroppedWarning),
        "error": ("unusable and were skipped (FilePrediction.error says why): {names}.",
                  ClipWarning),
    }

    def __init__(self):
        self.n, self.hits = 0, {kind: ([], []) for kind in self.TEXT}

    def add(self, r):
        for kind, hit in (("silent", r.silent), ("cropped", r.cropped), ("error", not r.ok)):
            if hit:
                idx, names = self.hits[kind]
                idx.append(self.n)
                if len(names) < 5:
                    names.append(r.path)
        self.n += 1

    def warn(self):
        """One warning per kind, naming the first five files of it."""
        for kind, (idx, names) in self.hits.items():
            if idx:
                message, category = self.TEXT[kind]
                text = message.format(names=_names(names, len(idx) - len(names)))
                warnings.warn(category(f"{len(idx)} of {self.n} files are {text}",
                                       indices=idx), stacklevel=3)


def _stream(results, on_error):
    tally = _Tally()
    for batch in results:
        for r in batch:
            if not r.ok and on_error == "stop":
                raise AudioFileError(
                    f"{r.error} (File {tally.n + 1} of the input; the results of the "
                    f"{tally.n} files before it were yielded. Pass on_error='skip' to go on "
                    "without it, with its error in FilePrediction.error.)",
                    r.path, r.error, tally.n)
            tally.add(r)
            yield r
    tally.warn()


def predict_files(model, paths, *, batch_size=256, on_error="stop", windows=False,
                  hop_s=None, pool="mean", client=None, max_in_flight=None):
    """Predict audio files in bounded batches, yielding each file's result as it is ready.

    Files are read, embedded and scored ``batch_size`` at a time; the results
    of a batch are yielded, in input order, as soon as it is done, and the next
    batch is read while this one is scored. Memory depends on ``batch_size``,
    not on the number of files (``paths`` may be a generator). Every clip is
    scored on its own, so the numbers equal ``model.predict_proba(paths)``
    (or :func:`~sklearn_hallu.predict_proba_windows` with ``windows=True``) on
    all the files at once.

    When the generator is exhausted, a
    :class:`~sklearn_hallu.exceptions.SilentClipWarning`, an
    :class:`~sklearn_hallu.exceptions.AudioCroppedWarning` and a
    :class:`~sklearn_hallu.exceptions.ClipWarning` (skipped files) name the
    first five files of each kind; ``indices`` are positions in ``paths``.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    model : Pipeline
        A fitted Pipeline whose first step is a
        :class:`~sklearn_hallu.LogMelTransformer` (its ``sr`` and ``n_fft`` say
        how files are read), with its classes given: after ``fit``, or after
        :func:`~sklearn_hallu.fit_support` or
        :func:`~sklearn_hallu.fit_support_windows` for new classes.
    paths : iterable of str or path-like
        Audio files, read in this order (a list, or a generator of any length).
    batch_size : int, default=256
        Files per batch: two batches are held at a time (one scored, the next
        read); the waveforms of 256 five-second clips at 16 kHz take 80 MB.
        Larger batches go a little faster.
    on_error : {"stop", "skip"}, default="stop"
        What an unusable file does (missing, a dangling symlink, not decodable,
        shorter than one frame, NaN samples). ``"stop"``: raise
        :class:`AudioFileError` naming it, after yielding the files before it
        (call :func:`check_audio_files` first to list every problem at once).
        ``"skip"``: yield it with ``error`` set, and go on.
    windows : bool, default=False
        Score every window of each file and pool, as
        :func:`~sklearn_hallu.predict_proba_windows` does; False cuts longer
        files as the LogMelTransformer's ``crop`` says.
    hop_s : float or None, default=None
        With ``windows=True``: seconds between windows (None: half a window).
    pool : {"mean", "max"}, default="mean"
        With ``windows=True``: how the windows' probabilities are pooled.
    client : distributed.Client or None, default=None
        Run the batches on this Dask cluster: the model is sent to every worker
        once, each task reads and scores one batch (the paths must be readable
        on the workers), and results still come back in input order.
    max_in_flight : int or None, default=None
        With ``client``: batches submitted and not yet yielded, at most (None:
        twice the cluster's worker threads). Bounds memory on both sides.

    Returns
    -------
    results : generator of FilePrediction
        One per path, in the order of ``paths``, each yielded when its batch is
        done. The options are checked at once, the files when they are read.

    Raises
    ------
    AudioFileError
        With ``on_error="stop"``, at the first file that cannot be used.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_hallu import HalluAudioClassifier, LogMelTransformer, predict_files
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(8, 4000)).astype("float32"), np.repeat(["a", "b"], 4)
    >>> model = make_pipeline(
    ...     LogMelTransformer(sr=8000, n_mels=16, n_fft=256, hop_length=128,
    ...                       fmax=4000.0, duration=0.5),
    ...     HalluAudioClassifier(train_backbone=False, channels=(4, 4, 4), random_state=0),
    ... ).fit(X, y)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> paths = [os.path.join(tmp.name, f"{i}.wav") for i in range(3)]
    >>> for p, clip in zip(paths, X):
    ...     sf.write(p, clip, 8000)
    >>> results = list(predict_files(model, paths + ["missing.wav"], batch_size=2,
    ...                              on_error="skip"))  # warns: 1 of 4 files skipped
    >>> [(os.path.basename(r.path), r.ok) for r in results]
    [('0.wav', True), ('1.wav', True), ('2.wav', True), ('missing.wav', False)]
    >>> bool(np.allclose([r.proba for r in results[:3]], model.predict_proba(paths)))
    True
    >>> tmp.cleanup()
    """
    _check_model(model)
    _check_options(batch_size, on_error, windows, hop_s, pool)
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(f"paths must be a sequence or an iterable of file paths, got a single "
                        f"path {paths!r}. Wrap it in a list: [path].")
    opts = {"windows": bool(windows), "hop_s": hop_s, "pool": pool}
    batches = _batches(paths, int(batch_size))
    results = (_local(model, batches, opts) if client is None
               else _on_cluster(client, model, batches, opts, max_in_flight))
    return _stream(results, on_error)
