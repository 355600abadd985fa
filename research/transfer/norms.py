"""Prediction norms off-domain on a reproduction run's models: trained against untrained.

:mod:`research.transfer.layers` scores the norms of its ``NORMS`` (centred-L2, whitened,
on the batch...) on an ablation run's models, trained on 30 classes. This study does the
same for the models a reproduction run trained (``python -m research.reproduce --out
RUN``: the library's default, on all 35 training classes), each against its untrained
twin (the same seed's initial weights, fitted without training, as
:mod:`research.transfer.study` builds it). Only the off-domain tasks are scored, so
ESC-50's test classes are not read. The base clips, the source of the centre and the
whitening, are the run's training classes without its validation classes::

    python -m research.transfer.norms --run docs/results/RUN --out OUT \\
        --norms centred_l2 batch_whitened_l2 --tta 1 8 \\
        --tasks DATA15/spoken_words DATA15/instruments

Raw embeddings come from the library (``embed`` with ``embedding_norm=None`` and
``test_time_shifts=N``), then each norm and the paper's protocol on the episodes of
:data:`research.transfer.layers.LAYER_SEED` are applied, as ``layers`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import joblib
import numpy as np
from sklearn.pipeline import Pipeline

from research._cli import command_line
from sklearn_hallu import final_estimator

from ..reproduce.features import class_ids, load_features, log
from .layers import NORMS, markdown, per_clip, summarise, summarise_norms
from .study import run_models, task_features, untrained_twin

__all__ = ["raw_embeddings", "as_layers", "load_run", "run_parser", "parse_run_args",
           "networks", "run_record", "main"]

#: the norms that need no per-episode centring (``support_centred_l2`` is left out)
CHOICES = sorted(n for n in NORMS if n != "support_centred_l2")


def raw_embeddings(model, X, shifts):
    """``{"block3": (n_clips, dim)}``: the library's raw embeddings of ``X`` averaged over
    ``shifts`` circular time shifts (the model's own masks first, if it has them)."""
    clf = final_estimator(model)
    clf.set_params(embedding_norm=None, test_time_shifts=int(shifts))
    Xt = model[:-1].transform(X) if isinstance(model, Pipeline) else X
    return {"block3": np.asarray(clf.embed(Xt), dtype=np.float64)}


def as_layers(parts):
    """The one depth as ``layers``' norms read it (they also join the three blocks)."""
    return {"block1": parts["block3"], "block2": parts["block3"], "block3": parts["block3"]}


def score(results, kind, seed, net, model, base_X, tasks, norms, tta, passes):
    """Each task's per-clip accuracies under each norm and shift count into ``results``."""
    for n in tta:
        base = as_layers(raw_embeddings(model, base_X, n))
        for task, (X, y) in tasks.items():
            parts = as_layers(raw_embeddings(model, X, n))
            for norm in norms:
                emb = NORMS[norm](parts, base)["block3"]
                label = norm if n == 1 else f"{norm}+tta{n}"
                for key, pc in per_clip(emb, y, passes).items():
                    results.setdefault(kind, {}).setdefault(
                        (task, label, "block3", key), {}).setdefault(seed, {})[net] = pc


def load_run(run, kinds, task_dirs, out, data_home=None, features_cache=None):
    """What a reading of a reproduction run's models needs: ``(results_json, models, cfg,
    base_X, (X_trval, y_trval), tasks)``. ``base_X``: the run's training classes without
    its validation classes (the source of the centre); ``(X_trval, y_trval)``: training
    and validation clips, on which the untrained twin is fitted; ``tasks``: ``{name: (X,
    y)}`` of each task folder. ESC-50's test classes are dropped before anything is
    embedded."""
    results_json, models = run_models(run, kinds)
    cfg = dict(results_json["config"])
    feats = load_features(data_home, features_cache, quick=bool(results_json.get("quick")),
                          logmel={"n_fft": cfg["logmel"]["n_fft"]})
    ids = class_ids(feats["dataset"], cfg)
    train = np.isin(feats["target"], list(ids["train"]))
    trval = np.isin(feats["target"], list(ids["train"]) + list(ids["validation"]))
    trval_clips = (feats["X"][trval].astype(np.float32), feats["target"][trval])
    base_X = feats["X"][train].astype(np.float32)
    tasks = {Path(t).name: task_features(t, cfg["logmel"], Path(out) / "features")
             for t in task_dirs}
    return results_json, models, cfg, base_X, trval_clips, tasks


def run_parser(prog, doc, name):
    """The parser of a reading of a reproduction run's models, with the arguments every
    such reading takes (``--tta`` and ``--passes`` too); ``name``: ``--name``'s default."""
    p = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a reproduction output folder (models/)")
    p.add_argument("--tasks", nargs="+", required=True, help="task folders")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--name", default=name, help="output stem: NAME.md, NAME.json")
    p.add_argument("--kinds", nargs="+", default=None, help="model kinds (default: all)")
    p.add_argument("--tta", nargs="+", type=int, default=[1])
    p.add_argument("--passes", type=int, default=10)
    p.add_argument("--data-home", default=None, help="ESC-50 (default: $SKLEARN_HALLU_ESC50)")
    p.add_argument("--features-cache", default=None,
                   help="an .npz of ESC-50's log-mel as `reproduce --features-cache` writes it")
    return p


def parse_run_args(p, argv):
    """``p``'s arguments, checked, and the output folder (made)."""
    args = p.parse_args(argv)
    if min(args.tta) < 1:
        p.error(f"--tta: each N must be >= 1 (1: plain), got {args.tta}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return args, out


def networks(models, cfg, trval):
    """``(kind, seed, net, model)`` of each run model, ``net`` "trained" then "untrained"
    (its twin, fitted on ``trval`` = ``(X, y)`` as :mod:`research.transfer.study` does)."""
    for kind, seed, path in models:
        trained = joblib.load(path)
        twin = untrained_twin(kind, cfg, seed, *trval)
        yield kind, seed, "trained", trained
        yield kind, seed, "untrained", twin
        log(f"{kind} seed {seed}: done")


def run_record(command, run, results_json, tasks, rows, **extra):
    """What a reading writes to ``NAME.json``."""
    return {"command": command, "run": str(run), "run_commit": results_json.get("commit"),
            **extra, "tasks": {k: {"clips": len(v[1]), "classes": len(set(v[1]))}
                               for k, v in tasks.items()}, "summary": rows}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = run_parser("python -m research.transfer.norms", __doc__, "norms")
    p.add_argument("--norms", nargs="+", default=["centred_l2", "batch_whitened_l2"],
                   choices=CHOICES)
    p.add_argument("--versus-norm", default=None, metavar="NORM",
                   help="also pair every other norm with NORM on the same network (as "
                        "research.transfer.layers --versus-norm)")
    args, out = parse_run_args(p, argv)
    if args.versus_norm is not None and args.versus_norm not in args.norms:
        p.error(f"--versus-norm {args.versus_norm!r} must be one of --norms {args.norms}")
    results_json, models, cfg, base_X, trval, tasks = load_run(
        args.run, args.kinds, args.tasks, out, args.data_home, args.features_cache)
    results = {}
    for kind, seed, net, model in networks(models, cfg, trval):
        score(results, kind, seed, net, model, base_X, tasks, args.norms, args.tta,
              args.passes)
    rows = summarise(results)
    if args.versus_norm:
        rows += summarise_norms(results, args.versus_norm)
    command = command_line("research.transfer.norms", argv)
    record = run_record(command, args.run, results_json, tasks, rows)
    (out / f"{args.name}.json").write_text(json.dumps(record))
    (out / f"{args.name}.md").write_text(markdown(rows, command))
    print(markdown(rows, command))
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
