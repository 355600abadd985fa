"""Find the sounds of a few examples in a long recording, window by window."""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from .._support import check_inductive, embed, final_estimator
from .._window_prediction import _check_model
from ..exceptions import SilentClipWarning
from ..preprocessing import window_clips
from ._events import as_events, median_smooth, runs_to_events
from ._source import AudioSource, iter_windows, window_starts

__all__ = ["detect_events", "DetectionScores"]

# Defaults chosen on soundscapes of ESC-50's validation classes (benchmarks/bench_detect.py
# --stage tune, benchmarks/results/detect_tuning.json); the test classes were not used.
#: Seconds per window when ``window=None`` (or the model's duration when shorter).
DEFAULT_WINDOW_S = 2.0
#: ``threshold``'s default: the smoothed probability of a class above which a window is it.
DEFAULT_THRESHOLD = 0.4
#: ``smoothing=None``: the median filter spans this many windows' lengths.
SMOOTHING_WINDOWS = 1.0
#: ``min_duration=None``: events shorter than this many windows' lengths are dropped.
MIN_DURATION_WINDOWS = 0.5
#: ``background=True``: this many background prototypes (1: the mean background window).
DEFAULT_BACKGROUND = 1

#: Loud windows of a support clip: within this many dB of its loudest window.
SUPPORT_WINDOW_DB = 10.0
#: A background cluster whose centre lies within this quantile of a class's support
#: windows' leave-one-out distances of its prototype is that class, not background.
CLASS_RADIUS_QUANTILE = 0.5


@dataclass
class DetectionScores:
    """The per-window scores behind :func:`detect_events`' events (``return_scores=True``).

    .. versionadded:: 0.2.0

    Parameters
    ----------
    start : ndarray of shape (n_windows,)
        Start of each window, in seconds.
    onset : ndarray of shape (n_windows,)
        Start of the part of the recording each window's score stands for:
        halfway from the previous window's centre (0 for the first).
    offset : ndarray of shape (n_windows,)
        End of that part: halfway to the next window's centre (the end of the
        recording for the last).
    proba : ndarray of shape (n_windows, n_classes)
        Probability of each class against the others and the background,
        before smoothing (0 for silent windows).
    smoothed : ndarray of shape (n_windows, n_classes)
        ``proba`` after the median filter: what the threshold is applied to.
    classes : ndarray of shape (n_classes,)
        The support classes, the columns of ``proba``.
    silent : ndarray of shape (n_windows,), bool
        Windows without energy above about -80 dB.
    window : float
        Seconds per window.
    hop : float
        Seconds between windows.
    support_end : dict
        Per class, the end of its last support event (DCASE mode; events before
        it are not returned); empty otherwise.
    duration : float
        Seconds of audio read.
    """

    start: np.ndarray
    onset: np.ndarray
    offset: np.ndarray
    proba: np.ndarray
    smoothed: np.ndarray
    classes: np.ndarray
    silent: np.ndarray
    window: float
    hop: float
    support_end: dict = field(default_factory=dict)
    duration: float = 0.0

    def events(self, *, threshold=DEFAULT_THRESHOLD, smoothing=None, min_duration=None):
        """The events at other settings, without scoring the recording again.

        Parameters
        ----------
        threshold : float, default=0.4
            As :func:`detect_events`' ``threshold``.
        smoothing : float or None, default=None
            Seconds of the median filter over ``proba``; None keeps ``smoothed``.
        min_duration : float or None, default=None
            Events shorter than this many seconds are dropped (None: half a window).

        Returns
        -------
        events : list of Event
            As :func:`detect_events` returns them.
        """
        _check_options(threshold, smoothing, min_duration, True, 1, 1)
        if min_duration is None:
            min_duration = MIN_DURATION_WINDOWS * self.window
        smoothed = self.smoothed if smoothing is None else median_smooth(
            self.proba, _filter_size(smoothing, self.hop))
        if self.silent.all():
            return []
        out = []
        for c, label in enumerate(self.classes):
            col = smoothed[:, c]
            for e in runs_to_events(col > threshold, self.onset, self.offset, col,
                                    _plain(label)):
                if e.duration >= min_duration and e.onset >= self.support_end.get(
                        e.label, 0.0):
                    out.append(e)
        return sorted(out, key=lambda e: (e.onset, e.offset, str(e.label)))


def _plain(label):
    return label.item() if isinstance(label, np.generic) else label


def _filter_size(smoothing, hop_s):
    """Windows of a median filter over ``smoothing`` seconds (odd; 1 for none)."""
    return int(round(smoothing / hop_s)) | 1 if smoothing else 1


def _positive_seconds(value, name, default):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}.")
    return float(value)


def _check_window(window, hop, n_model, logmel):
    """Window and hop in samples; a window is at most the model's clip, at least a frame."""
    sr, duration = logmel.sr, n_model / logmel.sr
    window = _positive_seconds(window, "window", min(DEFAULT_WINDOW_S, duration))
    if window > duration + 1e-9:
        raise ValueError(
            f"window={window:g} s is longer than the model's clips ({duration:g} s, its "
            f"LogMelTransformer's duration): it would be cut. Use window <= {duration:g}.")
    win = int(round(window * sr))
    if win < logmel.n_fft:
        raise ValueError(f"window={window:g} s is shorter than one analysis frame "
                         f"({logmel.n_fft / sr:g} s, n_fft={logmel.n_fft}); use a longer one.")
    hop_s = _positive_seconds(hop, "hop", win / sr / 4)
    hop = max(1, int(round(hop_s * sr)))
    if hop > win:
        raise ValueError(f"hop={hop_s:g} s is longer than the window ({win / sr:g} s): the "
                         "audio between windows would not be scored. Use hop <= window.")
    return win, hop


def _embed(model, logmel, wins, n_model):
    """Embeddings of windows (padded with silence to the model's clip) and which are silent."""
    if wins.shape[1] < n_model:
        wins = np.pad(wins, ((0, 0), (0, n_model - wins.shape[1])))
    S, silent = logmel._spectrograms(wins)  # no per-window SilentClipWarning
    return np.asarray(embed(model[1:], S), dtype=np.float64), np.asarray(silent, dtype=bool)


def _sq_dist(emb, protos):
    return np.maximum(
        (emb**2).sum(1)[:, None] - 2 * emb @ protos.T + (protos**2).sum(1)[None, :], 0.0)


# ---------------------------------------------------------------- support sets
def _from_clips(support, logmel, win):
    """Windows of labelled clips: each clip cut as the recording is, its loud windows kept."""
    try:
        X, y = support
    except (TypeError, ValueError):
        raise TypeError("support must be a pair (X, y): clips (waveforms at the model's rate, "
                        "or audio files) and their labels.") from None
    y = np.asarray(y)
    wins, clip, _ = window_clips(X, sr=logmel.sr, n_samples=win, hop_length=max(1, win // 2),
                                 min_samples=logmel.n_fft)
    if y.ndim != 1 or len(y) != int(clip[-1]) + 1:
        raise ValueError(f"support: y must hold one label per clip: {int(clip[-1]) + 1} clips, "
                         f"y of shape {y.shape}.")
    rms = np.sqrt(np.mean(np.square(wins, dtype=np.float64), axis=1))
    loudest = np.zeros(int(clip[-1]) + 1)
    np.maximum.at(loudest, clip, rms)
    keep = rms >= loudest[clip] * 10 ** (-SUPPORT_WINDOW_DB / 20)
    return wins[keep], y[clip[keep]]


def _pick_support_events(events, n_support, source, n_fft):
    """The first ``n_support`` events of each label, checked."""
    if isinstance(n_support, bool) or not isinstance(n_support, Integral) or n_support < 1:
        raise ValueError(f"n_support_events must be a positive integer, got {n_support!r}.")
    events = sorted(as_events(events, "support_events"), key=lambda e: (e.onset, e.offset))
    if not events:
        raise ValueError("support_events is empty: give the (onset, offset, label) of the "
                         "first events of each class in the recording.")
    chosen, count = [], {}
    for e in events:
        if count.get(e.label, 0) < n_support:
            count[e.label] = count.get(e.label, 0) + 1
            chosen.append(e)
    where = source.name
    for e in chosen:
        if (e.offset - e.onset) * source.sr < n_fft:
            raise ValueError(
                f"support event {tuple(e[:3])} of {where} lasts {1000 * e.duration:.1f} ms, "
                f"shorter than one analysis frame ({1000 * n_fft / source.sr:.1f} ms, "
                "n_fft): there is nothing to embed. Widen its onset/offset, or drop it.")
        if e.onset >= source.duration:
            raise ValueError(f"support event {tuple(e[:3])} starts after the end of {where} "
                             f"({source.duration:.2f} s): are the annotations of another file?")
    for label in count:  # events of different classes may overlap (polyphony)
        mine = [e for e in chosen if e.label == label]
        for a, b in zip(mine, mine[1:]):
            if b.onset < a.offset:
                raise ValueError(
                    f"support events {tuple(a[:3])} and {tuple(b[:3])} of {where} overlap: "
                    "two events of one class at once. Merge them into one event (the "
                    "earlier onset, the later offset) if they are one sound, or drop one.")
    return chosen


def _from_events(events, n_support, source, win, n_fft):
    """Windows cut from the recording at its first annotated events (DCASE's support)."""
    chosen = _pick_support_events(events, n_support, source, n_fft)
    starts, labels = [], []
    for e in chosen:
        a, b = int(round(e.onset * source.sr)), int(round(e.offset * source.sr))
        if b - a <= win:  # one window centred on the event, with its surroundings
            s = [min(max(0, (a + b - win) // 2), max(0, source.n_samples - win))]
        else:
            s = list(a + window_starts(b - a, win, max(1, win // 2)))
        starts += s
        labels += [e.label] * len(s)
    ends = {}
    for e in chosen:
        ends[_plain(e.label)] = max(ends.get(_plain(e.label), 0.0), e.offset)
    return source.read_windows(starts, win), np.asarray(labels, dtype=object), chosen, ends


def _prototypes(emb, y):
    classes = np.unique(y) if y.dtype != object else np.asarray(
        sorted(set(y.tolist()), key=str), dtype=object)
    protos = np.stack([emb[y == c].mean(axis=0) for c in classes])
    return classes, protos


# ---------------------------------------------------------------- background
def _class_radii(emb, y, classes, quantile=0.95):
    """Per class, the ``quantile`` of its support windows' leave-one-out squared distances
    (how far from its prototype a window of the class lies); NaN with a single window."""
    from ..open_set import leave_one_out_distances

    out = np.full(len(classes), np.nan)
    for i, c in enumerate(classes):
        d = leave_one_out_distances(emb[y == c], y[y == c])
        if d.size:
            out[i] = np.quantile(d, quantile)
    return out


def _background(model, logmel, source, win, hop, n_model, exclude, n_background, k, rng,
                class_protos, radii):
    """Background prototypes: k-means of the embeddings of windows sampled from the
    recording outside the support events; a cluster centred within a class's radius of
    its prototype is that class (its events are frequent), and is dropped."""
    starts = window_starts(source.n_samples, win, hop)
    if exclude:
        spans = np.array([(e.onset, e.offset) for e in exclude]) * source.sr
        s, t = starts[:, None], starts[:, None] + win
        starts = starts[~np.any((s < spans[None, :, 1]) & (t > spans[None, :, 0]), axis=1)]
    if starts.size == 0:
        raise ValueError(f"{source.name} has no window outside the support events to learn "
                         "its background from; give a longer recording, or background=False.")
    pick = np.sort(rng.choice(starts, size=min(n_background, starts.size), replace=False))
    emb, silent = _embed(model, logmel, source.read_windows(pick, win), n_model)
    emb = emb[~silent] if (~silent).sum() >= max(2, int(k)) else emb
    k = min(int(k), len(emb))
    if k == 1:
        return emb.mean(axis=0, keepdims=True)
    from sklearn.cluster import KMeans

    centres = KMeans(n_clusters=k, n_init=4, random_state=int(rng.integers(2**31))).fit(
        emb).cluster_centers_
    if radii is not None:  # a cluster of windows of a support class is not background
        with np.errstate(invalid="ignore"):
            like = np.any(_sq_dist(centres, class_protos) <= radii[None, :], axis=1)
        if (~like).any():
            centres = centres[~like]
    return centres


def _open_set_threshold(emb, y, quantile=0.95):
    """``background=False``: the leave-one-out distance quantile of OpenSetClassifier."""
    from ..open_set import leave_one_out_distances

    d = leave_one_out_distances(emb, y)
    if d.size == 0:
        raise ValueError("background=False calibrates how far from its prototype a window may "
                         "be from the support windows, leaving one out: give at least 2 "
                         "support windows of some class (or use background=True).")
    return float(np.quantile(d, quantile))


def _probabilities(emb, protos, n_classes, tau):
    """Class probabilities against the other classes and the background prototypes (or,
    without a background, the nearest class's within the open-set threshold ``tau``)."""
    from scipy.special import softmax

    d = _sq_dist(emb, protos)
    if tau is None:
        return softmax(-d, axis=1)[:, :n_classes]
    p = softmax(-d[:, :n_classes], axis=1)
    return p * (d[:, :n_classes] <= tau)


# ---------------------------------------------------------------- the run
def _support_set(model, logmel, source, support, support_events, n_support, win, n_model):
    """Support embeddings and labels, the events to leave out of the background, and per
    class the end of its support (DCASE mode)."""
    if support is not None and support_events is not None:
        raise ValueError("give support (labelled clips) or support_events (the first events "
                         "of the recording), not both.")
    if support_events is not None:
        wins, y, chosen, ends = _from_events(support_events, n_support, source, win,
                                             logmel.n_fft)
    elif support is not None:
        (wins, y), chosen, ends = _from_clips(support, logmel, win), [], {}
    else:
        return None, None, [], {}
    emb, silent = _embed(model, logmel, wins, n_model)
    if silent.all():
        raise ValueError(f"every support window is silent (no energy above about -80 dB): "
                         f"check the support {'events' if chosen else 'clips'}.")
    return emb[~silent], np.asarray(y)[~silent], chosen, ends


def _model_prototypes(model):
    clf = final_estimator(model)
    protos = getattr(clf, "prototypes_", None)
    if protos is None:
        raise ValueError("detect_events: the model has no classes yet; give support=(X, y) "
                         "or support_events=[(onset, offset, label), ...].")
    if getattr(clf, "prototypes_norm_", None) != clf.embedding_norm:
        raise ValueError("detect_events: the model's prototypes were made with another "
                         "embedding_norm; give the support set again (support=(X, y)).")
    shifts = getattr(clf, "prototypes_shifts_", 1)
    if shifts != getattr(clf, "test_time_shifts", 1):
        raise ValueError(f"detect_events: the model's prototypes were made with "
                         f"test_time_shifts={shifts}, not the current {clf.test_time_shifts}; "
                         "give the support set again (support=(X, y)).")
    return np.asarray(clf.classes_), np.asarray(protos, dtype=np.float64)


def _segments(starts, win, total):
    """What each window's score stands for: halfway between neighbouring centres."""
    centres = starts + win / 2
    mid = (centres[1:] + centres[:-1]) / 2
    return np.r_[0.0, mid], np.r_[mid, float(total)]


def _run(model, logmel, source, win, hop, n_model, protos, n_classes, tau, batch, progress):
    """Stream the recording: per-window class probabilities, starts and silence."""
    from tqdm.auto import tqdm

    n_est = len(window_starts(source.n_samples, win, hop))
    starts, probs, silent = [], [], []
    with tqdm(total=n_est, desc="detect", unit="window", disable=not progress,
              file=sys.stderr, leave=False) as bar:
        for s, wins in iter_windows(source, win, hop, batch):
            emb, sil = _embed(model, logmel, wins, n_model)
            p = _probabilities(emb, protos, n_classes, tau)
            p[sil] = 0.0
            starts.append(s)
            probs.append(p.astype(np.float32))
            silent.append(sil)
            bar.update(min(len(s), max(0, n_est - bar.n)))
    return np.concatenate(starts), np.concatenate(probs), np.concatenate(silent)


def _check_options(threshold, smoothing, min_duration, background, n_background, batch_size):
    if isinstance(threshold, bool) or not isinstance(threshold, Real) or not 0 < threshold < 1:
        raise ValueError(f"threshold must be a probability in (0, 1), got {threshold!r}.")
    for name, v in (("smoothing", smoothing), ("min_duration", min_duration)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, Real) or v < 0):
            raise ValueError(f"{name} must be a number of seconds >= 0 or None, got {v!r}.")
    if not isinstance(background, (bool, Integral)) or (
            not isinstance(background, bool) and background < 1):
        raise ValueError(f"background must be True, False or a number of background "
                         f"prototypes >= 1, got {background!r}.")
    for name, v in (("n_background", n_background), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, Integral) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}.")


def detect_events(model, recording, *, support=None, support_events=None, n_support_events=5,
                  window=None, hop=None, threshold=DEFAULT_THRESHOLD, smoothing=None,
                  min_duration=None, background=True, n_background=256, batch_size=64,
                  progress=True, random_state=0, return_scores=False):
    """Find where the sounds of a few examples occur in a long recording.

    The recording is cut into windows ``hop`` seconds apart, read from disk a
    batch of windows at a time (a file of any length is never in memory whole;
    only the per-window scores are kept). Each window is embedded by the model
    and compared with the prototypes of the support classes **and** with
    background prototypes learnt from the recording itself (the DCASE Task 5
    prototypical baseline's negative prototype): by default the mean embedding
    of ``n_background`` windows drawn at random from the recording, outside the
    support events. A window's probability of class ``c`` is the softmax of the
    minus squared distances over the class and background prototypes; it is
    median-filtered over ``smoothing`` seconds, windows above ``threshold``
    merge into events, and events shorter than ``min_duration`` are dropped.
    Classes are detected independently, so events of different classes may
    overlap. The defaults were chosen on soundscapes of ESC-50's validation
    classes (see the User Guide).

    Read more in the :doc:`User Guide </user_guide>`.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    model : Pipeline
        A fitted Pipeline whose first step is a
        :class:`~sklearn_hallu.LogMelTransformer`, ending in a
        :class:`~sklearn_hallu.HalluAudioClassifier`; its ``duration`` is the
        longest window. The model is not changed.
    recording : str, path-like or array-like of shape (n_samples,)
        An audio file (any rate: resampled on the fly to the model's ``sr``, as
        soxr does for librosa; channels are averaged) or a waveform at the
        model's ``sr``.
    support : tuple (X, y) or None, default=None
        Labelled example clips (waveforms at the model's rate or audio files,
        any lengths) and their labels, one or more classes. Each clip is cut
        into windows as the recording is, and its windows within 10 dB of its
        loudest are the class's examples.
    support_events : iterable of (onset, offset, label) or None, default=None
        DCASE mode: annotated events of the recording itself, in seconds. The
        first ``n_support_events`` events of each label are the support (cut
        from the recording: one window centred on a short event, windows across
        a long one); only events that start after the last support event of
        their class are returned. Support events of one label must not
        overlap (events of different labels may: each is used for its class),
        and must be at least one analysis frame long. Without ``support`` or
        ``support_events`` the model's own classes (its ``prototypes_``) are
        used, with windows of the model's duration unless ``window`` is given.
    n_support_events : int, default=5
        Support events per label in DCASE mode (DCASE Task 5: 5).
    window : float or None, default=None
        Seconds per window, at most the model's ``duration``; None: 2 s, or the
        model's duration when it is shorter. A window shorter than the model's
        clips is padded with silence to their length (support windows are cut
        the same way); shorter windows localise short events better, longer
        ones hear more context. Choose it about as long as the events.
    hop : float or None, default=None
        Seconds between windows (None: a quarter of the window): the time
        resolution of the events; the cost grows as ``1 / hop``.
    threshold : float, default=0.4
        A window belongs to class ``c`` when its smoothed probability of ``c``
        (against the other classes and the background) is above this.
    smoothing : float or None, default=None
        Seconds of the median filter over the windows' probabilities (0: none;
        None: one window's length).
    min_duration : float or None, default=None
        Events shorter than this many seconds are dropped (None: half a window).
    background : bool or int, default=True
        Learn background prototypes from the recording: True is one, the mean
        embedding of the background windows drawn (the DCASE baseline's
        negative prototype); an int ``k`` is the centres of k-means clusters of
        them, less any cluster centred within a class's radius of its prototype
        (the median leave-one-out distance of its support windows: a cluster of
        the class's own events is not background). False compares windows with
        the support classes only: a window goes to its nearest class when it is
        within :class:`~sklearn_hallu.open_set.OpenSetClassifier`'s
        leave-one-out distance threshold of the support windows (the reference
        "window classification without a background model").
    n_background : int, default=256
        Windows drawn from the recording for the background prototypes.
    batch_size : int, default=64
        Windows read, embedded and scored at a time (memory grows with it).
    progress : bool, default=True
        Show a progress bar over the windows on stderr.
    random_state : int, default=0
        Seeds the choice of background windows and the k-means.
    return_scores : bool, default=False
        Also return the per-window scores (:class:`DetectionScores`).

    Returns
    -------
    events : list of Event
        ``(onset, offset, label, score)`` tuples in seconds, sorted by onset;
        ``score`` is the event's highest smoothed probability. A recording
        silent throughout gives no event, with a
        :class:`~sklearn_hallu.exceptions.SilentClipWarning`.
    scores : DetectionScores
        Only with ``return_scores=True``.

    Raises
    ------
    AudioReadError
        The file cannot be decoded to its end (truncated or damaged): the
        message names it and the time reached. Nothing is returned.
    ValueError
        The recording is shorter than one window, a support event is shorter
        than an analysis frame or overlaps another, and other bad input; the
        message says what to do.

    See Also
    --------
    energy_events : The loudness detector this is compared with.
    event_scores : Event-based F-measure at IoU >= 0.3 (DCASE Task 5).

    Examples
    --------
    A small network trained on 6 classes of synthetic sounds searches a minute of
    2 new classes for the class ``6``, given its first five events:

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_hallu import HalluAudioClassifier, LogMelTransformer
    >>> from sklearn_hallu.datasets import make_sounds, make_soundscape
    >>> from sklearn_hallu.detection import detect_events, event_scores
    >>> X, y = make_sounds(n_classes=8, n_per_class=10, sr=8000, duration=0.5,
    ...                    random_state=0)
    >>> model = make_pipeline(
    ...     LogMelTransformer(sr=8000, n_mels=32, n_fft=256, hop_length=128,
    ...                       fmax=4000.0, duration=0.5),
    ...     HalluAudioClassifier(n_way=4, k_shot=2, n_query=2, max_epochs=4,
    ...                          channels=(8, 8, 8), random_state=0),
    ... ).fit(X[y < 6], y[y < 6])
    >>> wave, events = make_soundscape(X[y >= 6], y[y >= 6], sr=8000, duration=60,
    ...                                n_events=20, random_state=0)
    >>> target = [e for e in events if e[2] == 6]
    >>> found = detect_events(model, wave, support_events=target[:5], progress=False)
    >>> found[0]  # doctest: +SKIP
    Event(onset=21.5, offset=22.0, label=6, score=0.98)
    >>> event_scores(target, found, start=target[4][1])["f1"] > 0.5
    True
    """
    _check_options(threshold, smoothing, min_duration, background, n_background, batch_size)
    logmel, n_model = _check_model(model, "detect_events")
    check_inductive(final_estimator(model), "detect_events")
    if window is None and support is None and support_events is None:
        window = n_model / logmel.sr  # the model's own prototypes were made of whole clips
    win, hop = _check_window(window, hop, n_model, logmel)
    source = AudioSource(recording, logmel.sr)
    sr = source.sr
    if source.n_samples < win:
        raise ValueError(
            f"{source.name} is {source.duration:.2f} s long, shorter than one window "
            f"({win / sr:g} s): there is nothing to search. Pass a shorter window= (at least "
            f"{logmel.n_fft / sr:g} s), or classify it as one clip with the model's predict.")
    emb, y, chosen, ends = _support_set(model, logmel, source, support, support_events,
                                        n_support_events, win, n_model)
    classes, protos = _model_prototypes(model) if emb is None else _prototypes(emb, y)
    tau = None
    rng = np.random.default_rng(random_state)
    if background is not False:
        k = DEFAULT_BACKGROUND if background is True else int(background)
        radii = None if emb is None else _class_radii(emb, y, classes, CLASS_RADIUS_QUANTILE)
        protos = np.vstack([protos, _background(model, logmel, source, win, hop, n_model,
                                                chosen, n_background, k, rng, protos, radii)])
    elif emb is None:
        raise ValueError("background=False needs a support set (support= or support_events=) "
                         "to calibrate its distance threshold on.")
    else:
        tau = _open_set_threshold(emb, y)
    starts, proba, silent = _run(model, logmel, source, win, hop, n_model, protos,
                                 len(classes), tau, batch_size, progress)
    onset, offset = _segments(starts, win, source.n_samples)
    scores = DetectionScores(
        start=starts / sr, onset=onset / sr, offset=offset / sr, proba=proba,
        smoothed=median_smooth(proba, _filter_size(
            SMOOTHING_WINDOWS * win / sr if smoothing is None else smoothing, hop / sr)),
        classes=classes,
        silent=silent, window=win / sr, hop=hop / sr, support_end=ends,
        duration=source.n_samples / sr)
    if silent.all():
        warnings.warn(SilentClipWarning(
            f"{source.name} is silent throughout (no window with energy above about "
            "-80 dB): no events. Check the file and its level.", indices=[0]), stacklevel=2)
        events = []
    else:
        events = scores.events(threshold=threshold, min_duration=min_duration)
    return (events, scores) if return_scores else events
