"""``sklearn-hallu detect``: find the sounds of a few examples in a long recording.

The recording is read a batch of windows at a time (a file of hours is never in
memory whole); the events go to ``--out`` (CSV or JSON) through a temporary file
renamed into place at the end, so a failed or interrupted run leaves an existing
file as it was; without ``--out`` they are printed. Hooked into the command line
by :func:`add_detect_parser`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["add_detect_parser", "cmd_detect"]


def _positive(kind, name, allow_zero=False):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(
                f"{name} must be {'>= 0' if allow_zero else 'positive'}, got {text!r}")
        return value
    return parse


def add_detect_parser(subparsers, formatter_class):
    """Add the ``detect`` sub-command to ``subparsers`` (an argparse sub-parsers object).

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``parser.add_subparsers()`` returned.
    formatter_class : type
        The help formatter of the other sub-commands.

    Returns
    -------
    argparse.ArgumentParser
        The ``detect`` parser.
    """
    d = subparsers.add_parser(
        "detect", formatter_class=formatter_class,
        help="find where the sounds of a few examples occur in a long recording",
        description="Find the events of the support classes in a long recording (read a "
                    "batch of windows at a time; a file at another sample rate is "
                    "resampled on the fly). Each window is compared with the support "
                    "classes' prototypes and with background prototypes learnt from the "
                    "recording itself.")
    d.add_argument("model", help="model file from 'train' (.skops; .joblib is unpickled)")
    d.add_argument("recording", help="the long audio file to search")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--support", metavar="FOLDER",
                     help="folder with one sub-folder per class to find, holding a few "
                          "example clips (one class is enough)")
    src.add_argument("--first-events", metavar="FILE",
                     help="annotations of the recording (CSV onset,offset,label, or DCASE "
                          "Task 5's Starttime,Endtime with POS columns): its first "
                          "--n-events events of each label are the examples, and only "
                          "later events are searched")
    d.add_argument("--n-events", type=_positive(int, "--n-events"), default=5,
                   help="with --first-events: examples per label (DCASE Task 5: 5)")
    d.add_argument("--out", "-o", metavar="FILE", default=None,
                   help="write the events to FILE (.csv or .json), replaced only once "
                        "complete (else they are printed)")
    d.add_argument("--format", choices=["csv", "json"], default=None,
                   help="output format (default: from --out's extension, else csv)")
    # None: detect_events' own defaults (set there; tests check that the help says them)
    d.add_argument("--threshold", type=_positive(float, "--threshold"), default=None,
                   help="probability of a class against the background above which a "
                        "window is part of an event (default: 0.4)")
    d.add_argument("--smoothing", type=_positive(float, "--smoothing", True), default=None,
                   help="seconds of the median filter over the windows' probabilities "
                        "(default: one window)")
    d.add_argument("--min-duration", type=_positive(float, "--min-duration", True),
                   default=None, help="drop events shorter than this many seconds "
                                      "(default: half a window)")
    d.add_argument("--window", type=_positive(float, "--window"), default=None,
                   help="seconds per window, at most the model's duration (default: 2, or "
                        "the model's duration if shorter); about as long as the events")
    d.add_argument("--hop", type=_positive(float, "--hop"), default=None,
                   help="seconds between windows (default: a quarter window)")
    d.add_argument("--no-background", action="store_true",
                   help="no background prototypes: nearest class within the support's "
                        "leave-one-out distance threshold (a reference, not better)")
    d.add_argument("--batch-size", type=_positive(int, "--batch-size"), default=64,
                   help="windows read and scored at a time (memory grows with it)")
    d.add_argument("--trust", action="append", default=[], metavar="TYPE",
                   help="also trust this type in the .skops file (repeatable)")
    d.add_argument("--allow-pickle", action="store_true",
                   help="load a model file that is a pickle (runs code from the file: only "
                        "for files you trust)")
    d.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N")
    d.add_argument("--seed", type=int, default=0,
                   help="seed of the background windows drawn")
    d.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")
    d.set_defaults(func=cmd_detect)
    return d


def _check_out(args):
    from ._cli_files import CLIError

    if args.out is None:
        return None
    out = Path(args.out)
    if out.is_dir():
        raise CLIError(f"--out {str(out)!r} is a folder; give a file name such as events.csv")
    if not out.parent.is_dir():
        raise CLIError(f"--out {str(out)!r}: the folder {str(out.parent)!r} does not exist")
    return out


def _support(args, logmel):
    """``(support, support_events)`` for detect_events from --support or --first-events."""
    from ..detection import read_events
    from ._cli_files import read_clips, scan_folder

    if args.first_events is not None:
        return None, read_events(args.first_events)
    files, labels = scan_folder(args.support, min_per_class=1, hint="add example clips")
    clips = read_clips(files, sr=logmel.sr, verbose=args.progress, min_samples=logmel.n_fft)
    return (clips, labels), None


def _print(events, fmt):
    if fmt == "json":
        json.dump([{"onset": round(e.onset, 4), "offset": round(e.offset, 4),
                    "label": e.label, "score": round(e.score, 4)} for e in events],
                  sys.stdout, indent=1, default=str)
        print()
    else:
        print("onset,offset,label,score")
        for e in events:
            print(f"{e.onset:.4f},{e.offset:.4f},{e.label},{e.score:.4f}")


def cmd_detect(args):
    """Run ``sklearn-hallu detect``; the exit status (0)."""
    from ..detection import detect_events, write_events
    from ._cli_files import CLIError, _load_model, _use_device

    out = _check_out(args)  # before anything slow
    if not Path(args.recording).exists():
        raise CLIError(f"recording {args.recording!r} does not exist")
    pipe = _load_model(args.model, args.trust, allow_pickle=args.allow_pickle)
    _use_device(pipe, args.device)
    pipe.steps[-1][1].set_params(verbose=0)
    support, support_events = _support(args, pipe[0])
    given = {k: getattr(args, k) for k in ("threshold", "smoothing", "min_duration", "window",
                                           "hop") if getattr(args, k) is not None}
    t = time.perf_counter()
    events, scores = detect_events(
        pipe, args.recording, support=support, support_events=support_events,
        n_support_events=args.n_events, background=not args.no_background,
        batch_size=args.batch_size, progress=args.progress and sys.stderr.isatty(),
        random_state=args.seed, return_scores=True, **given)
    took = time.perf_counter() - t
    fmt = args.format or ("json" if out is not None and out.suffix.lower() == ".json"
                          else "csv")
    if out is not None:
        write_events(out, events, format=fmt)
    else:
        _print(events, fmt)
    where = f"; wrote {str(out)!r}" if out is not None else ""
    print(f"detect: {len(events)} events of {len(scores.classes)} class(es) in "
          f"{scores.duration:.1f} s of audio ({took:.1f} s, "
          f"{scores.duration / max(took, 1e-9):.0f}x real time, window {scores.window:g} s, "
          f"hop {scores.hop:g} s){where}", file=sys.stderr)
    return 0
