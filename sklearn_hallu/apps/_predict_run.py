"""The steps of ``sklearn-hallu predict``: queries, the support set, the streaming run.

Every query is read, embedded and written a batch at a time
(:func:`sklearn_hallu.predict_files`), so memory does not grow with the
number of files and rows come out as they are ready. With ``--on-error stop``
(the default) every unusable file is found before any work (headers only, one
error naming them all); with ``--on-error skip`` they are left out, listed at
the end and in ``FILE.errors.csv``, and the exit status is 3.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np

from ._cli_files import (
    AUDIO_EXTENSIONS,
    CLIError,
    _report_ignored,
    read_clips,
    report_cut,
    report_silent,
    scan_folder,
    unreadable_message,
    warnings_by_file,
)
from ._predict_output import SKIPPED_EXIT, RowWriter, run_key, write_errors
from ._progress import Progress
from ._walk import link_reason, report_loops, walk

__all__ = ["list_queries", "run_predict"]

SKIP_HINT = ", or pass --on-error skip to go on without them (listed at the end)"


def list_queries(queries):
    """The audio files the query arguments name, and the entries that cannot be read.

    Folders are walked (symlinks followed, see :func:`~._walk.walk`); files of
    other types are reported; a name that does not exist at all is an error.

    Returns
    -------
    files : list of str
    broken : list of (str, str)
        ``(path, reason)`` of dangling symlinks, symlink loops and the like.
    """
    files, broken = [], []
    for q in queries:
        if os.path.isdir(q):
            inside, bad, loops = walk(q)
            files += [str(f) for f in inside if f.suffix.lower() in AUDIO_EXTENSIONS]
            _report_ignored([f for f in inside if f.suffix.lower() not in AUDIO_EXTENSIONS],
                            repr(q))
            broken += [(str(p), f"{str(p)!r} is {why}") for p, why in bad]
            report_loops(loops, repr(q))
        elif os.path.isfile(q):
            files.append(str(Path(q)))
        elif os.path.islink(q):
            broken.append((str(Path(q)), f"{q!r} is {link_reason(q)}"))
        else:
            raise CLIError(f"query {q!r} does not exist")
    if not files and not broken:
        raise CLIError("no query files given")
    return files, broken


def _support(pipe, args, read, skipped):
    """Read the support folder and give the model its classes; the support files used."""
    from .. import fit_support, fit_support_windows

    files, labels = scan_folder(args.support, errors=skipped)
    bad = []
    clips = read_clips(files, **read, errors=bad)
    if bad and skipped is None:
        return files, bad  # the caller names them with the queries' problems
    keep = [i for i, c in enumerate(clips) if c is not None]
    if skipped is not None:
        skipped.extend(bad)
    lost = sorted(set(labels) - set(labels[keep]))
    if lost:
        raise CLIError(f"class(es) {', '.join(lost)} of the support folder {args.support!r} "
                       "have no readable clip left, so they could not be predicted: "
                       + unreadable_message(bad, len(files)) + " (or remove the class folder)")
    files, labels, clips = [files[i] for i in keep], labels[keep], [clips[i] for i in keep]
    if len(np.unique(labels)) < 2:
        raise CLIError(f"the support folder {args.support!r} holds {len(np.unique(labels))} "
                       "class(es) with readable clips; give at least 2")
    with warnings_by_file(files):
        if args.crop == "windows":
            fit_support_windows(pipe, clips, labels)
        else:
            fit_support(pipe, clips, labels)
    return files, []


def _stop_on_problems(args, problems, n_files):
    """``--on-error stop``: one error naming every problem found before any prediction."""
    if not problems:
        return
    where = ""
    if args.out is not None:
        where = f" (all of them in {str(write_errors(args.out, problems))!r})"
    raise CLIError(unreadable_message(problems, n_files, SKIP_HINT) + where)


def _stream(pipe, todo, writer, args):
    """Predict ``todo`` a batch at a time into ``writer``; the files skipped, and a tally."""
    from .. import predict_files
    from ..exceptions import AudioCroppedWarning, ClipWarning, SilentClipWarning

    skipped, silent, cut = [], [[], 0], [[], 0]
    results = predict_files(pipe, todo, batch_size=args.batch_size, on_error=args.on_error,
                            windows=args.crop == "windows",
                            pool=args.pool or "mean")
    with Progress(len(todo), "predict", enabled=args.progress) as progress, \
            warnings.catch_warnings():
        for category in (SilentClipWarning, AudioCroppedWarning):  # reported below by name
            warnings.filterwarnings("ignore", category=category)
        warnings.filterwarnings("ignore", message=r".*files are unusable", category=ClipWarning)
        for k, r in enumerate(results, 1):
            if r.ok:
                writer.write(r)
                for tally, hit, item in ((silent, r.silent, r.path),
                                         (cut, r.cropped, (r.path, r.seconds))):
                    if hit:
                        tally[1] += 1
                        if tally[1] <= 5:
                            tally[0].append(item)
            else:
                skipped.append((r.path, r.error))
            progress.update()
            if k % args.batch_size == 0:
                writer.flush()
    writer.flush()
    return skipped, silent, cut


def _open_writer(pipe, args, support_files, n_queries):
    classes = [str(c) for c in pipe.classes_]
    key = None if args.out is None else run_key(args, support_files, classes)
    writer = RowWriter(args.format, classes, out=args.out, key=key)
    if writer.done:
        print(f"resuming: {len(writer.done)} of {n_queries} files are already in "
              f"{str(writer.partial)!r}; predicting the others", file=sys.stderr)
    return writer


def _check_out(args):
    if args.out is None:
        return
    out = Path(args.out)
    if out.is_dir():
        raise CLIError(f"--out {args.out!r} is a folder; give a file name such as preds.csv")
    if os.path.abspath(out) in {os.path.abspath(q) for q in args.queries}:
        raise CLIError(f"--out {args.out!r} is also a query; give another file name")


def run_predict(pipe, args, read):
    """``sklearn-hallu predict`` after the model is loaded; returns the exit status."""
    from ..streaming import check_audio_files

    _check_out(args)
    skipped = [] if args.on_error == "skip" else None
    queries, broken = list_queries(args.queries)
    support_files, support_bad = _support(pipe, args, read, skipped)
    logmel = pipe[0]
    if skipped is None:
        problems = support_bad + broken + check_audio_files(queries, sr=logmel.sr,
                                                             min_samples=logmel.n_fft)
        _stop_on_problems(args, problems, len(support_files) + len(queries) + len(broken))
    else:
        skipped += broken
    writer = _open_writer(pipe, args, support_files, len(queries))
    todo = [q for q in queries if q not in writer.done]
    try:
        lost, silent, cut = _stream(pipe, todo, writer, args)
    except BaseException as exc:
        writer.keep()
        return _explain_stop(exc, writer, args)
    writer.finish()
    return _report_end(args, read, skipped or [], lost, (silent, cut), len(todo), writer)


def _explain_stop(exc, writer, args):
    """Say what was kept when a run stops early, and how to go on (130 after Ctrl-C)."""
    from ..streaming import AudioFileError

    kept = (f"the {writer.n_written + len(writer.done)} rows done are kept in "
            f"{str(writer.partial)!r} (and {str(args.out)!r}, if it was there, is untouched); "
            "run the same command again to go on from there" if args.out is not None else
            f"the {writer.n_written} rows printed are complete; with --out FILE a run can be "
            "resumed")
    if isinstance(exc, AudioFileError):
        if args.out is not None:
            write_errors(args.out, [(exc.path, exc.reason)])
        raise CLIError(f"{exc.reason} Fix or remove it{SKIP_HINT}; {kept}") from None
    if isinstance(exc, KeyboardInterrupt):
        print(f"sklearn-hallu predict: interrupted; {kept}", file=sys.stderr)
        return 130
    raise exc


def _report_end(args, read, skipped, lost, tallies, n_todo, writer):
    """Warnings about silent and cut files, the skipped files, and the exit status."""
    (silent, cut), n_done = tallies, n_todo - len(lost)
    report_silent(silent[0], silent[1], n_done)
    if read["duration"] is not None:
        report_cut(cut[0], n_done, read["duration"], read["crop"], count=cut[1])
    skipped = skipped + lost
    if args.out is not None:
        errors = write_errors(args.out, skipped)
        print(f"wrote {writer.n_written + len(writer.done)} rows to {str(args.out)!r}"
              + (f"; the files left out are listed in {str(errors)!r}" if errors else ""),
              file=sys.stderr)
    if not skipped:
        return 0
    names = "; ".join(why.rstrip(". ") for _, why in skipped[:10])
    more = f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""
    print(f"warning: {len(skipped)} file(s) were skipped (--on-error skip), exit status "
          f"{SKIPPED_EXIT}: {names}{more}", file=sys.stderr)
    return SKIPPED_EXIT
