"""The reference detector: frames louder than the recording's noise floor."""

from __future__ import annotations

import numpy as np

from ._events import median_smooth, runs_to_events
from ._source import AudioSource

__all__ = ["energy_events"]


def _frame_db(source, frame, sr):
    """RMS level (dB) of consecutive frames of ``frame`` samples, streamed."""
    levels, rest = [], np.zeros(0, dtype=np.float32)
    for y in source.blocks(max(frame, 64 * frame)):
        y = np.concatenate([rest, y]) if rest.size else y
        n = y.shape[0] // frame
        if n:
            power = np.mean(np.square(y[: n * frame].reshape(n, frame), dtype=np.float64),
                            axis=1)
            levels.append(10 * np.log10(np.maximum(power, 1e-12)))
        rest = y[n * frame :]
    if rest.size:
        power = np.mean(np.square(rest, dtype=np.float64))
        levels.append([10 * np.log10(max(power, 1e-12))])
    return np.concatenate(levels) if levels else np.zeros(0)


def energy_events(recording, *, sr=None, frame=0.05, threshold_db=6.0, floor_percentile=10.0,
                  smoothing=2.0, min_duration=0.1, label=None):
    """Detect loud events: frames louder than the recording's noise floor (a reference).

    The simplest detector, for comparison with :func:`detect_events`: the RMS
    level of each ``frame``-second frame is compared with the recording's noise
    floor, the ``floor_percentile`` percentile of the frame levels (the quiet
    moments between events), and frames more than ``threshold_db`` above it are
    events; the decisions
    are median-filtered over ``smoothing`` seconds, and consecutive frames
    merge into events. It does not tell sounds apart: every event gets
    ``label``. Files are read a block at a time, at their own rate.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    recording : str, path-like or array-like of shape (n_samples,)
        An audio file, or a waveform at ``sr`` Hz.
    sr : int or None, default=None
        Rate of an array (required for arrays); a file is read at its own rate.
    frame : float, default=0.05
        Seconds per frame.
    threshold_db : float, default=6.0
        Decibels above the noise floor that make a frame an event (chosen on
        soundscapes of ESC-50's validation classes, see the user guide).
    floor_percentile : float, default=10.0
        Which percentile of the frame levels is the noise floor.
    smoothing : float, default=2.0
        Seconds of the median filter over the frame decisions (0: none; chosen
        with ``threshold_db``).
    min_duration : float, default=0.1
        Events shorter than this many seconds are dropped.
    label : object, default=None
        The label of every event.

    Returns
    -------
    events : list of Event
        ``(onset, offset, label, score)``, score being the event's peak level
        above the floor divided by 20 dB, clipped to 1.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_hallu.detection import energy_events
    >>> y = 0.01 * np.random.default_rng(0).normal(size=8000 * 20)
    >>> y[16000:48000] += np.sin(np.arange(32000) / 3)       # a tone from 2 s to 6 s
    >>> [(round(e.onset, 2), round(e.offset, 2)) for e in energy_events(y, sr=8000)]
    [(2.0, 6.0)]
    """
    if sr is None and not isinstance(recording, (str, bytes)) and not hasattr(
            recording, "__fspath__"):
        raise ValueError("energy_events: give sr, the rate of the waveform array.")
    if sr is None:
        import soundfile as sf

        sr = sf.info(recording).samplerate
    source = AudioSource(recording, sr)
    n = max(1, int(round(frame * sr)))
    db = _frame_db(source, n, sr)
    if db.size == 0:
        return []
    above = db - np.percentile(db, floor_percentile)
    size = int(round(smoothing / frame)) | 1 if smoothing else 1
    active = median_smooth((above > threshold_db)[:, None].astype(np.float32), size)[:, 0] > 0.5
    on = np.arange(db.size) * n / sr
    off = np.minimum(on + n / sr, source.n_samples / sr)
    score = np.clip(above / 20.0, 0.0, 1.0)
    events = runs_to_events(active, on, off, score, label)
    return [e for e in events if e.duration >= min_duration]
