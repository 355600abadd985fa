"""The ``run`` stage: train (or load) every model of every seed, test, and report.

Seeds outside, models inside, so that an interrupted run keeps whole seeds of
every model. The protocol (after Chou et al. 2019 and the paper;
docs/results.rst describes it): the 35/5/10 class split; 128-mel log-mel
spectrograms (16 kHz, hop 502, fmax 8 kHz); the models trained with the same
recipe and the same number of steps; the best epoch chosen on the 5 validation
classes; tests on the 10 test classes with the paper's protocol (every test
clip a query once, supports from the rest, 50 passes) in 5/10-way 1/5-shot.
``--dataset kaggle18``: the same on FSDKaggle2018 curated as in the paper (2 s
around the peak, hop 201; docs/kaggle18.rst), its 26/5/10 split, and the paper's
Kaggle18 recipe (60 epochs, lr / 10 every 30).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from sklearn_hallu.classifier import recipe_params

from . import COMMAND
from .experiments import evaluate_model, fit_or_load, sweep_split, untrained_floor
from .features import class_ids, load_features, log
from .paper import DATASET_PAPER_TABLES
from .report import git_commit, machine_info, write_outputs
from .summary import model_entry

__all__ = ["run", "RECIPES", "PRESETS", "COMMAND"]

#: Training recipes: (epochs, episodes per epoch, epochs per learning-rate step).
#: "paper": Chou et al.'s 60 epochs, lr / 10 every 20 (one pass over the training clips
#: per epoch, 28 episodes). "cpu": 21 epochs of 30 episodes, lr / 10 every 7 (630 steps,
#: drops at 1/3 and 2/3, as the reference recipe; the default until 0.2's long recipe).
#: "long" (default): the same with 3x the epochs and steps per lr drop (1890 steps),
#: chosen on the validation classes: research/variants.py variant base_3x_steps,
#: +2.3 +/- 1.5 (5w1s) and +1.0 +/- 1.6 (5w5s) over "cpu", 2 seeds, paired episodes.
#: "paper_kaggle18": the paper's Kaggle18 recipe, 60 epochs, lr / 10 every 30 (one pass
#: over the training clips per epoch, as "paper"); the default with ``--dataset kaggle18``.
#: "long2x": "long" twice as long, 126 epochs, lr / 10 every 42 (research/results/long2x/).
#: The lengths are the library's (sklearn_hallu.classifier.recipe_params), held once there.
RECIPES = {name: tuple(recipe_params(name)[k] for k in ("max_epochs", "n_episodes", "lr_step"))
           for name in ("paper", "cpu", "long", "paper_kaggle18", "long2x")}
#: Named presets: a training recipe of RECIPES and prediction settings on top of it (a
#: setting given on the command line wins). "long_tta8": the long recipe, each clip's
#: embedding the mean over 8 circular time shifts (research/results/levers/RULES_tta.md,
#: chosen on the validation classes; the closest to issue 23's target so far).
#: "long_tpool_tta8": the same with the last block unpooled along time (``time_pool=(4, 4,
#: 1)``; research/results/time_pool/: level with "long_tta8" on the test classes within
#: noise). "long2x_tpool_tta8": the same trained as "long2x" (research/results/long2x/
#: RULES_splits.md: ahead of the default on the test classes and on three other class
#: splits). "long2x_tpool_tta8_prop": that, predicting with the transductive
#: embedding_norm="batch_propagated_l2" (research/results/long2x/RULES_propagate.md; the
#: preset's norm wins over --embedding-norm); "long2x_tpool_tta8_lp" the same classified by
#: label propagation (embedding_norm="batch_label_propagated_l2", RULES_label_prop.md).
#: sklearn_hallu.classifier.recipe_params gives
#: each preset's classifier settings.
PRESETS = {"long_tta8": ("long", {"test_time_shifts": 8}),
           "long_tpool_tta8": ("long", {"test_time_shifts": 8, "time_pool": [4, 4, 1]}),
           "long2x_tpool_tta8": ("long2x", {"test_time_shifts": 8, "time_pool": [4, 4, 1]}),
           "long2x_tpool_tta8_prop": ("long2x", {"test_time_shifts": 8, "time_pool": [4, 4, 1],
                                                 "embedding_norm": "batch_propagated_l2"}),
           "long2x_tpool_tta8_lp": ("long2x", {"test_time_shifts": 8, "time_pool": [4, 4, 1],
                                               "embedding_norm": "batch_label_propagated_l2"})}
#: The recipe of each dataset when ``--recipe`` is not given.
DEFAULT_RECIPES = {"esc50": "long", "kaggle18": "paper_kaggle18"}


def _config(args):
    """The run's settings from the arguments (``--quick`` changes the defaults)."""
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    quick = args.quick
    dataset = getattr(args, "dataset", "esc50")
    name = "quick" if quick else (args.recipe or DEFAULT_RECIPES[dataset])
    name, preset = PRESETS.get(name, (name, {}))
    recipe = {"quick": (2, 3, 1), **RECIPES}[name]
    return {
        "recipe": name,
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
        **_with_preset(preset, _training_extras(args), args),
        "val_episodes": 20 if quick else args.val_episodes,
        "repeats": args.repeats if args.repeats is not None else (2 if quick else 50),
        "device": device,
        "verbose": 1,
    }


def _with_preset(preset, extras, args):
    """The preset's settings under the ones given: an explicit ``--test-time-shifts 1``
    undoes a preset's shifts (1 is the default, so it is not recorded)."""
    out = {**preset, **extras}
    if getattr(args, "test_time_shifts", None) == 1:
        out.pop("test_time_shifts", None)
    return out


def _training_extras(args):
    """Settings added after the first runs: recorded only when not at their default, so
    that the recipe keys of models saved before them stay the same (they are reused)."""
    extras = {}
    spec = getattr(args, "spec_augment", None)
    if spec:
        try:
            nf, wf, nt, wt = (int(v) for v in spec.split(","))
        except ValueError:
            raise SystemExit(f"--spec-augment {spec!r}: give four integers NF,WF,NT,WT, "
                             "e.g. 2,16,2,16") from None
        extras["spec_augment"] = {"freq": [nf, wf], "time": [nt, wt]}
    if getattr(args, "pretrain_epochs", 0):
        extras["pretrain_epochs"] = args.pretrain_epochs
    for key, example in (("time_pool", "4,4,1"), ("freq_pool", "4,4,2")):
        value = getattr(args, key, None)
        if value:
            try:
                extras[key] = [int(v) for v in value.split(",")]
            except ValueError:
                raise SystemExit(f"--{key.replace('_', '-')} {value!r}: give one integer "
                                 f"per conv block, e.g. {example}") from None
    if getattr(args, "checkpoint", "best") != "best":
        extras["checkpoint"] = args.checkpoint
    if getattr(args, "test_time_shifts", None) not in (None, 1):
        extras["test_time_shifts"] = args.test_time_shifts
    if getattr(args, "class_split", 0):
        extras["class_split"] = args.class_split
    return extras


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
                          logmel={"n_fft": args.n_fft}, dataset=args.dataset)
    data = feats.pop("dataset")  # class split and names; what the config records (Kaggle18)
    cfg.update(data["config"])
    stored = str(feats["X"].dtype)  # a cache may hold them rounded (float16 to travel)
    feats["X"] = feats["X"].astype(np.float32, copy=False)
    cfg["logmel"] = feats.pop("logmel")
    cfg["n_mels"], cfg["n_frames"] = (int(n) for n in feats["X"].shape[-2:])
    ids, y = class_ids(data, cfg), feats["target"]  # or another draw of ESC-50's split
    missing = sorted(set(np.concatenate([ids[k] for k in ids]).tolist()) - set(y.tolist()))
    if missing:  # e.g. the lever runs' cache, which holds no test class
        raise SystemExit(f"--features-cache {args.features_cache}: no clip of class(es) "
                         f"{missing}, which this split needs. Give a cache written by "
                         "`python -m research.reproduce` itself, or leave the option out.")
    split = {part: np.isin(y, ids[part]) for part in ("train", "validation", "test")}
    trval = split["train"] | split["validation"]
    cfg["val_classes"] = list(ids["validation"])
    results = {"config": dict(cfg), "models": {}, "sweep": None, "dataset": args.dataset,
               "paper": DATASET_PAPER_TABLES[args.dataset],
               "command": COMMAND + " " + " ".join(sys.argv[1:]),
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
            model, trained_at = fit_or_load(
                kind, cfg, seed, split_hz, feats["X"][trval], y[trval],
                out / "models" / f"{kind}_seed{seed}.joblib", stage=args.stage,
                timings=timings, tag=tag, resume=not args.restart)
            entry = evaluate_model(model, kind, Xte, yte, cfg, seed, timings=timings,
                                   tag=tag, quick=args.quick, class_names=data["class_names"])
            per_seed[kind].append({**entry, "trained_at": trained_at})
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
