"""Transfer: models trained on ESC-50's base classes against the same networks untrained.

A reproduction run (``python -m research.reproduce ... --out RUN``) leaves its trained
models in ``RUN/models``. For each of them and each off-domain task (a folder with one
sub-folder of audio clips per class, made by :mod:`research.transfer.data`), this study
tests the trained model and its untrained twin (the same architecture, the same seed's
initial weights, the same centring statistics from ESC-50's base clips; only the
episodic training is missing) on the same clips and the same episodes of the paper's
protocol, and reports the paired gain with its interval over the clips::

    python -m research.transfer.study --run docs/results/RUN \\
        --tasks /path/spoken_words /path/instruments --out research/results/transfer/NAME

``--centre task`` takes the embedding centre from the task's own clips (all of them,
unlabelled) for both networks, through the library's
``embedding_norm="batch_centered_l2"``: what a user gets who classifies the task's clips
in one call with that option.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import joblib
import numpy as np

from research._cli import command_line
from sklearn_hallu import LogMelTransformer, final_estimator
from sklearn_hallu.model_selection import few_shot_report, paired_clip_gain

from ..reproduce.experiments import _with_embedding_norm, reproduce_model
from ..reproduce.features import class_ids, load_features, log

__all__ = ["task_clips", "task_features", "run_models", "untrained_twin", "compare",
           "markdown", "main"]

SETTINGS = ((5, 1), (5, 5))
AUDIO = (".wav", ".flac", ".ogg", ".mp3")


def task_clips(folder):
    """The audio files of a task folder (one sub-folder per class) and their labels.

    Parameters
    ----------
    folder : str or Path
        The task's folder.

    Returns
    -------
    paths : list of str
        Sorted by class, then file name.
    labels : ndarray of str
        The sub-folder of each file.
    """
    folder = Path(folder)
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    paths, labels = [], []
    for c in classes:
        files = sorted(f for f in c.iterdir() if f.suffix.lower() in AUDIO)
        paths += [str(f) for f in files]
        labels += [c.name] * len(files)
    if len(set(labels)) < 5:
        raise ValueError(f"{folder}: {len(set(labels))} class folders with audio; a 5-way "
                         "task needs at least 5 (make one with python -m "
                         "research.transfer.data).")
    return paths, np.asarray(labels)


def task_features(folder, logmel, cache_dir):
    """Log-mel of a task's clips with the run's transformer settings, cached as .npz."""
    paths, labels = task_clips(folder)
    key = json.dumps({"paths": paths, "logmel": logmel}, sort_keys=True, default=str)
    cache = Path(cache_dir) / f"{Path(folder).name}.npz"
    if cache.is_file():
        got = np.load(cache)
        if str(got["key"]) == key:
            return got["X"], labels
    params = {k: v for k, v in logmel.items() if k in LogMelTransformer().get_params()}
    t0 = time.perf_counter()
    X = LogMelTransformer(**params).fit_transform(paths)
    log(f"{Path(folder).name}: log-mel of {len(paths)} clips in {time.perf_counter() - t0:.1f} s")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, key=np.asarray(key), X=X)
    return X, labels


def run_models(run_dir, kinds=None):
    """The run's settings and its saved models as ``(kind, seed, path)``; for a merged run
    (``reproduce --stage merge``), the models of the runs it was merged from."""
    run_dir = Path(run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    dirs = [Path(m["out"]) for m in results.get("merged_from") or []] or [run_dir]
    found = []
    for path in sorted(p for d in dirs for p in (d / "models").glob("*_seed*.joblib")):
        kind, seed = path.stem.rsplit("_seed", 1)
        if kinds is None or kind in kinds:
            found.append((kind, int(seed), path))
    found.sort(key=lambda m: (m[0], m[1]))
    if not found:
        raise FileNotFoundError(f"no models in {run_dir / 'models'}: train them with "
                                "python -m research.reproduce --out " + str(run_dir))
    return results, found


def _report(model, X, y, seed, repeats):
    rep = few_shot_report(model, X, y, settings=SETTINGS, protocol="paper",
                          n_repeats=repeats, random_state=seed)
    return {r["setting"]: {"accuracy": r["accuracy"], "per_clip": np.asarray(r["per_clip"])}
            for r in rep.rows}


def untrained_twin(kind, cfg, seed, X, y):
    """A run's model of ``kind`` and ``seed`` rebuilt and fitted on ``(X, y)`` without
    training: the seed's initial weights, the centre from those clips."""
    twin = reproduce_model(kind, cfg, seed, cfg["split_hz"], validation=False)
    twin.set_params(**{("clf__" if kind != "baseline" else "") + "train_backbone": False})
    return twin.fit(X, y)


def compare(kind, seed, path, cfg, base, tasks, *, repeats, centre):
    """Trained model and untrained twin on each task: ``{task: {setting: {...}}}``."""
    trained = _with_embedding_norm(joblib.load(path), cfg, base["X"], base["y"])
    untrained = untrained_twin(kind, cfg, seed, base["X"], base["y"])
    if centre == "task":  # each embed() call centres the task's clips on their own mean
        for m in (trained, untrained):
            final_estimator(m).set_params(embedding_norm="batch_centered_l2")
    out = {}
    for name, (X, y) in tasks.items():
        t, u = _report(trained, X, y, seed, repeats), _report(untrained, X, y, seed, repeats)
        out[name] = {s: {"trained": t[s]["accuracy"], "untrained": u[s]["accuracy"],
                         "trained_per_clip": t[s]["per_clip"],
                         "untrained_per_clip": u[s]["per_clip"]} for s in t}
        log(f"{kind} seed {seed} on {name}: " + ", ".join(
            f"{s} {v['trained']:.2f} vs untrained {v['untrained']:.2f}"
            for s, v in out[name].items()))
    return out


def summarise(per_model):
    """Pool the seeds of each kind: paired gain (trained - untrained) per task and setting."""
    summary = {}
    for kind, seeds in per_model.items():
        for task in next(iter(seeds.values())):
            for setting in next(iter(seeds.values()))[task]:
                rows = [seeds[s][task][setting] for s in sorted(seeds)]
                gain = paired_clip_gain([(r["trained_per_clip"], r["untrained_per_clip"])
                                         for r in rows])
                summary.setdefault(kind, {}).setdefault(task, {})[setting] = {
                    "seeds": sorted(seeds),
                    "trained": float(np.mean([r["trained"] for r in rows])),
                    "untrained": float(np.mean([r["untrained"] for r in rows])),
                    **{k: (np.asarray(v).tolist() if k == "per_seed" else v)
                       for k, v in gain.items()}}
    return summary


def markdown(summary, command, notes=()):
    lines = ["# Transfer: trained on ESC-50's base classes vs the same network untrained", "",
             f"Command: `{command}`", "",
             "Paper protocol on each task (every clip a query once per pass, the same "
             "episodes for both networks of a seed). Gain: trained minus untrained, points, "
             "± 95% CI over the clips (seeds averaged per clip) and over the seeds.", "",
             "| model | task | setting | seeds | trained | untrained | gain | CI clips "
             "| CI seeds | per seed |", "|---|---|---|---|---|---|---|---|---|---|"]
    for kind, tasks in summary.items():
        for task, settings in tasks.items():
            for setting, r in settings.items():
                per = ", ".join(f"{g:+.1f}" for g in r["per_seed"])
                lines.append(
                    f"| {kind} | {task} | {setting} | {len(r['seeds'])} | {r['trained']:.2f} "
                    f"| {r['untrained']:.2f} | {r['gain']:+.2f} | ±{r['ci95_clips']:.2f} "
                    f"| ±{r['ci95_seeds']:.2f} | {per} |")
    return "\n".join(lines + ([""] + list(notes) if notes else [])) + "\n"


def _json_ready(obj):
    if isinstance(obj, dict):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def build_parser():
    p = argparse.ArgumentParser(prog="python -m research.transfer.study",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a reproduction output folder (models/)")
    p.add_argument("--tasks", nargs="+", required=True, help="task folders")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--data-home", default=None, help="ESC-50 (default: $SKLEARN_HALLU_ESC50)")
    p.add_argument("--kinds", nargs="+", default=None, help="model kinds (default: all)")
    p.add_argument("--repeats", type=int, default=20, help="passes of the paper protocol")
    p.add_argument("--centre", choices=["train", "task"], default="train",
                   help="embedding centre from ESC-50's base clips (the default) or from "
                        "the task's clips (embedding_norm='batch_centered_l2')")
    return p


def main(argv=None):

    args = build_parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, models = run_models(args.run, args.kinds)
    cfg = dict(results["config"])
    feats = load_features(args.data_home, None, quick=bool(results.get("quick")),
                          logmel={"n_fft": cfg["logmel"]["n_fft"]})
    ids = class_ids(feats["dataset"], cfg)
    trval = np.isin(feats["target"], list(ids["train"]) + list(ids["validation"]))
    base = {"X": feats["X"][trval].astype(np.float32), "y": feats["target"][trval]}
    tasks = {Path(t).name: task_features(t, cfg["logmel"], out / "features") for t in args.tasks}
    per_model = {}
    for kind, seed, path in models:
        per_model.setdefault(kind, {})[seed] = compare(
            kind, seed, path, cfg, base, tasks, repeats=args.repeats, centre=args.centre)
    summary = summarise(per_model)
    command = command_line("research.transfer.study", argv)
    record = {"command": command, "run": str(args.run), "centre": args.centre,
              "repeats": args.repeats, "run_commit": results.get("commit"),
              "tasks": {k: {"clips": len(v[1]), "classes": len(set(v[1]))}
                        for k, v in tasks.items()},
              "summary": summary, "per_model": per_model}
    (out / "transfer.json").write_text(json.dumps(_json_ready(record), indent=1))
    (out / "transfer.md").write_text(markdown(summary, command))
    log(f"wrote {out / 'transfer.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
