"""One factor at a time, from the reference recipe to ours, on ESC-50's VALIDATION classes.

Every variant trains on the 35 training classes (the 5 validation classes held out for
the best-epoch choice, as in the reproduction), then embeds the 200 validation clips and
is scored with the paper's protocol on the SAME episodes for every variant and seed
(paired). The test classes are never read.

    python -m research.ablation run --seeds 0 1 --variants base_ref base_episode_shift
    python -m research.ablation report          # table with paired differences
    python -m research.ablation test --variants base_ref hallu_ref --seeds 0 1

Each finished run is one JSON file under ``--out``/runs (per-clip accuracies included), so an
interrupted ``run`` continues where it stopped. ``report`` writes ``ablation.md`` and ``.json``.

Paired differences: for each validation clip, the variant's accuracy minus the reference's
(each averaged over the passes and the seeds); the CI is 1.96 * std / sqrt(n_clips) over those
clip differences, so 20 passes over the same 200 clips are not counted as 4000 independent
queries. Per-seed differences are listed too.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import joblib
import numpy as np
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback

from research.averaging import WeightAverage
from research.cosine import TrainTemperature
from research.decorrelate import Decorrelation
from research.depth import LowerBlockReconstruction, SlowBlock
from research.distill import EpisodeDistillation
from research.mixup import QueryMixup
from research.projection import ProjectionHead
from research.protomaml import FirstOrderMAML
from research.reproduce.features import load_features, log
from research.reproduce.paper import PAPER_TABLES, SETTING_NAMES
from research.reproduce.paper import SETTINGS as PAPER_SETTINGS
from research.spectral import SpectralAugment
from research.supcon import TwoViewSupCon
from research.transfer.curve import transfer_callbacks
from research.transfer.layers import paper_per_clip
from research.variants import REFERENCE, VARIANTS, reference_of, variant_config
from sklearn_hallu import FrequencyMaskTransformer, HalluAudioClassifier, LogMelTransformer
from sklearn_hallu.datasets import ESC50_CLASS_NAMES, esc50_class_split, fetch_esc50
from sklearn_hallu.model_selection import clip_ci95, paired_clip_gain
from sklearn_hallu.sampling import episodic_accuracy
from sklearn_hallu.utils import tune_cpu_allocator

SETTINGS = ((5, 1), (5, 5))
EPISODE_SEED = 20261126  # the same validation episodes for every variant and seed


def load_data(args):
    """Class ids and a log-mel function of ESC-50 (from ``--features-cache`` where it can)."""
    cached = None
    if args.features_cache:  # as the reproduction writes it (LogMelTransformer's defaults)
        if not Path(args.features_cache).is_file():
            raise SystemExit(f"--features-cache {args.features_cache}: no such file. Write it "
                             "with `python -m research.reproduce --features-cache "
                             f"{args.features_cache} ...`, or leave the option out.")
        cached = load_features(args.data_home, args.features_cache, quick=False)
    data = None if cached is not None else fetch_esc50(args.data_home)
    target = cached["target"] if cached is not None else data.target

    def features(n_fft, keep):
        nonlocal data
        t = time.perf_counter()
        if cached is not None and n_fft == cached["logmel"]["n_fft"]:
            X = cached["X"][keep].astype(np.float32)
        else:
            data = data if data is not None else fetch_esc50(args.data_home)
            X = LogMelTransformer(n_fft=n_fft).transform(list(data.filenames[keep]))
        log(f"log-mel n_fft={n_fft}: {X.shape} in {time.perf_counter() - t:.1f} s")
        return X

    return target, esc50_class_split(), features


def training_clips(data_home, features_cache=None):
    """The ablation's clips (training and validation classes): labels, class split and the
    log-mel function of :func:`load_data`, and the mask of the kept clips over ESC-50."""
    target, split, features = load_data(argparse.Namespace(data_home=data_home,
                                                           features_cache=features_cache))
    keep = np.isin(target, split["train"] + split["validation"])
    return target[keep], split, features, keep


class InitWholeBranch(Callback):
    """At the start of training, copy a trained baseline's backbone into view 0's.

    Both standardise with the whole spectrogram's training mean and std, so the
    copied backbone sees its input as it was trained on.
    """

    def __init__(self, path):
        self.path = str(path)

    def on_train_begin(self, net, **kwargs):
        base = joblib.load(self.path)
        clf = base[-1] if isinstance(base, Pipeline) else base
        net.module_.backbones[0].load_state_dict(clf.net_.module_.backbones[0].state_dict())


#: Seeds the choice of the probe classes among the 35 training classes (``--probe``).
PROBE_SEED = 20261127
#: Checkpoint-selection rules compared on the probe classes (``selection``).
RULES = ("best", "last", "best_after_last_drop", "best_smoothed5", "oracle_probe")


def probe_classes(split, n):
    """``n`` of the training classes held out as a second validation split (fixed seed)."""
    if n <= 0:
        return []
    train = sorted(split["train"])
    return sorted(np.random.RandomState(PROBE_SEED).choice(train, n, replace=False).tolist())


class ProbeScore(Callback):
    """After every epoch, score held-out classes with the paper's protocol.

    Records, per epoch, ``<prefix>_<n>w<k>s``: the per-clip accuracies (fixed episodes,
    ``passes`` passes), so that any checkpoint-selection rule applied afterwards to
    ``valid_acc`` can be read off on classes that neither trained nor chose the model
    (``prefix="probe"``), or on the validation classes with episodes independent of
    ``valid_acc``'s (``prefix="val"``, ``seed_offset=2``). ``more_episodes`` also records
    ``valid_acc_more``: the library's validation score (5-way 5-shot, 5 queries) over that
    many episodes of another seed, the input of the rule ``best_more_episodes``.
    """

    def __init__(self, X, y, passes, prefix="probe", seed_offset=1, more_episodes=None):
        self.X = X[:, None] if X.ndim == 3 else X  # the net takes (clips, views, mels, frames)
        self.y, self.passes = y, passes
        self.prefix, self.seed_offset, self.more_episodes = prefix, seed_offset, more_episodes

    def on_epoch_end(self, net, **kwargs):
        emb = net.forward(self.X).numpy()
        scores = paper_per_clip(emb, self.y, self.passes, EPISODE_SEED + self.seed_offset)
        for key, per_clip in scores.items():
            net.history.record(f"{self.prefix}_{key}", per_clip.round(4).tolist())
        if self.more_episodes:
            res = episodic_accuracy(emb, self.y, n_way=5, k_shot=5, n_query=5,
                                    n_episodes=self.more_episodes,
                                    random_state=EPISODE_SEED + self.seed_offset + 1)
            net.history.record("valid_acc_more", float(res.accuracy))

    def on_train_end(self, net, **kwargs):
        self.X = self.y = None  # not saved with the model


def _setup(args, split, cfg):
    """What runs must share to be compared or reused (the ``--out`` folder's settings)."""
    factor = cfg.get("epochs_factor", 1)
    return {"probe_classes": probe_classes(split, args.probe), "episodes": args.episodes,
            "epochs": args.epochs * factor, "lr_step": args.lr_step * factor,
            "channels": list(cfg["channels"]) if "channels" in cfg else args.channels}


def _check_setup(path, setup, what):
    rec = json.loads(path.read_text())
    diff = {k: (rec.get(k, [] if k == "probe_classes" else None), v)
            for k, v in setup.items() if rec.get(k, [] if k == "probe_classes" else None) != v}
    if diff:
        raise ValueError(
            f"{path} ({what}) was made with other settings: "
            + ", ".join(f"{k} {a!r} there, {b!r} now" for k, (a, b) in diff.items())
            + ". Use another --out, or the same settings.")


#: a variant's config key -> the lever callback it trains with (research/cosine.py,
#: supcon.py, mixup.py, protomaml.py, projection.py, depth.py, averaging.py, spectral.py),
#: made from the key's value
LEVERS = {"train_temperature": TrainTemperature, "supcon": TwoViewSupCon,
          "simclr": partial(TwoViewSupCon, positives="clip"), "mixup": QueryMixup,
          "fomaml": FirstOrderMAML,
          "fomaml_authors": partial(FirstOrderMAML, inner_lr=0.2, mean_distance=True,
                                    batch_stats=True),
          "head": lambda _: ProjectionHead(), "slow_last": SlowBlock,
          "recon": LowerBlockReconstruction, "swa": WeightAverage,
          "swa_hold": lambda f: WeightAverage(hold_lr=f),
          "fshift": partial(SpectralAugment, "shift"),
          "filter_gain": partial(SpectralAugment, "gain"), "decor": Decorrelation}


#: Variant settings ``build`` does not pass to the estimator under their own name: the
#: features' ``n_fft``, the schedule factor, the initial branch, the masks' settings and
#: the training levers (``tests/research`` checks that every other key reaches it).
NOT_ESTIMATOR_KEYS = {"n_fft", "epochs_factor", "init_whole_from", "fill", "split_hz",
                      "distill", *LEVERS}


def lever_callbacks(cfg):
    """``[(key, callback)]`` of the training levers a variant's config sets."""
    return [(key, make(cfg[key])) for key, make in LEVERS.items() if cfg.get(key)]


def teacher_dir(args):
    """Where a distilled variant's teachers are: ``--teachers``, else ``--out``."""
    return Path(getattr(args, "teachers", None) or args.out)


def build(model, cfg, args, seed, val_classes):
    factor = cfg.get("epochs_factor", 1)
    callbacks = []
    if cfg.get("init_whole_from"):
        src = Path(args.out) / "models" / f"{cfg['init_whole_from']}_seed{seed}.joblib"
        if not src.is_file():
            raise FileNotFoundError(
                f"variant needs the trained {cfg['init_whole_from']} model of seed {seed} at "
                f"{src}: run `ablation.py run --variants {cfg['init_whole_from']} --seeds "
                f"{seed}` first (same --out)")
        callbacks = [("init_whole", InitWholeBranch(src))]
    if cfg.get("distill"):  # the teacher: the same seed's model of that variant
        callbacks.append(("distill", EpisodeDistillation(
            teacher_dir(args) / "models" / f"{cfg['distill']}_seed{seed}.joblib")))
    callbacks += lever_callbacks(cfg)
    clf = HalluAudioClassifier(
        n_way=cfg.get("n_way", 5), k_shot=cfg.get("k_shot", 5),
        max_epochs=args.epochs * factor, n_episodes=args.episodes,
        lr_step=args.lr_step * factor, device=args.device,
        channels=cfg.get("channels", (args.channels,) * 3), pooling=cfg["pooling"],
        time_shift=(20, 139),
        time_shift_per=cfg["time_shift_per"], per_view_weight=cfg.get("per_view_weight", 0.0),
        validation_classes=list(val_classes), val_n_way=5, val_k_shot=5,
        n_threads=args.threads, random_state=seed, verbose=args.verbose,
        callbacks=callbacks or None,
        embedding_norm=None,  # raw, as every run here was scored (embedding_norm.py compares)
        checkpoint="best",  # as every run here was kept (`selection` compares the rules)
        spec_augment=cfg.get("spec_augment"), pretrain_epochs=cfg.get("pretrain_epochs", 0),
        time_pool=cfg.get("time_pool"), freq_pool=cfg.get("freq_pool"),
    )
    if model == "baseline":
        return clf
    if model == "time_concept":
        masks = FrequencyMaskTransformer(axis="time", fill=cfg["fill"])
    else:
        masks = FrequencyMaskTransformer(split_hz=cfg["split_hz"], fill=cfg["fill"])
    return Pipeline([("masks", masks), ("clf", clf)])


def score(model, Xva, yva, passes):
    clf = model[-1] if isinstance(model, Pipeline) else model
    Xv = model[:-1].transform(Xva) if isinstance(model, Pipeline) else Xva
    emb = clf.embed(Xv)
    return {k: v.tolist() for k, v in paper_per_clip(emb, yva, passes, EPISODE_SEED).items()}


def _scoring_callbacks(model, X, y, probe, va, args):
    """The probe scorer, and with ``--val-curve`` the fresh validation scorer."""
    def views(mask):
        return (model[:-1].fit(X[~probe]).transform(X[mask]) if isinstance(model, Pipeline)
                else X[mask])

    out = [("probe", ProbeScore(views(probe), y[probe], args.probe_passes))]
    if args.val_curve:
        out.append(("val_curve", ProbeScore(views(va), y[va], args.probe_passes, prefix="val",
                                            seed_offset=2, more_episodes=args.val_curve)))
    return out


def cmd_run(args):
    out = Path(args.out) / "runs"
    out.mkdir(parents=True, exist_ok=True)
    target, split, features = load_data(args)
    keep = np.isin(target, split["train"] + split["validation"])
    y = target[keep]
    va = np.isin(y, split["validation"])
    probe = np.isin(y, probe_classes(split, args.probe))
    if args.probe:
        log(f"probe classes (held out of training): {probe_classes(split, args.probe)}")
    feats = {}
    for seed in args.seeds:
        for name in args.variants:
            path = out / f"{name}_seed{seed}.json"
            model_kind, cfg = variant_config(name)
            setup = _setup(args, split, cfg)
            if path.exists():
                _check_setup(path, setup, "a finished run in --out")
                log(f"{name} seed {seed}: done before ({path.name})")
                continue
            if cfg.get("init_whole_from"):  # its probe classes must not have been trained on
                src = out / f"{cfg['init_whole_from']}_seed{seed}.json"
                if src.exists():
                    _check_setup(src, {"probe_classes": setup["probe_classes"]},
                                 "the model it starts from")
            if cfg.get("distill"):  # nor the teacher's
                src = teacher_dir(args) / "runs" / f"{cfg['distill']}_seed{seed}.json"
                if not src.is_file():
                    raise SystemExit(f"{name} seed {seed} needs its teacher's run record "
                                     f"{src}: train {cfg['distill']} seed {seed} there first, "
                                     "or point --teachers at the folder that holds it")
                _check_setup(src, {"probe_classes": setup["probe_classes"]}, "its teacher")
            if cfg["n_fft"] not in feats:
                feats[cfg["n_fft"]] = features(cfg["n_fft"], keep)
            X = feats[cfg["n_fft"]]
            log(f"{name} seed {seed}: training ({model_kind}, {cfg})")
            t0 = time.perf_counter()
            model = build(model_kind, cfg, args, seed, split["validation"])
            clf = model[-1] if isinstance(model, Pipeline) else model
            own_callbacks = clf.callbacks
            if args.probe:
                clf.set_params(callbacks=(own_callbacks or []) + _scoring_callbacks(
                    model, X, y, probe, va, args))
            if args.transfer_curve:  # off-domain tasks scored every epoch (research.transfer)
                clf.set_params(callbacks=(clf.callbacks or []) + transfer_callbacks(
                    model, X[~probe], args.transfer_curve, cfg["n_fft"], args.probe_passes,
                    Path(args.out) / "transfer_features", every=args.transfer_every))
            model.fit(X[~probe], y[~probe])
            fit_s = time.perf_counter() - t0
            clf.set_params(callbacks=own_callbacks)  # the saved model clones without the probe
            keys = ("epoch", "train_loss", "train_acc", "valid_acc", "event_lr", "dur",
                    *(f"probe_{n}w{k}s" for n, k in SETTINGS))
            extra = ("valid_acc_more", *(f"val_{n}w{k}s" for n, k in SETTINGS))
            hist = [{k: row.get(k) for k in keys + tuple(
                k for k in row if k in extra or k.startswith("xfer_"))} for row in clf.history_]
            best = max(hist, key=lambda h: h["valid_acc"])
            per_clip = score(model, X[va], y[va], args.passes)
            rec = {"variant": name, "model": model_kind, "config": cfg, "seed": seed,
                   "epochs": args.epochs * cfg.get("epochs_factor", 1),
                   "episodes": args.episodes, "lr_step": args.lr_step * cfg.get("epochs_factor", 1),
                   "channels": cfg.get("channels", args.channels), "passes": args.passes,
                   "fit_s": fit_s,
                   "probe_classes": probe_classes(split, args.probe),
                   "probe_passes": args.probe_passes if args.probe else None,
                   "probe_clip_target": y[probe].tolist(),
                   "best_epoch": best["epoch"], "best_valid_acc": best["valid_acc"],
                   "history": hist, "val_clip_target": y[va].tolist(), "per_clip": per_clip}
            path.write_text(json.dumps(rec))
            models = Path(args.out) / "models"  # for the one look at the test classes
            models.mkdir(exist_ok=True)
            joblib.dump(model, models / f"{name}_seed{seed}.joblib")
            log(f"{name} seed {seed}: fit {fit_s:.0f} s, best epoch {best['epoch']}, "
                + ", ".join(f"{k} {100 * np.mean(v):.2f}" for k, v in per_clip.items()))


def summarize(runs):
    """Per variant: mean accuracy; paired differences with the model's reference."""
    by_var = {}
    for r in runs:
        by_var.setdefault(r["variant"], {})[r["seed"]] = r
    rows = []
    for name in VARIANTS:
        if name not in by_var:
            continue
        model_kind, cfg = variant_config(name)
        ref_name = reference_of(name)
        seeds = sorted(by_var[name])
        row = {"variant": name, "model": model_kind, "change": VARIANTS[name][1],
               "seeds": seeds, "fit_s": float(np.mean([by_var[name][s]["fit_s"] for s in seeds])),
               "best_epoch": [by_var[name][s]["best_epoch"] for s in seeds]}
        for key in (f"{n}w{k}s" for n, k in SETTINGS):
            clip = np.mean([by_var[name][s]["per_clip"][key] for s in seeds], axis=0)
            row[key] = {"accuracy": 100 * float(clip.mean()), "ci95_clips": 100 * clip_ci95(clip),
                        "per_seed": [100 * float(np.mean(by_var[name][s]["per_clip"][key]))
                                     for s in seeds]}
            common = [s for s in seeds if s in by_var.get(ref_name, {})]
            if name != ref_name and common:
                row[key]["diff_vs_ref"] = {
                    "ref": ref_name,
                    **_paired(_clips(by_var[name]), _clips(by_var[ref_name]), key)}
        if model_kind != "baseline":
            # equal steps (base_ref) and equal wall time (base_3x_steps: a 3-view step
            # costs about three baseline steps)
            row["vs_baseline"] = {
                base: {key: _paired(_clips(by_var[name]), _clips(by_var[base]), key)
                       for key in (f"{n}w{k}s" for n, k in SETTINGS)}
                for base in ("base_ref", "base_3x_steps")
                if set(seeds) & set(by_var.get(base, {}))}
        rows.append(row)
    return rows


def to_markdown(rows, args):
    lines = [
        "# Ablation on ESC-50's validation classes (5 classes, 200 clips; test classes unread)",
        "",
        f"Command: `python -m research.ablation report --out {args.out}` over runs made by "
        "`python -m research.ablation run ...`.",
        "Reference recipe: " + json.dumps(REFERENCE) + ".",
        "Accuracy: paper protocol, the same episodes for every variant and seed; mean over "
        "seeds. CI (clips): 1.96 sd/sqrt(200) over per-clip accuracies. Diff: the variant minus "
        "its model's reference on the same clips, episodes and seeds.",
        "",
        "| variant | change | seeds | fit s | best epochs | 5w1s | 5w5s | diff 5w1s | diff 5w5s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["variant"], json.dumps(r["change"]) if r["change"] else "(reference)",
                 ",".join(map(str, r["seeds"])), f"{r['fit_s']:.0f}",
                 ",".join(map(str, r["best_epoch"]))]
        for key in ("5w1s", "5w5s"):
            cells.append(f"{r[key]['accuracy']:.2f} ± {r[key]['ci95_clips']:.2f}")
        for key in ("5w1s", "5w5s"):
            d = r[key].get("diff_vs_ref")
            cells.append("" if d is None else
                         f"{d['mean']:+.2f} ± {d['ci95_clips']:.2f} (seeds: "
                         + ", ".join(f"{x:+.1f}" for x in d["per_seed"]) + ")")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Multi-view models minus a baseline, paired on the same validation clips, "
              "episodes and seeds (base_ref: equal steps; base_3x_steps: about equal wall "
              "time):", "", "| variant | 5w1s | 5w5s |", "|---|---|---|"]
    for r in rows:
        for base, diffs in r.get("vs_baseline", {}).items():
            lines.append(f"| {r['variant']} - {base} | "
                         + " | ".join(_fmt(d) for d in diffs.values()) + " |")
    return "\n".join(lines) + "\n"


def load_runs(out):
    """The finished runs under ``out``/runs, each file read once (``SKIP``: left out)."""
    texts = (p.read_text() for p in sorted((Path(out) / "runs").glob("*.json")))
    return [json.loads(t) for t in texts if t.strip() != "SKIP"]


def saved_run(out, variant, seed, y, split):
    """One finished run under ``out``: its record, its kept model, and the mask of its
    probe clips in ``y`` (targets of the training and validation clips of ``split``)."""
    out = Path(out)
    path = out / "runs" / f"{variant}_seed{seed}.json"
    model = out / "models" / f"{variant}_seed{seed}.joblib"
    for need in (path, model):  # models/ is not committed: a fresh clone trains them
        if not need.is_file():
            raise SystemExit(f"no {need}: train it first with `python -m research.ablation "
                             f"run --out {out} --variants {variant} --seeds {seed} ...`")
    run = json.loads(path.read_text())
    if not run.get("probe_classes"):
        raise SystemExit(f"{path} has no probe classes: make the runs with "
                         "`python -m research.ablation run --probe 5 ...`")
    probe = np.isin(y, probe_classes(split, len(run["probe_classes"])))
    return run, joblib.load(model), probe


def cmd_report(args):
    runs = load_runs(args.out)
    rows = summarize(runs)
    (Path(args.out) / "ablation.json").write_text(json.dumps(rows, indent=1))
    md = to_markdown(rows, args)
    (Path(args.out) / "ablation.md").write_text(md)
    print(md)


def choose_epoch(hist, rule, lr_step):
    """0-based index of the epoch a checkpoint-selection ``rule`` keeps (see RULES)."""
    v = np.array([h["valid_acc"] for h in hist], dtype=float)
    if rule == "best":  # what the library does: the first epoch of highest valid_acc
        return int(np.argmax(v))
    if rule == "last":
        return len(v) - 1
    if rule == "best_after_last_drop":
        lrs = [h.get("event_lr") for h in hist]
        start = (int(np.argmin(lrs)) if None not in lrs
                 else ((len(v) - 1) // lr_step) * lr_step)
        return start + int(np.argmax(v[start:]))
    if rule == "best_smoothed5":  # centred moving average over up to 5 epochs
        return int(np.argmax([v[max(0, i - 2):i + 3].mean() for i in range(len(v))]))
    if rule == "oracle_probe":  # reads the probe classes: an upper bound, not a rule
        return int(np.argmax([np.mean([np.mean(h[f"probe_{n}w{k}s"]) for n, k in SETTINGS])
                              for h in hist]))
    raise ValueError(f"unknown rule {rule!r}; choose among {RULES}")


def _probe_at(run, rule):
    e = choose_epoch(run["history"], rule, run["lr_step"])
    return e + 1, {f"{n}w{k}s": np.asarray(run["history"][e][f"probe_{n}w{k}s"])
                   for n, k in SETTINGS}


def _clips(by_seed):
    """seed -> setting -> per-clip validation accuracies (arrays) of one variant's runs."""
    return {s: {k: np.asarray(v) for k, v in r["per_clip"].items()} for s, r in by_seed.items()}


def _paired(a_by_seed, b_by_seed, key):
    """a - b per clip, averaged over the seeds both have: mean, clip CI, per seed (%)."""
    common = sorted(set(a_by_seed) & set(b_by_seed))
    g = paired_clip_gain([(a_by_seed[s][key], b_by_seed[s][key]) for s in common])
    return {"mean": g["gain"], "ci95_clips": g["ci95_clips"], "seeds": common,
            "per_seed": g["per_seed"]}


def cmd_selection(args):
    """Checkpoint-selection rules, and the variants, scored on the probe classes."""
    runs = load_runs(args.out)
    runs = [r for r in runs if r.get("probe_classes")]
    if not runs:
        raise SystemExit(f"no run under {args.out}/runs has probe scores: run with --probe 5")
    by_var = {}
    for r in runs:
        by_var.setdefault(r["variant"], {})[r["seed"]] = r
    at = {(v, rule): {s: _probe_at(r, rule) for s, r in seeds.items()}
          for v, seeds in by_var.items() for rule in RULES}
    keys = [f"{n}w{k}s" for n, k in SETTINGS]
    rows = []
    for v in (name for name in VARIANTS if name in by_var):
        ref = reference_of(v)
        for rule in RULES:
            got = at[(v, rule)]
            acc = {s: p for s, (_, p) in got.items()}
            row = {"variant": v, "rule": rule, "seeds": sorted(got),
                   "epochs": [got[s][0] for s in sorted(got)]}
            for key in keys:
                clip = np.mean([acc[s][key] for s in sorted(acc)], axis=0)
                row[key] = {"accuracy": 100 * float(clip.mean()),
                            "ci95_clips": 100 * clip_ci95(clip)}
                if rule != "best":
                    best = {s: p for s, (_, p) in at[(v, "best")].items()}
                    row[key]["vs_best_rule"] = _paired(acc, best, key)
                for other in {ref, "base_ref"} - {v}:
                    if other in by_var:
                        o = {s: p for s, (_, p) in at[(other, rule)].items()}
                        row[key][f"vs_{other}"] = _paired(acc, o, key)
            rows.append(row)
    first = runs[0]
    for key in ("probe_classes", "probe_passes", "episodes", "channels"):
        if len({json.dumps(r[key]) for r in runs}) > 1:
            raise ValueError(f"runs under {args.out} differ in {key}; selection compares runs "
                             "made with the same settings (one --out per setting)")
    out = {"probe_classes": first["probe_classes"], "probe_passes": first["probe_passes"],
           "rules": list(RULES), "rows": rows}
    (Path(args.out) / "selection.json").write_text(json.dumps(out, indent=1))
    md = _selection_markdown(rows, first, args)
    (Path(args.out) / "selection.md").write_text(md)
    print(md)


def _split_means(run, keys=None):
    """Mean accuracy (%) of a run on the validation and probe classes (library's epoch)."""
    _, probe = _probe_at(run, "best")
    keys = keys or [f"{n}w{k}s" for n, k in SETTINGS]
    return (100 * np.mean([np.mean(run["per_clip"][k]) for k in keys]),
            100 * np.mean([np.mean(probe[k]) for k in keys]))


#: ``choose --factor``: the (baseline, HalluAudio) variant pair of each candidate value,
#: the default value, and the settings the choice is scored on.
CHOICES = {
    "way": {"pairs": {5: ("base_ref", "hallu_per_view"), 20: ("base_way20", "hallu_pv_way20")},
            "default": 5, "keys": ["5w1s", "5w5s"]},
    "shot": {"pairs": {5: ("base_ref", "hallu_per_view"), 1: ("base_shot1", "hallu_pv_shot1")},
             "default": 5, "keys": ["5w1s"]},
    "init": {"pairs": {"none": ("hallu_per_view",), "base_ref": ("hallu_pv_init_base",)},
             "default": "none", "keys": ["5w1s", "5w5s"]},
    # issue 23's levers, each against its model's reference (research/results/levers/RULES.md)
    **{f"{lever}_{model}": {"pairs": {"off": (ref,), "on": (f"{pre}_{lever}",)},
                            "default": "off", "keys": ["5w1s", "5w5s"]}
       for lever in ("specaug", "pretrain")
       for model, ref, pre in (("base", "base_ref", "base"),
                               ("hallu", "hallu_per_view", "hallu_pv"))},
}


def cmd_choose(args):
    """Pick a training-episode factor for a reproduction, by rules fixed before the runs.

    ``--factor way`` (the training way): candidates are (baseline, HalluAudio)
    variant pairs, 5 = (base_ref, hallu_per_view), 20 = (base_way20,
    hallu_pv_way20), scored on 5w1s and 5w5s.

    ``--factor shot`` (the training shot of the models that serve the 1-shot
    settings; the 5-shot settings keep 5-shot training): 5 = (base_ref,
    hallu_per_view), 1 = (base_shot1, hallu_pv_shot1), scored on 5w1s only.

    ``--factor init`` (HalluAudio's whole-spectrogram branch starts from the
    same seed's trained baseline, or from scratch): none = (hallu_per_view,),
    base_ref = (hallu_pv_init_base,), scored on 5w1s and 5w5s; the baseline
    itself does not change, so HalluAudio alone is scored.

    A value other than the default is chosen only when it beats the default on
    BOTH class-disjoint splits (validation and probe), averaged over the
    value's models, the scored settings and the seeds common to all the variants; of
    several such values, the best sum of the two splits wins. Prints the value
    on the last line.
    """
    choice = CHOICES[args.factor]
    pairs, default = choice["pairs"], choice["default"]
    runs = load_runs(args.out)
    by = {(r["variant"], r["seed"]): r for r in runs if r.get("probe_classes")}
    names = [n for pair in pairs.values() for n in pair]
    seeds = sorted(s for s in {s for _, s in by} if all((n, s) in by for n in names))
    if not seeds:
        raise SystemExit(f"choose needs runs of {names} with --probe, one seed at least")
    score = {v: np.mean([_split_means(by[(n, s)], choice["keys"]) for n in pair for s in seeds],
                        axis=0)
             for v, pair in pairs.items()}
    for v, (val, probe) in score.items():
        log(f"{args.factor} {v}: validation {val:.2f}, probe {probe:.2f} "
            f"({'+'.join(choice['keys'])}, seeds {seeds})")
    better = [v for v in score if v != default and np.all(score[v] > score[default])]
    chosen = max(better, key=lambda v: score[v].sum()) if better else default
    print(chosen)


def _fmt(d):
    return (f"{d['mean']:+.2f} ± {d['ci95_clips']:.2f} (seeds: "
            + ", ".join(f"{x:+.1f}" for x in d["per_seed"]) + ")")


def _selection_markdown(rows, first, args):
    lines = [
        "# Checkpoint selection, scored on classes that neither trained nor chose the model",
        "",
        f"Command: `python -m research.ablation selection --out {args.out}` over runs made by "
        f"`python -m research.ablation run --probe {len(first['probe_classes'])} "
        f"--epochs {first['epochs'] // first['config'].get('epochs_factor', 1)} "
        f"--lr-step {first['lr_step'] // first['config'].get('epochs_factor', 1)} "
        f"--out {args.out} ...`.",
        f"Training: 30 of ESC-50's 35 training classes; the 5 validation classes give "
        f"`valid_acc` after every epoch (what a rule reads); the 5 probe classes "
        f"{first['probe_classes']} (drawn from the training classes with a fixed seed, never "
        f"trained on) are scored after every epoch with the paper's protocol, "
        f"{first['probe_passes']} passes. The test classes are never read.",
        "Rules: best = first epoch of highest valid_acc (the library's rule); last; "
        "best_after_last_drop = best epoch at the final learning rate; best_smoothed5 = best "
        "centred 5-epoch mean of valid_acc; oracle_probe = best epoch ON the probe classes "
        "(an upper bound, not a usable rule). ± : 1.96 sd/sqrt(200) over per-clip accuracies "
        "(mean of seeds); paired differences per clip, per-seed values in brackets.",
        "",
        "| variant | rule | epochs | 5w1s | 5w5s | vs best rule 5w1s | vs best rule 5w5s "
        "| vs base_ref 5w1s | vs base_ref 5w5s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["variant"], r["rule"], ",".join(map(str, r["epochs"]))]
        for key in ("5w1s", "5w5s"):
            cells.append(f"{r[key]['accuracy']:.2f} ± {r[key]['ci95_clips']:.2f}")
        for name in ("vs_best_rule", "vs_base_ref"):
            for key in ("5w1s", "5w5s"):
                cells.append(_fmt(r[key][name]) if name in r[key] else "")
        lines.append("| " + " | ".join(cells) + " |")
    refs = [(r, f"vs_{reference_of(r['variant'])}") for r in rows
            if reference_of(r["variant"]) != "base_ref"]
    refs = [(r, name) for r, name in refs if name in r["5w1s"]]
    if refs:
        lines += ["", "Multi-view variants minus their reference on the probe classes, same "
                  "rule:", "", "| variant | reference | rule | 5w1s | 5w5s |",
                  "|---|---|---|---|---|"]
        for r, name in refs:
            lines.append(f"| {r['variant']} | {name[3:]} | {r['rule']} | "
                         f"{_fmt(r['5w1s'][name])} | {_fmt(r['5w5s'][name])} |")
    return "\n".join(lines) + "\n"


#: The paper's Tables 1 and 2 (ESC-50): mean accuracy in percent.
#: the paper's Table 1/2 means, in SETTING_NAMES order
PAPER = {k: [v[s][0] for s in SETTING_NAMES] for k, v in PAPER_TABLES.items()}
TEST_SETTINGS = PAPER_SETTINGS


def cmd_test(args):
    """The one look at the test classes: saved models, paired paper-protocol episodes."""
    target, split, features = load_data(args)
    keep = np.isin(target, split["test"])
    y = target[keep]
    models, feats, res = Path(args.out) / "models", {}, {}
    for name in args.variants:
        model_kind, cfg = variant_config(name)
        if cfg["n_fft"] not in feats:
            feats[cfg["n_fft"]] = features(cfg["n_fft"], keep)
        for seed in args.seeds:
            model = joblib.load(models / f"{name}_seed{seed}.joblib")
            clf = model[-1] if isinstance(model, Pipeline) else model
            X = feats[cfg["n_fft"]]
            emb = clf.embed(model[:-1].transform(X) if isinstance(model, Pipeline) else X)
            per = {}
            for i, (n_way, k_shot) in enumerate(TEST_SETTINGS):
                r = episodic_accuracy(emb, y, n_way=n_way, k_shot=k_shot, protocol="paper",
                                      n_repeats=args.passes, random_state=EPISODE_SEED + i)
                per[f"{n_way}w{k_shot}s"] = {
                    "accuracy": 100 * r.accuracy, "ci95_queries": 100 * r.ci95,
                    "per_clip": r.correct.reshape(args.passes, len(y)).mean(axis=0).tolist()}
            res.setdefault(name, {})[seed] = per
            log(f"test {name} seed {seed}: " + ", ".join(
                f"{k} {v['accuracy']:.2f}" for k, v in per.items()))
    rows = _test_rows(res, args)
    (Path(args.out) / "test.json").write_text(json.dumps(
        {"rows": rows, "passes": args.passes, "seeds": args.seeds,
         "test_classes": [str(ESC50_CLASS_NAMES[c]) for c in split["test"]]},
        indent=1))
    md = _test_markdown(rows, args)
    (Path(args.out) / "test.md").write_text(md)
    print(md)


def _test_rows(res, args):
    rows = []
    base = res.get("base_ref")
    for name, by_seed in res.items():
        model_kind = VARIANTS[name][0]
        row = {"variant": name, "model": model_kind, "paper": PAPER.get(model_kind)}
        for key in (f"{n}w{k}s" for n, k in TEST_SETTINGS):
            seeds = sorted(by_seed)
            clip = np.mean([by_seed[s][key]["per_clip"] for s in seeds], axis=0)
            row[key] = {"accuracy": 100 * float(clip.mean()),
                        "per_seed": [by_seed[s][key]["accuracy"] for s in seeds],
                        "ci95_queries": float(np.mean([by_seed[s][key]["ci95_queries"]
                                                       for s in seeds])),
                        "ci95_clips": 100 * clip_ci95(clip)}
            if base is not None and name != "base_ref":
                clips = {s: {key: np.asarray(v[key]["per_clip"])} for s, v in by_seed.items()}
                base_clips = {s: {key: np.asarray(v[key]["per_clip"])} for s, v in base.items()}
                row[key]["diff_vs_base"] = _paired(clips, base_clips, key)
        rows.append(row)
    return rows


def _test_markdown(rows, args):
    keys = [f"{n}w{k}s" for n, k in TEST_SETTINGS]
    lines = [
        "# The one look at ESC-50's test classes (10 classes, 400 clips)",
        "",
        f"Command: `python -m research.ablation test --variants {' '.join(args.variants)} "
        f"--seeds {' '.join(map(str, args.seeds))} --passes {args.passes}` (models from "
        "`ablation.py run`, trained on the 35 training classes, best epoch on the 5 validation "
        "classes). Paper protocol, the same episodes for every model and seed. ± (queries): the "
        "paper's 1.96 sd/sqrt(n) over all queries (each pass re-uses the same clips, so it is "
        "too narrow); ± (clips): over the 400 per-clip accuracies.",
        "",
        "| model | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for r in rows:
        lines.append(f"| {r['variant']} (mean of seeds) | " + " | ".join(
            f"{r[k]['accuracy']:.2f} ± {r[k]['ci95_queries']:.2f} (queries) ± "
            f"{r[k]['ci95_clips']:.2f} (clips)" for k in keys) + " |")
        lines.append(f"| {r['variant']} per seed | " + " | ".join(
            ", ".join(f"{a:.2f}" for a in r[k]["per_seed"]) for k in keys) + " |")
        if r["paper"]:
            lines.append(f"| paper, {r['model']} | " + " | ".join(
                f"{a:.2f}" for a in r["paper"]) + " |")
    lines += ["", "Paired differences with base_ref (same clips, episodes and seeds):", "",
              "| model | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for r in rows:
        if "diff_vs_base" in r[keys[0]]:
            lines.append(f"| {r['variant']} - base_ref | " + " | ".join(
                f"{r[k]['diff_vs_base']['mean']:+.2f} ± {r[k]['diff_vs_base']['ci95_clips']:.2f}"
                " (seeds: " + ", ".join(f"{x:+.2f}" for x in r[k]["diff_vs_base"]["per_seed"])
                + ")" for k in keys) + " |")
    lines.append("| paper, HalluAudio - baseline | " + " | ".join(
        f"{a - b:+.2f}" for a, b in zip(PAPER["halluaudio"], PAPER["baseline"])) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    tune_cpu_allocator()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["run", "report", "test", "selection", "choose"])
    p.add_argument("--out", default="research/results/ablation")
    p.add_argument("--data-home", default=None)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--epochs", type=int, default=21)
    p.add_argument("--episodes", type=int, default=30, help="episodes per epoch")
    p.add_argument("--lr-step", type=int, default=7)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--passes", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--features-cache", default=None,
                   help="an .npz of log-mel features as `reproduce --features-cache` writes "
                        "it (n_fft 1024): read instead of the audio files")
    p.add_argument("--probe", type=int, default=0,
                   help="training classes held out as a second validation split, scored "
                        "after every epoch (for `selection`)")
    p.add_argument("--probe-passes", type=int, default=10)
    p.add_argument("--val-curve", type=int, default=0, metavar="EPISODES",
                   help="with --probe: also score the validation classes after every epoch "
                        "on episodes independent of valid_acc's (val_*), and the library's "
                        "validation score over this many episodes (valid_acc_more): the "
                        "inputs of `python -m research.checkpoint_rules`")
    p.add_argument("--transfer-curve", nargs="+", default=None, metavar="DIR",
                   help="off-domain task folders scored before training and after every "
                        "epoch (python -m research.transfer.data makes them)")
    p.add_argument("--transfer-every", type=int, default=1, metavar="N",
                   help="score the transfer tasks after epoch 1 and every N-th epoch")
    p.add_argument("--teachers", default=None, metavar="DIR",
                   help="the lever runs' folder holding the teachers of a distilled variant "
                   "(models/ and runs/; default: --out)")
    p.add_argument("--verbose", type=int, default=0)
    p.add_argument("--factor", choices=list(CHOICES), default="way",
                   help="what `choose` picks: the training way, the 1-shot models' "
                        "shot, HalluAudio's start (from scratch or a trained baseline), or "
                        "a lever of issue 23 on or off for one model (specaug_base, ...)")
    args = p.parse_args(argv)
    {"run": cmd_run, "report": cmd_report, "test": cmd_test,
     "selection": cmd_selection, "choose": cmd_choose}[args.command](args)


if __name__ == "__main__":
    main()
