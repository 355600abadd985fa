"""Command-line tool: ``sklearn-hallu train | predict | evaluate | reproduce | demo``.

Run ``sklearn-hallu <command> --help`` for each command's options.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au"}
#: Model files with these extensions are pickles (joblib); any other is a skops file.
PICKLE_EXTENSIONS = {".joblib", ".pkl", ".pickle"}
PICKLE_WARNING = (
    "warning: {path} is a pickle. Loading it runs code stored in the file, with your "
    "permissions: only load pickles you made or got from someone you trust. Models saved "
    "as .skops (the default of 'sklearn-hallu train') load without that risk."
)


class CLIError(Exception):
    """An error the user can fix; printed without a traceback, exit code 2."""


def scan_folder(folder, *, min_per_class=1):
    """Audio files of a folder with one sub-folder per class.

    Returns
    -------
    files : list of str
    labels : ndarray of str
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CLIError(f"folder {str(folder)!r} does not exist (expected one sub-folder per "
                       "class, each holding audio files)")
    files, labels = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        found = sorted(f for f in sub.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS)
        files += [str(f) for f in found]
        labels += [sub.name] * len(found)
    if not files:
        raise CLIError(f"no audio files found in sub-folders of {str(folder)!r}; expected "
                       f"<class>/<clip>{{{','.join(sorted(AUDIO_EXTENSIONS))}}}")
    labels = np.asarray(labels)
    names, counts = np.unique(labels, return_counts=True)
    small = [f"{n} ({c})" for n, c in zip(names, counts) if c < min_per_class]
    if small:
        raise CLIError(f"class(es) {', '.join(small)} in {str(folder)!r} have fewer than the "
                       f"{min_per_class} clips needed; add clips or lower --k-shot/--n-query")
    return files, labels


def read_clips(files, *, sr, verbose=True):
    """Load audio files (progress bar), naming any file that cannot be read."""
    from tqdm.auto import tqdm

    from ..preprocessing import load_audio

    out = []
    for f in tqdm(files, desc="reading audio", unit="clip", disable=not verbose,
                  file=sys.stderr):
        try:
            out.append(load_audio(f, sr))
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    return out


def build_pipeline(args):
    """The model ``train`` fits: log-mel, masks (per ``--views``) and the classifier."""
    from ._pipeline import make_model

    return make_model(
        args.views, split_hz=args.split_hz, logmel={"duration": args.duration},
        n_way=args.n_way, k_shot=args.k_shot, n_query=args.n_query, max_epochs=args.epochs,
        channels=tuple(int(c) for c in args.channels.split(",")),
        time_shift=None if args.no_time_shift else (20, 139),
        lr_step=max(1, args.lr_step), device=args.device, random_state=args.seed,
        verbose=2 if args.progress else 1,
    )


def model_path(out):
    """Where ``train`` writes: ``out``, with ``.skops`` added when it has no extension."""
    out = Path(out)
    return out if out.suffix else out.with_name(out.name + ".skops")


def save_model(pipe, path):
    """Write a skops file, or a pickle when the extension asks for one (``.joblib``)."""
    if path.suffix.lower() in PICKLE_EXTENSIONS:
        import joblib

        joblib.dump(pipe, path)
    else:
        from ..persistence import dump

        dump(pipe, path)


def cmd_train(args):
    if args.esc50 is not None:
        from ..datasets import fetch_esc50

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
    n_cls = len(np.unique(labels))
    if n_cls < args.n_way:
        raise CLIError(f"{n_cls} classes found but --n-way {args.n_way}; lower --n-way")
    pipe = build_pipeline(args)
    clips = read_clips(files, sr=pipe[0].sr, verbose=args.progress)
    print(f"training on {len(clips)} clips of {n_cls} classes", file=sys.stderr)
    pipe.fit(clips, labels)
    out = model_path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_model(pipe, out)
    print(f"saved model to {out}", file=sys.stderr)
    return 0


def _load_model(path, trust=()):
    """A skops file through the safe loader; a pickle (``.joblib``) with a warning."""
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"model file {str(path)!r} does not exist; make one with "
                       "'sklearn-hallu train'")
    if path.suffix.lower() in PICKLE_EXTENSIONS:
        import joblib

        print(PICKLE_WARNING.format(path=path), file=sys.stderr)
        return joblib.load(path)
    from ..persistence import load

    return load(path, trusted=list(trust or ()))


def cmd_predict(args):
    from .._support import fit_support

    pipe = _load_model(args.model, args.trust)
    pipe.set_params(**{f"{pipe.steps[-1][0]}__device": args.device})
    sup_files, sup_labels = scan_folder(args.support)
    if len(np.unique(sup_labels)) < 2:
        raise CLIError(f"the support folder {args.support!r} holds one class; give at least 2")
    sr = pipe[0].sr
    fit_support(pipe, read_clips(sup_files, sr=sr, verbose=args.progress),
                sup_labels)
    queries = []
    for q in args.queries:
        p = Path(q)
        if p.is_dir():
            queries += sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in
                              AUDIO_EXTENSIONS)
        elif p.is_file():
            queries.append(str(p))
        else:
            raise CLIError(f"query {q!r} does not exist")
    if not queries:
        raise CLIError("no query files given")
    proba = pipe.predict_proba(read_clips(queries, sr=sr, verbose=args.progress))
    classes = [str(c) for c in pipe.classes_]
    labels = [classes[i] for i in proba.argmax(1)]
    if args.format == "json":
        rows = [{"file": f, "label": lab, "proba": dict(zip(classes, map(float, p)))}
                for f, lab, p in zip(queries, labels, proba)]
        json.dump(rows, sys.stdout, indent=1)
        print()
    else:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["file", "label"] + [f"p_{c}" for c in classes])
        for f, lab, p in zip(queries, labels, proba):
            w.writerow([f, lab] + [f"{v:.6f}" for v in p])
        sys.stdout.write(buf.getvalue())
    return 0


def cmd_evaluate(args):
    from ..model_selection import few_shot_report

    pipe = _load_model(args.model, args.trust)
    pipe.set_params(**{f"{pipe.steps[-1][0]}__device": args.device})
    need = max(args.k_shot) + 1
    files, labels = scan_folder(args.data, min_per_class=need)
    settings = [(args.n_way, k) for k in args.k_shot]
    n_cls = len(np.unique(labels))
    if n_cls < args.n_way:
        raise CLIError(f"{n_cls} classes in {args.data!r} but --n-way {args.n_way}")
    clips = read_clips(files, sr=pipe[0].sr, verbose=args.progress)
    rep = few_shot_report(pipe, clips, labels, settings=settings, protocol="paper",
                          n_repeats=args.repeats, random_state=args.seed)
    if args.format == "json":
        json.dump(rep.as_dict(), sys.stdout, indent=1)
        print()
    else:
        print(rep.to_markdown(per_class=args.per_class))
    return 0


def _run_reproduce(args):
    from .reproduce import run

    run(args)
    return 0


def _run_demo(args):
    from .demo import run

    return run(args)


def _add_trust(p):
    p.add_argument("--trust", action="append", default=[], metavar="TYPE",
                   help="also trust this type in the .skops file (repeatable); only for "
                        "files from someone you trust")


def _add_common(p):
    p.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bars")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sklearn-hallu",
        description="Few-shot audio classification with HalluAudio (train, predict, evaluate, "
                    "reproduce the paper, demo).")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model on a folder of labelled audio")
    t.add_argument("data", nargs="?", help="folder with one sub-folder of clips per class")
    t.add_argument("--esc50", nargs="?", const="", default=None, metavar="PATH",
                   help="train on the 35 ESC-50 training classes (PATH or the data home)")
    t.add_argument("--max-per-class", type=int, default=None,
                   help="use at most this many clips per class (quick runs)")
    t.add_argument("--out", "-o", required=True,
                   help="model file to write: a .skops file (the extension is added when "
                        "there is none); .joblib writes a pickle instead")
    t.add_argument("--views", choices=["hallu", "baseline", "time"], default="hallu",
                   help="hallu: whole+low+high (default); baseline: whole only; time: ablation")
    t.add_argument("--split-hz", type=float, default=2000.0)
    t.add_argument("--duration", type=float, default=5.0, help="seconds per clip (crop/pad)")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--lr-step", type=int, default=8, help="epochs between lr drops")
    t.add_argument("--channels", default="64,64,64")
    t.add_argument("--n-way", type=int, default=5)
    t.add_argument("--k-shot", type=int, default=5)
    t.add_argument("--n-query", type=int, default=5)
    t.add_argument("--no-time-shift", action="store_true")
    _add_common(t)
    t.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="classify queries among new classes given supports")
    p.add_argument("model", help="model file from 'train' (.skops; .joblib is unpickled)")
    p.add_argument("--support", required=True,
                   help="folder with one sub-folder per new class holding a few labelled clips")
    p.add_argument("queries", nargs="+", help="query audio files or folders")
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    _add_trust(p)
    _add_common(p)
    p.set_defaults(func=cmd_predict)

    e = sub.add_parser("evaluate", help="few-shot accuracy with 95%% CI on a labelled folder")
    e.add_argument("model", help="model file from 'train' (.skops; .joblib is unpickled)")
    e.add_argument("data", help="folder with one sub-folder per class")
    e.add_argument("--n-way", type=int, default=5)
    e.add_argument("--k-shot", type=int, nargs="+", default=[1, 5])
    e.add_argument("--repeats", type=int, default=10, help="passes of the paper protocol")
    e.add_argument("--format", choices=["markdown", "json"], default="markdown")
    e.add_argument("--per-class", action="store_true")
    _add_trust(e)
    _add_common(e)
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("reproduce", help="reproduce the paper's ESC-50 tables")
    from .reproduce import build_parser as reproduce_parser

    reproduce_parser(r)
    r.set_defaults(func=_run_reproduce)

    d = sub.add_parser("demo", help="train a small HalluAudio and baseline on ESC-50, compare")
    from .demo import build_parser as demo_parser

    demo_parser(d)
    d.set_defaults(func=_run_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..exceptions import DataNotFoundError

    try:
        return int(args.func(args) or 0)
    except (CLIError, DataNotFoundError, ValueError, FileNotFoundError) as exc:
        print(f"sklearn-hallu {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
