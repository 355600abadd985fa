"""Reproduce HalluAudio's ESC-50 tables (1 and 2) and Figures 3 and 4 with one command.

Run ``python -m sklearn_hallu.apps.reproduce --help`` (or ``sklearn-hallu reproduce``).

The protocol (after Chou et al. 2019 and the paper; docs/results.rst describes
it): the 35/5/10 class split; 128-mel log-mel spectrograms (16 kHz, hop 502,
fmax 8 kHz); three models trained with the same recipe and the same number of
steps (baseline: whole spectrogram; HalluAudio: whole + low + high band; time
concept: whole + first half + second half); the best epoch chosen on the 5
validation classes; tests on the 10 test classes with the paper's protocol
(every test clip a query once, supports from the rest, 50 passes) in 5/10-way
1/5-shot. The work is done by ``_features`` (log-mel), ``_experiments``
(models), ``_summary`` (across seeds), ``_report`` (tables and figures) and
``_merge`` (``--stage merge``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .. import FrequencyMaskTransformer, LogMelTransformer
from ..datasets import esc50_class_split
from ..utils import tune_cpu_allocator
from ._experiments import (
    evaluate_model,
    fit_or_load,
    sweep_split,
    untrained_floor,
)
from ._features import load_features, log
from ._paper import PAPER_TABLES, SETTING_NAMES, SETTINGS
from ._report import git_commit, machine_info, write_outputs
from ._summary import model_entry

__all__ = ["main", "run", "dispatch", "build_parser", "PAPER_TABLES", "SETTINGS", "SETTING_NAMES"]


#: Training recipes: (epochs, episodes per epoch, epochs per learning-rate step).
#: "paper": Chou et al.'s 60 epochs, lr / 10 every 20 (one pass over the training clips
#: per epoch, 28 episodes). "cpu": 21 epochs of 30 episodes, lr / 10 every 7 (630 steps,
#: drops at 1/3 and 2/3, as the reference recipe; the default until 0.2's long recipe).
#: "long" (default): the same with 3x the epochs and steps per lr drop (1890 steps),
#: chosen on the validation classes: benchmarks/ablation.py variant base_3x_steps,
#: +2.3 +/- 1.5 (5w1s) and +1.0 +/- 1.6 (5w5s) over "cpu", 2 seeds, paired episodes.
RECIPES = {"paper": (60, None, 20), "cpu": (21, 30, 7), "long": (63, 30, 21)}


def _config(args):
    """The run's settings from the arguments (``--quick`` changes the defaults)."""
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    quick = args.quick
    recipe = {"quick": (2, 3, 1), **RECIPES}["quick" if quick else args.recipe]
    return {
        "recipe": "quick" if quick else args.recipe,
        "epochs": args.epochs if args.epochs is not None else recipe[0],
        "episodes": args.episodes if args.episodes is not None else recipe[1],
        "lr_step": args.lr_step if args.lr_step is not None else recipe[2],
        "channels": [int(c) for c in args.channels.split(",")] if args.channels
        else ([8, 8, 8] if quick else [64, 64, 64]),
        "pooling": args.pooling,
        "time_shift": not args.no_time_shift,
        "time_shift_per": args.time_shift_per,
        "mask_fill": args.mask_fill,
        "per_view_weight": args.per_view_weight,
        "embedding_norm": None if args.embedding_norm == "none" else args.embedding_norm,
        "train_way": args.train_way,
        "crop_views": args.crop_views,
        "val_episodes": 20 if quick else args.val_episodes,
        "repeats": args.repeats if args.repeats is not None else (2 if quick else 50),
        "device": device,
        "verbose": 1,
    }


def _choose_split(args, feats, split, cfg, results):
    """``--split-hz``, else the best of ``--sweep`` on the validation classes, else 2000."""
    split_hz = args.split_hz
    if args.sweep:
        t0 = time.perf_counter()
        sweep_cfg = dict(cfg, epochs=args.sweep_epochs or cfg["epochs"])
        results["sweep"] = sweep_split(feats, split, sweep_cfg, args.sweep, args.seeds[0])
        results["timings_s"]["sweep"] = time.perf_counter() - t0
        if split_hz is None:
            best = max(results["sweep"], key=lambda r: r["5-way 1-shot"] + r["5-way 5-shot"])
            split_hz = best["split_hz"]
            log(f"sweep: chose split_hz={split_hz:g} on the validation classes")
    return 2000.0 if split_hz is None else split_hz


def _peak_rss_gib():
    """Peak resident memory of this process so far, in GiB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run(args):
    """Run the reproduction and write its outputs into ``args.out``.

    Seeds outside, models inside: an interrupted run keeps whole seeds of every
    model, and the outputs are rewritten after every model.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`build_parser`.

    Returns
    -------
    results : dict
        Settings, per-model results, sweep, timings (as in results.json).
    """
    t_start = time.perf_counter()
    out = Path(args.out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    cfg = _config(args)
    feats = load_features(args.data_home, args.features_cache, quick=args.quick,
                          logmel={"n_fft": args.n_fft})
    stored = str(feats["X"].dtype)  # a cache may hold them rounded (float16 to travel)
    feats["X"] = feats["X"].astype(np.float32, copy=False)
    cfg["logmel"] = feats.pop("logmel")
    cfg["n_mels"], cfg["n_frames"] = (int(n) for n in feats["X"].shape[-2:])
    ids, y = esc50_class_split(), feats["target"]
    split = {part: np.isin(y, ids[part]) for part in ("train", "validation", "test")}
    trval = split["train"] | split["validation"]
    cfg["val_classes"] = list(ids["validation"])
    results = {"config": dict(cfg), "models": {}, "sweep": None, "paper": PAPER_TABLES,
               "command": "python -m sklearn_hallu.apps.reproduce " + " ".join(sys.argv[1:]),
               "machine": machine_info(cfg["device"]), "commit": git_commit(),
               "quick": args.quick, "seeds": args.seeds, "timings_s": {},
               "features_stored_as": stored}
    split_hz = results["config"]["split_hz"] = _choose_split(args, feats, split, cfg, results)
    Xte, yte = feats["X"][split["test"]], y[split["test"]]
    timings = results["timings_s"]
    per_seed, floors = {k: [] for k in args.models}, {k: [] for k in args.models}
    for seed in args.seeds:
        for i, kind in enumerate(args.models, 1):
            tag = f"[seed {seed}, {i}/{len(args.models)}] {kind}"
            model = fit_or_load(kind, cfg, seed, split_hz, feats["X"][trval], y[trval],
                                out / "models" / f"{kind}_seed{seed}.joblib",
                                stage=args.stage, timings=timings, tag=tag,
                                resume=not args.restart)
            per_seed[kind].append(evaluate_model(model, kind, Xte, yte, cfg, seed,
                                                 timings=timings, tag=tag, quick=args.quick))
            if args.floor:
                floors[kind].append(untrained_floor(kind, cfg, seed, split_hz,
                                                    feats["X"][trval], y[trval], Xte, yte))
            results["models"][kind] = model_entry(
                per_seed[kind], per_seed.get("baseline") if kind != "baseline" else None,
                floors[kind])
            timings["total"] = time.perf_counter() - t_start
            results["peak_rss_gib"] = _peak_rss_gib()
            write_outputs(results, out)  # partial results survive an interrupted run
        # features to this seed's last report: one seed of every model is this number
        timings[f"seed{seed}_done_since_start"] = time.perf_counter() - t_start
    timings["total"] = time.perf_counter() - t_start
    results["peak_rss_gib"] = _peak_rss_gib()
    write_outputs(results, out)
    log(f"done in {timings['total'] / 60:.1f} min; results in {out}")
    return results


def build_parser(parser=None):
    """The reproduction's options, added to ``parser`` (or a new parser).

    Parameters
    ----------
    parser : argparse.ArgumentParser or None, default=None
        A parser to fill, e.g. the ``reproduce`` sub-command of ``sklearn-hallu``.

    Returns
    -------
    argparse.ArgumentParser
        The filled parser.
    """
    p = parser or argparse.ArgumentParser(
        prog="python -m sklearn_hallu.apps.reproduce",
        description="Reproduce HalluAudio's ESC-50 results (Tables 1 and 2, Figures 3 and 4).")
    p.add_argument("--data-home", default=None,
                   help="ESC-50 folder (or its parent); default: $SKLEARN_HALLU_ESC50, then "
                        "the data home; downloaded when absent")
    p.add_argument("--out", default="results/reproduce", help="output folder")
    p.add_argument("--device", default="auto", help="cpu, cuda, or auto (default)")
    p.add_argument("--quick", action="store_true",
                   help="tiny budget, 12 clips per class: checks the harness end to end")
    p.add_argument("--models", nargs="*", default=["baseline", "halluaudio", "time_concept"],
                   choices=["baseline", "halluaudio", "time_concept", "halluaudio_crop"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--recipe", default="long", choices=sorted(RECIPES),
                   help="training length: 'long' 63 epochs x 30 episodes, lr/10 every 21 "
                        "(default); 'cpu' 21 x 30, lr/10 every 7; 'paper' 60 epochs x one "
                        "pass, lr/10 every 20")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    p.add_argument("--episodes", type=int, default=None,
                   help="override the recipe's episodes per epoch")
    p.add_argument("--lr-step", type=int, default=None,
                   help="override the recipe's epochs per learning-rate step")
    p.add_argument("--n-fft", type=int, default=LogMelTransformer().n_fft,
                   help="FFT size of the log-mel features (default: LogMelTransformer's)")
    p.add_argument("--mask-fill", default=FrequencyMaskTransformer().fill,
                   type=lambda v: v if v in ("min", "nan") else float(v),
                   help="masked cells: 'nan' (read as the training mean), 'min' (each "
                        "clip's minimum) or a number (default: FrequencyMaskTransformer's)")
    p.add_argument("--time-shift-per", default="clip", choices=["clip", "episode"],
                   help="one random time shift per clip (default) or per episode")
    p.add_argument("--restart", action="store_true",
                   help="retrain every model, even those a previous run finished")
    p.add_argument("--channels", default=None,
                   help="backbone widths, e.g. 128,256,384 (Chou); default 64,64,64")
    p.add_argument("--pooling", default="time_mean", choices=["time_mean", "flatten"],
                   help="backbone output pooling (default time_mean)")
    p.add_argument("--split-hz", type=float, default=None,
                   help="HalluAudio split; default: best of --sweep on validation, else 2000")
    p.add_argument("--sweep", nargs="*", type=float, default=None,
                   help="split frequencies (Hz) to compare on the validation classes")
    p.add_argument("--sweep-epochs", type=int, default=None)
    p.add_argument("--no-time-shift", action="store_true", help="no time-shift augmentation")
    p.add_argument("--per-view-weight", type=float, default=1.0,
                   help="weight of each view's own loss in the multi-view models (0: the "
                        "paper's loss; runs before 2026-11-26 used 0)")
    p.add_argument("--embedding-norm", default="centered_l2", choices=["centered_l2", "none"],
                   help="how test episodes compare embeddings: centred on the training clips' "
                        "mean and L2-normalised per view (default, chosen on validation: "
                        "benchmarks/embedding_norm.py), or raw (the paper's; runs before "
                        "2026-11-27 used none). Saved models are reused under either")
    p.add_argument("--train-way", type=int, default=5,
                   help="classes per training episode (5-shot, 5 queries each; default 5, "
                        "the test episodes' way); validation and test keep their own")
    p.add_argument("--crop-views", action="store_true",
                   help="feed band views only their own rows (a model variant)")
    p.add_argument("--val-episodes", type=int, default=300)
    p.add_argument("--repeats", type=int, default=None, help="test passes; default 50 (paper)")
    p.add_argument("--floor", action="store_true",
                   help="also test each architecture untrained (the floor)")
    p.add_argument("--features-cache", default=None,
                   help=".npz file of log-mel features: read if present, else written")
    p.add_argument("--stage", default="all", choices=["all", "test", "report", "merge"],
                   help="'test' loads the models saved in OUT/models instead of training; "
                        "'report' only rewrites results.md and the figures from "
                        "OUT/results.json (no features, no models); 'merge' joins the "
                        "runs of --merge (other seeds, same settings) into OUT")
    p.add_argument("--merge", nargs="+", default=None, metavar="FOLDER",
                   help="with --stage merge: output folders of reproductions of the same "
                        "settings and different seeds (e.g. one per machine or process)")
    return p


def rerender(out):
    """Rewrite ``results.md`` and the figures of ``out`` from its ``results.json``.

    The tables are a function of the per-clip results that ``results.json``
    holds, so a newer report (e.g. a new paired comparison) can be drawn from
    a finished run without training or testing again. The commit that drew it
    is recorded beside the run's own.

    Parameters
    ----------
    out : str or pathlib.Path
        A reproduction's output folder.

    Returns
    -------
    results : dict
        The results, with ``rendered_by`` (commit and command) added.
    """
    path = Path(out) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"--stage report needs a finished run's results.json; {path} does not exist. "
            "Run the reproduction into this --out folder first.")
    results = json.loads(path.read_text())
    results["rendered_by"] = {"commit": git_commit(), "command": "python -m "
                              "sklearn_hallu.apps.reproduce " + " ".join(sys.argv[1:])}
    write_outputs(results, out)
    log(f"report rewritten from {path}")
    return results


def dispatch(args):
    """Do what ``args.stage`` asks: run (train and/or test), redraw the report, or merge.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`build_parser`.

    Returns
    -------
    results : dict
        As written to ``args.out``/results.json.
    """
    if args.merge and args.stage != "merge":
        raise ValueError(f"--merge given with --stage {args.stage}; add --stage merge to "
                         "join those runs into --out.")
    if args.stage == "merge":
        if not args.merge:
            raise ValueError("--stage merge needs --merge FOLDER FOLDER ...: the output "
                             "folders of the runs to join.")
        chosen = [f"--{k}" for k in ("seeds", "models", "quick")
                  if getattr(args, k) != build_parser().get_default(k)]
        if chosen:  # merge takes every seed and model of the runs as they are
            raise ValueError(f"--stage merge joins every seed and model of the --merge runs; "
                             f"{', '.join(chosen)} would be ignored. Leave "
                             f"{'it' if len(chosen) == 1 else 'them'} out.")
        from ._merge import merge_runs

        return merge_runs(args.merge, args.out)
    if args.stage == "report":
        return rerender(args.out)
    return run(args)


def main(argv=None):
    """Run the reproduction with command-line arguments ``argv``; return the exit code."""
    args = build_parser().parse_args(argv)
    tune_cpu_allocator()
    dispatch(args)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
