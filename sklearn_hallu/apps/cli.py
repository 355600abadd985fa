"""Command-line tool: ``sklearn-hallu train | predict | evaluate | demo``.

Run ``sklearn-hallu <command> --help`` for each command's options.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ._cli_files import (  # noqa: F401  (re-exported: the command line's helpers)
    AUDIO_EXTENSIONS,
    PICKLE_EXTENSIONS,
    PICKLE_WARNING,
    CLIError,
    _check_model,
    _Interrupts,
    _load_model,
    _positive,
    _report_ignored,
    _use_device,
    model_path,
    parse_channels,
    read_clips,
    save_model,
    scan_folder,
    warnings_by_file,
)


def build_pipeline(args):
    """The model ``train`` fits: log-mel, masks (per ``--views``) and the classifier."""
    from ._pipeline import make_model

    return make_model(
        args.views, split_hz=args.split_hz,
        logmel={"duration": args.duration, "crop": args.crop or "start"},
        n_way=args.n_way, k_shot=args.k_shot, n_query=args.n_query, max_epochs=args.epochs,
        channels=args.channels,
        time_shift=None if args.no_time_shift else (20, 139),
        lr_step=max(1, args.lr_step), device=args.device, random_state=args.seed,
        verbose=2 if args.progress else 1,
    )


def _fit(pipe, clips, labels):
    pipe.fit(clips, labels)
    return pipe


def _training_data(args):
    """The clips ``train`` learns from (``--esc50`` or a folder) and their labels."""
    if args.esc50 is not None:
        from ..datasets import fetch_esc50

        if args.esc50 and not Path(args.esc50).is_dir():
            raise CLIError(f"--esc50 {args.esc50!r}: no such folder. Give the folder that holds "
                           "ESC-50 (or its parent), or --esc50 with no path to download it "
                           "(about 600 MB) into the data home")
        b = fetch_esc50(args.esc50 or None, subset="train")
        files, labels = list(b.filenames), b.category.astype(str)
        if args.max_per_class:
            keep = np.concatenate([np.flatnonzero(labels == c)[: args.max_per_class]
                                   for c in np.unique(labels)])
            files, labels = [files[i] for i in keep], labels[keep]
    elif args.data:
        files, labels = scan_folder(args.data, min_per_class=args.k_shot + args.n_query)
    else:
        raise CLIError("give a data folder (one sub-folder per class) or --esc50 [PATH]")
    return files, labels


def _check_out(args):
    """The file ``train`` writes; refused when it is a folder, or exists without --force."""
    out = model_path(args.out)
    if out.is_dir():
        raise CLIError(f"--out {str(out)!r} is a folder; give a file name such as model.skops")
    if out.exists() and not args.force:
        raise CLIError(f"--out {str(out)!r} already exists; add --force to replace it (it is "
                       "replaced only once the new model is written), or give another --out")
    return out


def cmd_train(args):
    """``sklearn-hallu train``: fit a model on labelled clips and write it to ``--out``.

    ``--out`` is checked before anything is read or trained: an existing file
    is replaced only with ``--force``. While training, ``<out>.lock`` claims
    the file (a second run to the same file stops at once, naming the lock);
    the model is written to a temporary file and renamed into place.

    .. versionchanged:: 0.2.0
       Refuses an existing ``--out`` without ``--force``; claims it with a lock.
    """
    from ._cli_files import claim_output

    out = _check_out(args)  # before anything slow
    files, labels = _training_data(args)
    n_cls = len(np.unique(labels))
    if n_cls < args.n_way:
        raise CLIError(f"{n_cls} classes found but --n-way {args.n_way}; lower --n-way")
    out.parent.mkdir(parents=True, exist_ok=True)
    with claim_output(out):
        _check_out(args)  # a run that held the claim until now may have written it
        pipe = build_pipeline(args)
        logmel = pipe[0]
        clips = read_clips(files, sr=logmel.sr, verbose=args.progress,
                           min_samples=logmel.n_fft, duration=logmel.duration, crop=logmel.crop)
        print(f"training on {len(clips)} clips of {n_cls} classes", file=sys.stderr)
        with _Interrupts() as interrupts, warnings_by_file(files):  # warnings name the files
            _fit(pipe, clips, labels)
        if interrupts.seen:
            raise KeyboardInterrupt
        save_model(pipe, out, overwrite=args.force)
    print(f"saved model to {out}", file=sys.stderr)
    return 0


def _prepare_model(args):
    """Load the model, put it on ``--device``, apply ``--crop`` and ``--no-progress``."""
    pipe = _load_model(args.model, args.trust, allow_pickle=args.allow_pickle)
    _use_device(pipe, args.device)
    # bars only on a terminal: in a log the library's tqdm bars are lines of \r
    pipe.steps[-1][1].set_params(verbose=2 if args.progress and sys.stderr.isatty() else 0)
    if args.pool is not None and args.crop != "windows":
        raise CLIError(f"--pool {args.pool} pools the scores of windows: add --crop windows")
    if args.crop not in (None, "windows"):
        pipe[0].set_params(crop=args.crop)
    return pipe


def _read_options(pipe, args):
    """``read_clips`` options: with ``--crop windows`` no clip is cut (duration None)."""
    logmel = pipe[0]
    return dict(sr=logmel.sr, verbose=args.progress, min_samples=logmel.n_fft,
                duration=None if args.crop == "windows" else logmel.duration,
                crop=logmel.crop)


def cmd_predict(args):
    """Predict the queries a batch at a time (see ``_predict_run``); the exit status."""
    from ._predict_run import run_predict

    pipe = _prepare_model(args)
    return run_predict(pipe, args, _read_options(pipe, args))


def cmd_evaluate(args):
    """``sklearn-hallu evaluate``: few-shot accuracy on a labelled folder; with
    ``--open-set``, also the open-set table (see ``_open_set_cmd``).

    The clips are embedded once; every setting, closed- and open-set, reuses the
    embeddings.

    .. versionchanged:: 0.2.0
       ``--open-set``, ``--episodes`` and ``--false-alarm-rate``.
    """
    from .. import embed, embed_windows
    from ..model_selection import few_shot_report
    from ._open_set_cmd import (
        OPEN_SET_QUERIES,
        check_open_set,
        open_set_json,
        open_set_markdown,
        open_set_results,
    )

    pipe = _prepare_model(args)
    need, hint = max(args.k_shot) + 1, "add clips or lower --k-shot"
    if args.open_set:
        need, hint = max(args.k_shot) + OPEN_SET_QUERIES, (
            f"add clips or lower --k-shot (--open-set draws {OPEN_SET_QUERIES} queries per "
            "class besides the supports)")
    files, labels = scan_folder(args.data, min_per_class=need, hint=hint)
    settings = [(args.n_way, k) for k in args.k_shot]
    n_cls = len(np.unique(labels))
    if n_cls < args.n_way:
        raise CLIError(f"{n_cls} classes in {args.data!r} but --n-way {args.n_way}")
    if args.open_set:
        check_open_set(args, n_cls)
    with warnings_by_file(files):
        clips = read_clips(files, **_read_options(pipe, args))
        emb = (embed_windows(pipe, clips, pool=args.pool or "mean")
               if args.crop == "windows" else embed(pipe, clips))
        rep = few_shot_report(pipe, clips, labels, settings=settings, protocol="paper",
                              n_repeats=args.repeats, random_state=args.seed, embeddings=emb)
    open_set = open_set_results(emb, labels, args) if args.open_set else None
    if args.format == "json":
        out = rep.as_dict()
        if open_set is not None:
            out["open_set"] = open_set_json(open_set)
        json.dump(out, sys.stdout, indent=1)
        print()
    else:
        print(rep.to_markdown(per_class=args.per_class))
        print(f"\n95% CI (queries, as the paper): 1.96 sd / sqrt(n) over all queries of the "
              f"{args.repeats} passes, which re-use the same clips, so it shrinks with "
              "--repeats. 95% CI (clips): over each clip's accuracy; use this one to compare "
              "models.")
        if open_set is not None:
            print("\nOpen set (other classes of the folder as unknowns):\n")
            print(open_set_markdown(open_set, args.false_alarm_rate))
            print(f"\n±: 95% CI over the {args.episodes} episodes. Rejected: at the "
                  "threshold calibrated by leave-one-out on each episode's supports (n/a "
                  "with 1 shot).")
    return 0


def _not_installed(command):
    print(f"sklearn-hallu {command}: error: the paper's reproduction is research code kept "
          "in the repository, not installed with the package: in a clone of the "
          "sklearn-hallu repository, run `make reproduce` or `python -m research.reproduce "
          "--help` from its root.", file=sys.stderr)
    return 2


def _run_reproduce(args):
    return _not_installed(args.command)


def _run_demo(args):
    from .demo import run

    return run(args)


def _add_trust(p):
    p.add_argument("--trust", action="append", default=[], metavar="TYPE",
                   help="also trust this type in the .skops file (repeatable); only for "
                        "files from someone you trust")
    p.add_argument("--allow-pickle", action="store_true",
                   help="load a model file that is a pickle (.joblib, .pkl, .pickle): "
                        "unpickling runs code stored in the file, with your permissions, so "
                        "only for files you made or got from someone you trust; better, "
                        "convert it once to .skops (see sklearn_hallu.persistence.load)")


def _add_common(p):
    p.add_argument("--device", default="cpu",
                   help="torch device the model runs on: cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bars")


CROP_HELP = ("which part of a clip longer than the model's duration is kept: its start, "
             "its centre, or its loudest window; clips that are cut are listed")
WINDOWS_HELP = ("; windows: keep all of it, cut into windows of the model's duration "
                "(half overlapping), and pool the windows' {what} per clip (see --pool)")
POOL_HELP = ("with --crop windows: average the windows' {what} (mean) or keep the largest "
             "(max: a short sound anywhere in a long clip counts in full) [default: mean]")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show (flags, None)."""

    def _get_help_string(self, action):
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def _command(argv):
    """The sub-command named in ``argv`` (the first word not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def _add_train(sub, fmt):
    count, number = _positive(int), _positive(float)
    t = sub.add_parser("train", help="train a model on a folder of labelled audio",
                       formatter_class=fmt)
    t.add_argument("data", nargs="?", help="folder with one sub-folder of clips per class")
    t.add_argument("--esc50", nargs="?", const="", default=None, metavar="PATH",
                   help="train on the 35 ESC-50 training classes: PATH holds ESC-50; with no "
                        "PATH it is downloaded (about 600 MB) into the data home")
    t.add_argument("--max-per-class", type=count, default=None,
                   help="use at most this many clips per class (quick runs)")
    t.add_argument("--out", "-o", required=True,
                   help="model file to write: a .skops file (the extension is added when "
                        "there is none); .joblib writes a pickle instead (loading it then "
                        "needs --allow-pickle). An existing file is refused without --force")
    t.add_argument("--force", action="store_true",
                   help="replace an existing --out file (once the new model is written)")
    t.add_argument("--views", choices=["hallu", "baseline", "time"], default="hallu",
                   help="hallu: whole+low+high; baseline: whole only; time: ablation")
    t.add_argument("--split-hz", type=number, default=2000.0,
                   help="frequency (Hz) splitting the low and high views")
    t.add_argument("--duration", type=number, default=5.0,
                   help="seconds per clip: longer clips are cut (see --crop), shorter padded")
    t.add_argument("--crop", choices=["start", "centre", "loudest"], default="start",
                   help=CROP_HELP)
    t.add_argument("--epochs", type=count, default=20,
                   help="training epochs (at least 1: 0 would save an untrained model)")
    t.add_argument("--lr-step", type=count, default=8, help="epochs between lr drops")
    t.add_argument("--channels", type=parse_channels, default="64,64,64",
                   help="channel widths of the backbone's blocks, e.g. 64,64,64")
    t.add_argument("--n-way", type=_positive(int, 2), default=5,
                   help="classes per training episode")
    t.add_argument("--k-shot", type=count, default=5, help="support clips per class")
    t.add_argument("--n-query", type=count, default=5, help="query clips per class")
    t.add_argument("--no-time-shift", action="store_true",
                   help="no random time shift augmentation")
    _add_common(t)
    t.set_defaults(func=cmd_train)


def _add_predict(sub, fmt):
    count = _positive(int)
    p = sub.add_parser("predict", help="classify queries among new classes given supports",
                       formatter_class=fmt)
    p.add_argument("model", help="model file from 'train' (.skops; a pickle needs "
                                 "--allow-pickle)")
    p.add_argument("--support", required=True,
                   help="folder with one sub-folder per new class holding a few labelled clips")
    p.add_argument("queries", nargs="+", help="query audio files or folders")
    p.add_argument("--format", choices=["csv", "json"], default="csv", help="output format")
    p.add_argument("--crop", choices=["start", "centre", "loudest", "windows"], default=None,
                   help=CROP_HELP + WINDOWS_HELP.format(what="probabilities")
                   + " (default: the model's own)")
    p.add_argument("--pool", choices=["mean", "max"], default=None,
                   help=POOL_HELP.format(what="probabilities"))
    p.add_argument("--out", "-o", default=None, metavar="FILE",
                   help="write the rows to FILE (else stdout) as they are ready, through "
                        "FILE.partial, renamed to FILE at the end: a failed run leaves FILE "
                        "as it was, and the same command run again goes on from FILE.partial")
    p.add_argument("--on-error", choices=["stop", "skip"], default="stop",
                   help="an unusable file (missing, dangling symlink, undecodable, too "
                        "short): stop names every such file before any work; skip leaves "
                        "them out, lists them at the end (and in FILE.errors.csv) and exits "
                        "with status 3")
    p.add_argument("--batch-size", type=count, default=256,
                   help="files read and scored at a time (memory grows with it, not with "
                        "the number of files)")
    _add_trust(p)
    _add_common(p)
    p.set_defaults(func=cmd_predict)


def _add_evaluate(sub, fmt):
    count = _positive(int)
    e = sub.add_parser("evaluate", help="few-shot accuracy with 95%% CIs on a labelled folder",
                       formatter_class=fmt)
    e.add_argument("model", help="model file from 'train' (.skops; a pickle needs "
                                 "--allow-pickle)")
    e.add_argument("data", help="folder with one sub-folder per class")
    e.add_argument("--n-way", type=_positive(int, 2), default=5, help="classes per episode")
    e.add_argument("--k-shot", type=count, nargs="+", default=[1, 5],
                   help="support clips per class (one setting each)")
    e.add_argument("--repeats", type=count, default=10, help="passes of the paper protocol")
    e.add_argument("--format", choices=["markdown", "json"], default="markdown",
                   help="output format")
    e.add_argument("--per-class", action="store_true", help="also print per-class accuracy")
    e.add_argument("--crop", choices=["start", "centre", "loudest", "windows"], default=None,
                   help=CROP_HELP + WINDOWS_HELP.format(what="embeddings")
                   + " (default: the model's own)")
    e.add_argument("--pool", choices=["mean", "max"], default=None,
                   help=POOL_HELP.format(what="embeddings"))
    e.add_argument("--open-set", action="store_true",
                   help="also score open-set episodes: --n-way known classes, other classes "
                        "of the folder as unknowns (the folder needs more than --n-way "
                        "classes); AUROC, known accuracy at --false-alarm-rate, rejection "
                        "rates (in JSON: the 'open_set' key)")
    e.add_argument("--episodes", type=count, default=300,
                   help="open-set episodes per setting (with --open-set)")
    e.add_argument("--false-alarm-rate", type=_fraction, default=0.05,
                   help="fraction of unknown clips accepted for the known accuracy "
                        "(with --open-set)")
    _add_trust(e)
    _add_common(e)
    e.set_defaults(func=cmd_evaluate)


def _fraction(text):
    """``--false-alarm-rate``: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def build_parser(argv=None):
    """The command line's parser.

    Parameters
    ----------
    argv : list of str or None, default=None
        With the arguments, the options of ``demo`` are built
        only when that sub-command is named (their modules import torch, which
        ``--help`` and the other commands do not need); ``None`` builds them all.

    Returns
    -------
    parser : argparse.ArgumentParser
        The parser of ``sklearn-hallu``.
    """
    from .. import __version__

    fmt = _HelpFormatter
    parser = argparse.ArgumentParser(
        prog="sklearn-hallu", formatter_class=fmt,
        description="Few-shot audio classification with HalluAudio (train, predict, evaluate, "
                    "demo).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    _add_train(sub, fmt)

    _add_predict(sub, fmt)

    _add_evaluate(sub, fmt)

    from ._detect_cmd import add_detect_parser

    add_detect_parser(sub, fmt)

    wanted = "all" if argv is None else _command(argv)
    r = sub.add_parser("reproduce", add_help=False,
                       help="not installed: run `python -m research.reproduce` from a clone")
    r.add_argument("ignored", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    r.set_defaults(func=_run_reproduce)

    d = sub.add_parser("demo", help="train a small HalluAudio and baseline on ESC-50, compare",
                       formatter_class=fmt)
    if wanted in ("all", "demo"):
        from .demo import build_parser as demo_parser

        demo_parser(d)
    d.set_defaults(func=_run_demo)
    return parser


def main(argv=None):
    """Run ``sklearn-hallu``; the exit status: 2 a user error, 3 ``predict --on-error skip``
    left files out (listed), 130 interrupted."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["reproduce"] and not {"-h", "--help"} & set(argv):
        return _not_installed("reproduce")  # whatever options follow: they are not ours
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    from ..exceptions import DataNotFoundError
    from ..utils import tune_cpu_allocator

    tune_cpu_allocator()  # training and embedding reuse their freed buffers

    from ._progress import plain_text_streams

    try:
        with plain_text_streams():  # no colour codes in logs and pipes (skorch's table)
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"sklearn-hallu {args.command}: interrupted; nothing was written (a model file "
              "already there is left as it was)", file=sys.stderr)
        return 130
    except (CLIError, DataNotFoundError, ValueError, FileNotFoundError) as exc:
        print(f"sklearn-hallu {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
