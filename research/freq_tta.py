"""Mel-row offsets at prediction, beside the time shifts (issue 23, goal 1; rule
``research/results/freq_tta/RULES.md``).

The library's ``test_time_shifts`` averages a clip's embedding over circular shifts along
time, so that where the clip falls on the time grid of the max poolings matters less.
The same poolings cut the mel axis (4 rows per block), so this lever also averages over
small moves of the log-mel along the mel axis: offsets ``-d..+d`` rows, the rows a move
vacates repeating the nearest edge row (as ``research.spectral.frequency_shift`` moves
training clips). Nothing is retrained::

    python -m research.freq_tta screen --out research/results/freq_tta \\
        --models research/results/pooling --variant base_ref --seeds 0 1 2 3 4 5 \\
        --offsets 1 2 --tta 1 8 --passes 10 --features-cache F16 --name screen

scores each offset range against the time shifts alone on the lever runs' validation
and probe classes (the test classes are not read), paired seed by seed on the same clips
and episodes, in the table format of ``research.ensemble versus``. ``test`` is the one
look at the test classes the rule allows a candidate: a reproduction's saved baselines,
scored with the offsets on the reproduction's own episodes, written as a reproduction-like
``results.json`` that ``python -m research.cross_run_gain`` pairs per clip with the run::

    python -m research.freq_tta test --run docs/results/cpu_headline_late_tta_xeon \
        --offsets 1 --out research/results/freq_tta/test_late_tta_xeon
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import joblib
import numpy as np
from sklearn.pipeline import Pipeline

from research._cli import command_line
from research.ensemble import _lever_splits, _row, markdown, unit_centred
from research.reproduce.features import log

from .transfer.layers import per_clip, rewrite_tables, tta_embeddings

__all__ = ["shift_rows", "offset_embeddings", "main"]

TITLE = "Mel-row offsets at prediction against the time shifts alone"


def shift_rows(X, offset):
    """``X`` moved by ``offset`` rows along its mel axis (``-2``), edge rows repeated.

    Row ``m`` of the output is row ``clip(m - offset, 0, n_mels - 1)`` of the input: a
    positive offset moves the content to higher mel rows.
    """
    rows = X.shape[-2]
    idx = np.clip(np.arange(rows) - int(offset), 0, rows - 1)
    return np.take(X, idx, axis=-2)


def offset_embeddings(clf, X, n_tta, max_offset):
    """The last block's embedding averaged over the offsets ``-max_offset..+max_offset``
    rows, each the mean over ``n_tta`` time shifts (``max_offset=0``: the time shifts
    alone, as ``HalluAudioClassifier(test_time_shifts=n_tta)`` embeds)."""
    offsets = range(-max_offset, max_offset + 1)
    acc = sum(tta_embeddings(clf, shift_rows(X, d), n_tta)["block3"] for d in offsets)
    return acc / len(offsets)


def _embeddings(path, X_base, splits, n_tta, max_offset):
    """``{split: unit-centred embeddings}``, the centre from the training clips alike."""
    model = joblib.load(path)
    clf = model[-1] if isinstance(model, Pipeline) else model
    centre = offset_embeddings(clf, X_base, n_tta, max_offset).mean(axis=0)
    return {name: unit_centred(offset_embeddings(clf, Xs, n_tta, max_offset), centre)
            for name, (Xs, _) in splits.items()}


def screen(args, argv):
    members = [(args.variant, s) for s in args.seeds]
    runs, X_base, splits = _lever_splits(args, members)
    rows = []
    for n_tta in args.tta:
        by_offset = {}
        for d in (0, *args.offsets):
            by_offset[d] = {m: _embeddings(runs[m][0], X_base, splits, n_tta, d)
                            for m in members}
            log(f"{n_tta} shifts, offsets ±{d}: embedded")
        for split, (_, ys) in splits.items():
            acc = {d: [per_clip(e[m][split], ys, args.passes) for m in members]
                   for d, e in by_offset.items()}
            for d in args.offsets:
                for setting in acc[d][0]:
                    pairs = [(a[setting], b[setting]) for a, b in zip(acc[d], acc[0])]
                    rows.append(_row(pairs, kind=f"offsets ±{d}", tta=str(n_tta),
                                     split=split, setting=setting, against="offset 0"))
    command = command_line("research.freq_tta", argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps({"command": command, "rows": rows}))
    md = screen_markdown(rows, command)
    (out / f"{args.name}.md").write_text(md)
    print(md)


def screen_markdown(rows, command):
    return markdown(rows, command, versus=True, title=TITLE)


def test_stage(args, argv):
    """Score a reproduction's baselines on the test classes with the offsets (rule 2)."""
    from research.ensemble import write_test_entry
    from research.reproduce.experiments import _report_dict
    from research.reproduce.features import class_ids, load_features
    from research.reproduce.paper import K_SHOT_SETTINGS, SETTINGS
    from sklearn_hallu.model_selection import few_shot_report

    run = Path(args.run)
    ref = json.loads((run / "results.json").read_text())
    cfg = ref["config"]
    if cfg.get("embedding_norm") != "centered_l2":
        raise SystemExit(f"--run {run}: its models predict with embedding_norm="
                         f"{cfg.get('embedding_norm')!r}; this stage scores centred-L2 runs")
    feats = load_features(args.data_home, None, quick=bool(ref.get("quick")),
                          logmel={"n_fft": cfg["logmel"]["n_fft"]})
    ids, y = class_ids(feats["dataset"], cfg), feats["target"]
    X = feats["X"].astype(np.float32, copy=False)
    test, train = np.isin(y, ids["test"]), np.isin(y, list(ids["train"]))
    n_tta = cfg.get("test_time_shifts", 1)
    per_seed = []
    for seed in args.seeds if args.seeds else ref["seeds"]:
        model = joblib.load(run / "models" / f"baseline_seed{seed}.joblib")
        if isinstance(model, Pipeline):
            raise SystemExit(f"{run}: baseline_seed{seed} is a Pipeline; baselines only")
        raw = copy.deepcopy(model).set_params(embedding_norm=None)
        centre = offset_embeddings(raw, X[train], n_tta, args.offsets).mean(axis=0)
        emb = unit_centred(offset_embeddings(raw, X[test], n_tta, args.offsets), centre)
        reports = [few_shot_report(model, X[test], y[test], settings=s, protocol="paper",
                                   n_repeats=cfg["repeats"], random_state=seed,
                                   embeddings=emb) for s in (SETTINGS, K_SHOT_SETTINGS)]
        log(f"seed {seed}, offsets ±{args.offsets}:\n{reports[0]}")
        per_seed.append({"seed": seed, "test": _report_dict(reports[0]),
                         "k_shot": _report_dict(reports[1])})
    write_test_entry(args.out, ref, {**cfg, "mel_offsets": args.offsets},
                     f"baseline_offsets{args.offsets}", per_seed,
                     command_line("research.freq_tta", argv))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m research.freq_tta",
                                description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="stage", required=True)
    s = sub.add_parser("screen", help="offsets against the time shifts alone, validation "
                       "and probe classes")
    s.add_argument("--out", required=True)
    s.add_argument("--models", nargs="+", required=True,
                   help="lever run folders holding models/ and runs/")
    s.add_argument("--variant", default="base_ref")
    s.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4, 5])
    s.add_argument("--offsets", nargs="+", type=int, default=[1],
                   help="largest offset in mel rows of each range scored (-d..+d)")
    s.add_argument("--tta", nargs="+", type=int, default=[8])
    s.add_argument("--passes", type=int, default=10)
    s.add_argument("--data-home", default=None)
    s.add_argument("--features-cache", default=None, help="an .npz of ESC-50's log-mel as "
                   "`reproduce --features-cache` writes it, read instead of the audio files")
    s.add_argument("--name", default="screen")
    t = sub.add_parser("test", help="one look at the test classes (rule 2): a reproduction's "
                       "baselines with the offsets")
    t.add_argument("--run", required=True, help="a reproduction folder (results.json, models/)")
    t.add_argument("--offsets", type=int, default=1,
                   help="largest offset in mel rows (-d..+d; 0: the run's own prediction)")
    t.add_argument("--seeds", nargs="+", type=int, default=None, help="default: the run's")
    t.add_argument("--out", required=True)
    t.add_argument("--data-home", default=None)
    r = sub.add_parser("render", help="write a screen's NAME.md again from NAME.json")
    r.add_argument("paths", nargs="+")
    args = p.parse_args(argv)
    if args.stage == "render":
        return rewrite_tables(args.paths, "rows", screen_markdown, "research.freq_tta screen")
    if args.stage == "test":
        if args.offsets < 0:
            p.error(f"--offsets is the largest offset in mel rows (>= 0); got {args.offsets}")
        return test_stage(args, argv)
    bad = [d for d in args.offsets if d < 1]
    if bad:
        p.error(f"--offsets are the largest offsets in mel rows, each at least 1; got {bad}")
    screen(args, argv)


if __name__ == "__main__":
    main()
