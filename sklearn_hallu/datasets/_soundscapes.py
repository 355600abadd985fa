"""Long synthetic soundscapes: event clips mixed into a background, with exact annotations."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_soundscape", "write_soundscape"]

NOISE_COLOURS = ("white", "pink", "brown")


def _frame_db(y, frame):
    n = max(1, y.shape[0] // frame)
    power = np.mean(np.square(y[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    return 10 * np.log10(np.maximum(power, 1e-20))


def _trim(y, sr, trim_db):
    """The clip from its first to its last 20 ms frame within ``trim_db`` of its loudest,
    and the RMS of those loud frames (None for a silent clip)."""
    frame = max(1, sr // 50)
    db = _frame_db(y, frame)
    if db.max() <= -100:
        return None, None
    loud = np.flatnonzero(db >= db.max() - trim_db)
    a, b = loud[0] * frame, min(y.shape[0], (loud[-1] + 1) * frame)
    return y[a:b], float(np.sqrt(np.mean(10 ** (db[loud] / 10))))


def _noise(n, colour, rng):
    """Unit-RMS noise whose power falls as 1/f^0, 1/f or 1/f^2."""
    white = rng.standard_normal(n)
    if colour == "white":
        out = white
    else:
        spec = np.fft.rfft(white)
        f = np.arange(spec.shape[0], dtype=np.float64)
        f[0] = 1.0
        spec /= f ** (0.5 if colour == "pink" else 1.0)
        spec[0] = 0.0
        out = np.fft.irfft(spec, n)
    return out / (np.sqrt(np.mean(out**2)) + 1e-12)


def _background(n, background, rng):
    if isinstance(background, str):
        if background not in NOISE_COLOURS:
            raise ValueError(f"background must be one of {NOISE_COLOURS} or background "
                             f"recordings (arrays), got {background!r}.")
        return _noise(n, background, rng)
    recs = [np.asarray(b, dtype=np.float64) for b in
            (background if isinstance(background, (list, tuple)) else [background])]
    if not recs or any(r.ndim != 1 or r.size == 0 for r in recs):
        raise ValueError("background recordings must be non-empty 1-D arrays at sr.")
    out, pos = np.empty(n), 0
    while pos < n:  # random pieces of random recordings, end to end
        r = recs[rng.randint(len(recs))]
        a = rng.randint(r.size)
        piece = r[a : a + n - pos]
        out[pos : pos + piece.size] = piece
        pos += piece.size
    rms = np.sqrt(np.mean(out**2))
    if rms == 0:
        raise ValueError("the background recordings are silent; give recordings with sound.")
    return out / rms


def _place(length, duration_n, active, max_polyphony, same_class, rng):
    """A start sample for an event of ``length`` that keeps at most ``max_polyphony``
    events sounding at once and overlaps no event of its class (``same_class``: their
    (start, end) samples), or None after 100 tries."""
    for _ in range(100):
        a = rng.randint(0, max(1, duration_n - length))
        if max_polyphony is not None and np.max(active[a : a + length],
                                                initial=0) >= max_polyphony:
            continue
        if not any(a < e and s < a + length for s, e in same_class):
            return a
    return None


def make_soundscape(clips, labels, *, sr, duration=120.0, n_events=None, events_per_minute=6.0,
                    snr_db=(0.0, 20.0), max_polyphony=2, background="pink",
                    background_rms=0.02, trim_db=30.0, class_weights=None, random_state=None):
    """Mix event clips into a long recording over a background, with the exact annotations.

    Each event is a clip of a class drawn at random (classes equally likely
    unless ``class_weights`` says otherwise, then a clip of the class),
    trimmed to its sound (from its first to its last 20 ms frame within
    ``trim_db`` of its loudest), scaled to a signal-to-noise
    ratio drawn uniformly from ``snr_db`` (the RMS of its loud frames against
    the background's RMS), and added at a random time such that at most
    ``max_polyphony`` events sound at once (events of different classes may
    overlap; two events of one class never do). The background
    is coloured noise, or pieces of the given background recordings end to end.
    The annotation of an event is its trimmed clip's exact span.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    clips : sequence of 1-D arrays, or array of shape (n_clips, n_samples)
        Event clips at ``sr`` Hz (e.g. ESC-50 clips loaded at ``sr``, or
        :func:`make_sounds`'s).
    labels : array-like of shape (n_clips,)
        The class of each clip.
    sr : int
        Sample rate of the clips and of the soundscape.
    duration : float, default=120.0
        Seconds of the soundscape.
    n_events : int or None, default=None
        Events to place (None: ``events_per_minute * duration / 60``). Events
        that cannot be placed within ``max_polyphony`` are left out.
    events_per_minute : float, default=6.0
        Event rate when ``n_events`` is None.
    snr_db : (float, float), default=(0.0, 20.0)
        Range of the events' signal-to-noise ratios in dB.
    max_polyphony : int or None, default=2
        Most events sounding at once (1: no overlap; None: no limit).
    background : {"white", "pink", "brown"} or array or list of arrays, default="pink"
        Coloured noise, or background recordings at ``sr``.
    background_rms : float, default=0.02
        RMS of the background (the mix is scaled down, SNRs kept, if it would clip).
    trim_db : float, default=30.0
        Where a clip's sound starts and ends, in dB below its loudest frame.
    class_weights : dict or None, default=None
        ``{label: weight}``: how often each class is drawn, relatively (classes
        not named weigh 0); None: all alike.
    random_state : int, RandomState instance or None, default=None
        Seeds everything.

    Returns
    -------
    waveform : ndarray of shape (round(duration * sr),), float32
        The soundscape, peak at most 0.99.
    events : list of (onset, offset, label)
        Every event placed, in seconds, sorted by onset.

    See Also
    --------
    write_soundscape : Write the waveform and the annotations to files.
    sklearn_hallu.detection.detect_events : Find the events again.

    Examples
    --------
    >>> from sklearn_hallu.datasets import make_sounds, make_soundscape
    >>> X, y = make_sounds(n_classes=3, n_per_class=4, sr=8000, duration=0.5, random_state=0)
    >>> wave, events = make_soundscape(X, y, sr=8000, duration=60, n_events=8, random_state=1)
    >>> wave.shape, len(events), sorted({label for _, _, label in events})
    ((480000,), 8, [0, 1, 2])
    """
    rng = check_random_state(random_state)
    labels = np.asarray(labels)
    clips = [np.asarray(c, dtype=np.float64) for c in clips]
    if len(clips) != len(labels) or not clips:
        raise ValueError(f"clips and labels must be non-empty and of the same length, got "
                         f"{len(clips)} clips and {len(labels)} labels.")
    if any(c.ndim != 1 for c in clips):
        raise ValueError("each clip must be a 1-D waveform at sr.")
    lo, hi = sorted(float(v) for v in snr_db)
    n = int(round(duration * sr))
    if n_events is None:
        n_events = int(round(events_per_minute * duration / 60))
    bg = _background(n, background, rng) * background_rms
    events_sum, active = np.zeros(n), np.zeros(n, dtype=np.int16)
    classes = np.unique(labels)
    weights = np.ones(len(classes)) if class_weights is None else np.array(
        [float(class_weights.get(c.item(), 0.0)) for c in classes])
    if not (np.all(weights >= 0) and weights.sum() > 0):
        raise ValueError(f"class_weights must give some class of labels a positive weight, "
                         f"got {class_weights!r} for classes {classes.tolist()}.")
    events, spans = [], {}
    for _ in range(int(n_events)):
        c = classes[rng.choice(len(classes), p=weights / weights.sum())]
        i = rng.choice(np.flatnonzero(labels == c))
        y, rms = _trim(clips[i], sr, trim_db)
        if y is None or y.shape[0] >= n:
            continue
        a = _place(y.shape[0], n, active, max_polyphony, spans.setdefault(c.item(), []), rng)
        if a is None:
            continue
        gain = background_rms * 10 ** (rng.uniform(lo, hi) / 20) / rms
        events_sum[a : a + y.shape[0]] += gain * y
        active[a : a + y.shape[0]] += 1
        spans[c.item()].append((a, a + y.shape[0]))
        events.append((a / sr, (a + y.shape[0]) / sr, labels[i].item()))
    mix = bg + events_sum
    peak = np.max(np.abs(mix))
    if peak > 0.99:
        mix *= 0.99 / peak
    return mix.astype(np.float32), sorted(events, key=lambda e: (e[0], e[1]))


def write_soundscape(path, waveform, events, *, sr, subtype="PCM_16"):
    """Write a soundscape's audio and its annotations (``<path>`` and ``<path>.csv``).

    Both files are written to temporary files beside them and renamed into
    place once complete: an interrupted write leaves existing files as they
    were. The CSV has a header ``onset,offset,label``, one event a row, which
    :func:`sklearn_hallu.detection.read_events` and ``sklearn-hallu detect
    --first-events`` read.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    path : str or path-like
        The audio file to write (``.wav`` or ``.flac``).
    waveform : ndarray of shape (n_samples,)
        The soundscape.
    events : iterable of (onset, offset, label)
        Its annotations.
    sr : int
        Sample rate.
    subtype : str, default="PCM_16"
        The sample format, as soundfile names it.

    Returns
    -------
    audio_path : pathlib.Path
        The audio file written.
    csv_path : pathlib.Path
        The annotations written (``audio_path`` with the suffix ``.csv``).
    """
    import csv

    import soundfile as sf

    path = Path(path)
    csv_path = path.with_suffix(".csv")
    umask = os.umask(0)
    os.umask(umask)
    tmps = []
    try:
        for target in (path, csv_path):
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                       suffix=target.suffix)
            os.close(fd)
            tmps.append(tmp)
        sf.write(tmps[0], np.asarray(waveform), int(sr), subtype=subtype)
        with open(tmps[1], "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["onset", "offset", "label"])
            w.writerows([f"{on:.4f}", f"{off:.4f}", label] for on, off, label, *_ in events)
        for tmp, target in zip(tmps, (path, csv_path)):
            os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would create it
            os.replace(tmp, target)
    finally:
        for tmp in tmps:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path, csv_path
