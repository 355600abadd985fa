"""Events: from per-window scores to (onset, offset, label, score), the event-based
F-measure at an IoU threshold, and event lists read from and written to CSV or JSON."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from numbers import Real
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["Event", "event_scores", "read_events", "write_events", "as_events",
           "runs_to_events", "median_smooth"]


class Event(NamedTuple):
    """One detected (or annotated) sound event: a tuple ``(onset, offset, label, score)``.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    onset : float
        Start, in seconds from the start of the recording.
    offset : float
        End, in seconds.
    label : object
        The class.
    score : float
        How sure the detector is (the highest smoothed class probability over
        the event's windows); 1.0 for annotations.
    """

    onset: float
    offset: float
    label: object
    score: float = 1.0

    @property
    def duration(self):
        """``offset - onset``, in seconds."""
        return self.offset - self.onset


Event.onset.__doc__ = "Start, in seconds from the start of the recording."
Event.offset.__doc__ = "End, in seconds."
Event.label.__doc__ = "The class."
Event.score.__doc__ = "How sure the detector is (1.0 for annotations)."


def as_events(events, what="events"):
    """A list of :class:`Event` from tuples ``(onset, offset[, label[, score]])``, checked."""
    out = []
    for i, e in enumerate(events):
        e = tuple(e)
        if not 2 <= len(e) <= 4:
            raise ValueError(f"{what}[{i}] = {e!r}: give (onset, offset, label) in seconds.")
        on, off = e[0], e[1]
        if not all(isinstance(t, Real) and np.isfinite(t) for t in (on, off)):
            raise ValueError(f"{what}[{i}] = {e!r}: onset and offset must be finite numbers "
                             "of seconds.")
        if not 0 <= on < off:
            raise ValueError(f"{what}[{i}] = {e!r}: the offset must come after the onset, "
                             "and the onset at 0 s or later.")
        label = e[2] if len(e) > 2 else None
        score = float(e[3]) if len(e) > 3 else 1.0
        out.append(Event(float(on), float(off), label, score))
    return out


def median_smooth(p, size):
    """Median filter of each column of ``p`` over ``size`` windows (odd; 1: unchanged)."""
    if size <= 1 or p.shape[0] < 2:
        return p
    from scipy.ndimage import median_filter

    return median_filter(p, size=(int(size), 1), mode="nearest")


def runs_to_events(active, seg_on, seg_off, score, label):
    """Events of the runs of consecutive ``active`` windows of one class."""
    if not active.any():
        return []
    edges = np.diff(np.r_[0, active.astype(np.int8), 0])
    firsts, lasts = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [Event(float(seg_on[a]), float(seg_off[b]), label, float(score[a : b + 1].max()))
            for a, b in zip(firsts, lasts)]


def _hits(ref, est, min_iou):
    """Sparse (ref x est) matrix of the pairs with IoU >= ``min_iou``."""
    from scipy.sparse import csr_matrix

    r_on, r_off = ref[:, 0][:, None], ref[:, 1][:, None]
    rows, cols = [], []
    for a in range(0, est.shape[0], 2048):  # blocks keep long recordings' matrices small
        e_on, e_off = est[a : a + 2048, 0][None, :], est[a : a + 2048, 1][None, :]
        inter = np.minimum(r_off, e_off) - np.maximum(r_on, e_on)
        union = np.maximum(r_off, e_off) - np.minimum(r_on, e_on)
        i, j = np.nonzero((inter > 0) & (inter >= min_iou * union))
        rows.append(i)
        cols.append(j + a)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    return csr_matrix((np.ones(rows.size), (rows, cols)), shape=(len(ref), len(est)))


def _n_matched(ref, est, min_iou):
    """Pairs of a maximum one-to-one matching among pairs with IoU >= ``min_iou``."""
    if len(ref) == 0 or len(est) == 0:
        return 0
    from scipy.sparse.csgraph import maximum_bipartite_matching

    # DCASE Task 5's metric (evaluation_metrics/metrics.py of c4dm/dcase-few-shot-bioacoustic)
    # is the size of a maximum bipartite matching of the pairs over the IoU threshold
    # (Hopcroft-Karp, from mir_eval). No maintained package implements it: sed_eval and
    # sed_scores_eval match by onset/offset collars, psds_eval by intersection ratios. This
    # is the same count, with scipy's Hopcroft-Karp on a sparse matrix (a Hungarian
    # linear_sum_assignment on the 0/1 matrix gives the same number, in cubic time).
    match = maximum_bipartite_matching(_hits(ref, est, min_iou), perm_type="column")
    return int(np.sum(match >= 0))


def _starts(start, label):
    if start is None:
        return 0.0
    if isinstance(start, dict):
        return float(start.get(label, 0.0))
    return float(start)


def event_scores(reference, estimated, *, min_iou=0.3, labels=True, start=None):
    """Event-based precision, recall and F-measure at an IoU threshold, as DCASE Task 5.

    An estimated event is a true positive when it is matched to a reference
    event of the same label whose intersection over union with it is at least
    ``min_iou``; each event is matched at most once, and the matching is a
    maximum one (the most pairs), as the DCASE few-shot bioacoustic task's
    evaluation computes it. Counts are summed over labels (micro-average).

    .. versionadded:: 0.2.0

    Parameters
    ----------
    reference : iterable of tuples (onset, offset, label)
        The true events, in seconds.
    estimated : iterable of tuples (onset, offset, label[, score])
        The detected events, e.g. :func:`detect_events`' output.
    min_iou : float, default=0.3
        Smallest intersection over union of a match (DCASE Task 5: 0.3).
    labels : bool, default=True
        Match events of the same label only; False ignores labels (a
        class-agnostic detector such as :func:`energy_events` is scored so).
    start : float, dict or None, default=None
        Events that start before ``start`` seconds (per label with a dict, as
        :func:`detect_events` returns ``support_end_``) are left out on both
        sides: DCASE scores the recording after the fifth support event only.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` (0 when undefined), ``tp``, ``fp``,
        ``fn``, ``n_reference``, ``n_estimated``.

    Examples
    --------
    >>> from sklearn_hallu.detection import event_scores
    >>> ref = [(1.0, 2.0, "bird"), (5.0, 6.0, "bird")]
    >>> est = [(1.1, 2.2, "bird"), (8.0, 9.0, "bird")]
    >>> event_scores(ref, est)["f1"]
    0.5
    """
    ref = as_events(reference, "reference")
    est = as_events(estimated, "estimated")
    ref = [e for e in ref if e.onset >= _starts(start, e.label)]
    est = [e for e in est if e.onset >= _starts(start, e.label)]
    groups = sorted({e.label for e in ref + est}, key=str) if labels else [None]
    tp = 0
    for g in groups:
        r, s = (np.array([(e.onset, e.offset) for e in side if not labels or e.label == g])
                .reshape(-1, 2) for side in (ref, est))
        tp += _n_matched(r, s, min_iou)
    fp, fn = len(est) - tp, len(ref) - tp
    precision = tp / len(est) if est else 0.0
    recall = tp / len(ref) if ref else 0.0
    f1 = 2 * tp / (len(est) + len(ref)) if est or ref else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn,
            "n_reference": len(ref), "n_estimated": len(est)}


# ------------------------------------------------------------------ files
_DCASE_TIMES = ("Starttime", "Endtime")


def _events_from_rows(rows, fields, path):
    if {"onset", "offset"} <= set(fields):
        return [(float(r["onset"]), float(r["offset"]), r.get("label") or None,
                 float(r["score"]) if r.get("score") not in (None, "") else 1.0) for r in rows]
    if set(_DCASE_TIMES) <= set(fields):  # DCASE Task 5: a POS/NEG/UNK column per class
        classes = [f for f in fields if f not in ("Audiofilename", *_DCASE_TIMES)]
        out = []
        for r in rows:
            for c in classes:
                if (r.get(c) or "").strip().upper() == "POS":
                    out.append((float(r["Starttime"]), float(r["Endtime"]),
                                "POS" if c == "Q" else c, 1.0))
        return out
    raise ValueError(f"{str(path)!r} has columns {fields}: expected onset,offset,label "
                     "(as write_events writes), or DCASE's Audiofilename,Starttime,Endtime "
                     "with a POS/NEG/UNK column per class.")


def read_events(path):
    """Read events from a CSV or JSON file, sorted by onset.

    CSV: a header with ``onset,offset,label`` (and optionally ``score``), as
    :func:`write_events` and :func:`~sklearn_hallu.datasets.write_soundscape`
    write; or a DCASE Task 5 annotation file (``Audiofilename,Starttime,Endtime``
    and one column per class holding POS, NEG or UNK: each POS cell is an event
    of that class; a ``Q`` column's events are labelled ``"POS"``). JSON: a list
    of objects with ``onset``, ``offset``, ``label`` (and ``score``).

    .. versionadded:: 0.2.0

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    events : list of Event
        The events, sorted by onset.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"event file {str(path)!r} does not exist; give the CSV or JSON "
                         "file of onset,offset,label rows.")
    if path.suffix.lower() == ".json":
        try:
            items = json.loads(path.read_text())
            rows = [(d["onset"], d["offset"], d.get("label"), d.get("score", 1.0))
                    for d in items]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{str(path)!r} is not a JSON list of objects with onset, "
                             f"offset and label ({exc}).") from None
    else:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields = [c.strip() for c in (reader.fieldnames or [])]
            reader.fieldnames = fields
            try:
                rows = _events_from_rows(list(reader), fields, path)
            except (TypeError, ValueError) as exc:
                if "expected onset" in str(exc):
                    raise
                raise ValueError(f"{str(path)!r}: a row does not hold numbers of seconds "
                                 f"({exc}).") from None
    return sorted(as_events(rows, str(path)), key=lambda e: (e.onset, e.offset))


def _write_atomic(path, write):
    """Write through a temporary file beside ``path``, renamed into place at the end."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would create it
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_events(path, events, *, format=None):
    """Write events to a CSV or JSON file, atomically.

    The rows go to a temporary file beside ``path`` that is renamed to
    ``path`` once complete, so a failed or interrupted write leaves an
    existing file as it was.

    .. versionadded:: 0.2.0

    Parameters
    ----------
    path : str or path-like
        The file to write.
    events : iterable of tuples (onset, offset, label[, score])
        Events, e.g. :func:`detect_events`' output.
    format : {"csv", "json"} or None, default=None
        None: from the extension (``.json`` is JSON, anything else CSV).

    Returns
    -------
    path : pathlib.Path
        The file written.
    """
    events = as_events(events)
    fmt = format or ("json" if str(path).lower().endswith(".json") else "csv")
    if fmt not in ("csv", "json"):
        raise ValueError(f"format must be 'csv' or 'json', got {format!r}.")

    def write(f):
        if fmt == "json":
            json.dump([{"onset": round(e.onset, 4), "offset": round(e.offset, 4),
                        "label": _plain(e.label), "score": round(e.score, 4)} for e in events],
                      f, indent=1)
            f.write("\n")
        else:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["onset", "offset", "label", "score"])
            w.writerows([f"{e.onset:.4f}", f"{e.offset:.4f}", _plain(e.label),
                         f"{e.score:.4f}"] for e in events)

    return _write_atomic(path, write)


def _plain(label):
    return label.item() if isinstance(label, np.generic) else label
