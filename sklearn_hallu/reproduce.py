"""Reproduce HalluAudio's ESC-50 tables (1 and 2) and Figure 4 with one command.

Run ``python -m sklearn_hallu.reproduce --help`` (or ``sklearn-hallu reproduce``).

The protocol is DESIGN.md's (after Chou et al. 2019 and the paper): the 35/5/10
class split; 128-mel log-mel spectrograms (16 kHz, hop 502, fmax 8 kHz); three
models trained with the same recipe and the same number of steps (baseline:
whole spectrogram; HalluAudio: whole + low + high band; time concept: whole +
first half + second half); the best epoch chosen on the 5 validation classes;
tests on the 10 test classes with the paper's protocol (every test clip a query
once, supports from the rest, 50 passes) in 5/10-way 1/5-shot.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.pipeline import Pipeline

from . import FrequencyMaskTransformer, HalluAudioClassifier, LogMelTransformer
from ._support import embed
from .datasets import fetch_esc50
from .inspection import frequency_importance
from .model_selection import few_shot_report

__all__ = ["main", "PAPER_TABLES", "run"]

SETTINGS = ((5, 1), (5, 5), (10, 1), (10, 5))
SETTING_NAMES = [f"{n}-way {k}-shot" for n, k in SETTINGS]

#: The paper's ESC-50 numbers (Tables 1 and 2): mean accuracy and 95% CI, in percent.
PAPER_TABLES = {
    "baseline": {"5-way 1-shot": (69.77, 0.62), "5-way 5-shot": (83.47, 0.48),
                 "10-way 1-shot": (54.51, 0.66), "10-way 5-shot": (71.36, 0.56)},
    "halluaudio": {"5-way 1-shot": (71.88, 0.60), "5-way 5-shot": (86.46, 0.46),
                   "10-way 1-shot": (57.12, 0.64), "10-way 5-shot": (75.20, 0.58)},
    "time_concept": {"5-way 1-shot": (70.66, 0.61), "5-way 5-shot": (82.89, 0.48),
                     "10-way 1-shot": (55.67, 0.67), "10-way 5-shot": (70.60, 0.53)},
}
MODEL_TITLES = {"baseline": "Baseline (prototypical net)", "halluaudio": "HalluAudio",
                "time_concept": "Time concept (ablation)",
                "halluaudio_crop": "HalluAudio, cropped band views (variant)"}
# The cropped variant has no number of its own in the paper: it is compared with HalluAudio's.
PAPER_TABLES_FOR = {**{k: k for k in PAPER_TABLES}, "halluaudio_crop": "halluaudio"}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------- features
def load_features(data_home, cache, *, quick):
    """Log-mel of ESC-50 (all clips, or a quick subset), cached in an .npz file."""
    if cache is not None and Path(cache).is_file():
        log(f"features: loading cache {cache}")
        z = np.load(cache, allow_pickle=False)
        return {k: z[k] for k in z.files}
    bunch = fetch_esc50(data_home)
    keep = np.ones(len(bunch.target), dtype=bool)
    if quick:  # 12 clips of each class
        keep = np.zeros_like(keep)
        for c in range(50):
            keep[np.flatnonzero(bunch.target == c)[:12]] = True
    files = list(bunch.filenames[keep])
    log(f"features: log-mel of {len(files)} clips from {bunch.root}")
    t0 = time.perf_counter()
    X = LogMelTransformer().transform(files)
    log(f"features: done in {time.perf_counter() - t0:.1f} s, shape {X.shape}")
    feats = {"X": X, "target": bunch.target[keep],
             "filenames": np.asarray([os.path.basename(f) for f in files])}
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, **feats)
        log(f"features: cached in {cache}")
    return feats


# ------------------------------------------------------------------------ models
def make_model(kind, cfg, seed, split_hz, validation=True):
    n_frames = cfg["n_frames"]
    shift = (round(20 * n_frames / 160), round(139 * n_frames / 160))
    clf = HalluAudioClassifier(
        n_way=5, k_shot=5, n_query=5,
        max_epochs=cfg["epochs"], n_episodes=cfg["episodes"],
        lr=0.01, momentum=0.9, weight_decay=1e-4,
        lr_step=cfg["lr_step"], lr_gamma=0.1,
        channels=tuple(cfg["channels"]),
        pooling=cfg["pooling"],
        time_shift=shift if cfg["time_shift"] else None,
        per_view_weight=cfg["per_view_weight"],
        crop_views=cfg["crop_views"],
        validation_classes=cfg["val_classes"] if validation else None,
        val_n_way=5, val_k_shot=5, val_n_episodes=cfg["val_episodes"],
        device=cfg["device"], random_state=seed, verbose=cfg["verbose"],
    )
    if kind == "baseline":
        return clf
    if kind == "halluaudio_crop":
        clf.set_params(crop_views=True)
    masks = (FrequencyMaskTransformer(axis="time") if kind == "time_concept"
             else FrequencyMaskTransformer(split_hz=split_hz))
    return Pipeline([("masks", masks), ("clf", clf)])


def _history(model):
    clf = model[-1] if isinstance(model, Pipeline) else model
    keys = ["epoch", "train_loss", "train_acc", "valid_acc", "dur"]
    return [{k: row.get(k) for k in keys} for row in clf.history_]


def _report_dict(report):
    return {r["setting"]: {"accuracy": r["accuracy"], "ci95": r["ci95"],
                           "n_queries": r["n_queries"],
                           "per_class": {str(k): v for k, v in r["per_class"].items()}}
            for r in report.rows}


def sweep_split(feats, split, cfg, splits, seed):
    """HalluAudio for each split frequency: train on train classes, score validation."""
    results = []
    Xtr, ytr = feats["X"][split["train"]], feats["target"][split["train"]]
    Xva, yva = feats["X"][split["validation"]], feats["target"][split["validation"]]
    for hz in splits:
        log(f"sweep: split_hz={hz:g} (train classes only, fixed {cfg['epochs']} epochs)")
        t0 = time.perf_counter()
        model = make_model("halluaudio", cfg, seed, hz, validation=False).fit(Xtr, ytr)
        rep = few_shot_report(model, Xva, yva, settings=((5, 1), (5, 5)), protocol="paper",
                              n_repeats=cfg["repeats"], random_state=seed, device=cfg["device"])
        row = {"split_hz": hz, "fit_s": time.perf_counter() - t0,
               **{r["setting"]: r["accuracy"] for r in rep.rows},
               **{r["setting"] + " ci95": r["ci95"] for r in rep.rows}}
        log(f"sweep: split_hz={hz:g}: 5w1s {row['5-way 1-shot']:.2f}, "
            f"5w5s {row['5-way 5-shot']:.2f}")
        results.append(row)
    return results


def run(args):
    t_start = time.perf_counter()
    out = Path(args.out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    device = args.device
    if device == "auto":
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
    quick = args.quick
    cfg = {
        "epochs": args.epochs if args.epochs is not None else (2 if quick else 60),
        "episodes": args.episodes if args.episodes is not None else (3 if quick else None),
        "lr_step": args.lr_step if args.lr_step is not None else (1 if quick else 20),
        "channels": [int(c) for c in args.channels.split(",")] if args.channels
        else ([8, 8, 8] if quick else [64, 64, 64]),
        "pooling": args.pooling,
        "time_shift": not args.no_time_shift,
        "per_view_weight": args.per_view_weight,
        "crop_views": args.crop_views,
        "val_episodes": 20 if quick else args.val_episodes,
        "repeats": args.repeats if args.repeats is not None else (2 if quick else 50),
        "device": device,
        "verbose": 1,
    }
    feats = load_features(args.data_home, args.features_cache, quick=quick)
    feats["X"] = feats["X"].astype(np.float32, copy=False)
    cfg["n_frames"] = int(feats["X"].shape[-1])
    from .datasets import esc50_class_split

    ids = esc50_class_split()
    y = feats["target"]
    split = {"train": np.isin(y, ids["train"]),
             "validation": np.isin(y, ids["validation"]),
             "test": np.isin(y, ids["test"])}
    trval = split["train"] | split["validation"]
    cfg["val_classes"] = list(ids["validation"])
    seeds = args.seeds
    results = {"config": {k: v for k, v in cfg.items()}, "models": {}, "sweep": None,
               "paper": PAPER_TABLES,
               "command": "python -m sklearn_hallu.reproduce " + " ".join(sys.argv[1:]),
               "machine": machine_info(device), "commit": git_commit(),
               "quick": quick, "seeds": seeds, "timings_s": {}}

    split_hz = args.split_hz
    if args.sweep:
        t0 = time.perf_counter()
        sweep_cfg = dict(cfg, epochs=args.sweep_epochs or cfg["epochs"])
        results["sweep"] = sweep_split(feats, split, sweep_cfg, args.sweep, seeds[0])
        results["timings_s"]["sweep"] = time.perf_counter() - t0
        if split_hz is None:
            best = max(results["sweep"], key=lambda r: r["5-way 1-shot"] + r["5-way 5-shot"])
            split_hz = best["split_hz"]
            log(f"sweep: chose split_hz={split_hz:g} on the validation classes")
    if split_hz is None:
        split_hz = 2000.0
    results["config"]["split_hz"] = split_hz

    Xte, yte = feats["X"][split["test"]], y[split["test"]]
    names = ESC50_NAMES
    kinds = args.models
    per_seed = {k: [] for k in kinds}
    floors = {k: [] for k in kinds}
    # Seeds outside, models inside: an interrupted run keeps whole seeds of every model.
    for seed in seeds:
        for i, kind in enumerate(kinds, 1):
            tag = f"[seed {seed}, {i}/{len(kinds)}] {kind}"
            path = out / "models" / f"{kind}_seed{seed}.joblib"
            if args.stage == "test":
                log(f"{tag}: loading {path}")
                model = joblib.load(path)
            else:
                log(f"{tag}: training on {trval.sum()} clips ({cfg['epochs']} epochs, "
                    f"device {device})")
                t0 = time.perf_counter()
                model = make_model(kind, cfg, seed, split_hz).fit(feats["X"][trval], y[trval])
                results["timings_s"][f"{kind}_seed{seed}_fit"] = time.perf_counter() - t0
                joblib.dump(model, path)
            hist = _history(model)
            best = max(hist, key=lambda h: h["valid_acc"] if h["valid_acc"] is not None else -1)
            log(f"{tag}: best epoch {best['epoch']} (valid 5w5s {100 * best['valid_acc']:.2f}); "
                "testing")
            t0 = time.perf_counter()
            emb = embed(model, Xte)  # once, for the report and the frequency importance
            rep = few_shot_report(model, Xte, yte, settings=SETTINGS, protocol="paper",
                                  n_repeats=cfg["repeats"], random_state=seed, device=device,
                                  embeddings=emb)
            results["timings_s"][f"{kind}_seed{seed}_test"] = time.perf_counter() - t0
            log(f"{tag}:\n{rep}")
            entry = {"seed": seed, "best_epoch": best["epoch"], "history": hist,
                     "test": _report_dict(rep)}
            if kind in ("halluaudio", "halluaudio_crop"):
                imp = frequency_importance(model, Xte, yte, n_way=5, k_shot=5,
                                           n_episodes=100 if quick else 2000,
                                           random_state=seed, device=device, embeddings=emb)
                entry["frequency_importance"] = {
                    names[c]: {"ratio": float(r), "correct_high": int(h), "correct_low": int(lo)}
                    for c, r, h, lo in zip(imp["classes"], imp["ratio"], imp["correct_high"],
                                           imp["correct_low"])}
            per_seed[kind].append(entry)
            if args.floor:
                untrained = make_model(kind, cfg, seed, split_hz, validation=False)
                untrained.set_params(**{("clf__" if kind != "baseline" else "")
                                        + "train_backbone": False})
                untrained.fit(feats["X"][trval], y[trval])
                floors[kind].append(_report_dict(few_shot_report(
                    untrained, Xte, yte, settings=SETTINGS, protocol="paper",
                    n_repeats=cfg["repeats"], random_state=seed, device=device)))
            results["models"][kind] = {"per_seed": per_seed[kind],
                                       "mean": _mean_over_seeds(per_seed[kind]),
                                       "untrained": floors[kind] or None}
            results["timings_s"]["total"] = time.perf_counter() - t_start
            write_outputs(results, out)  # partial results survive an interrupted run
    results["timings_s"]["total"] = time.perf_counter() - t_start
    results["config"]["split_hz"] = split_hz
    write_outputs(results, out)
    log(f"done in {results['timings_s']['total'] / 60:.1f} min; results in {out}")
    return results


ESC50_NAMES = [
    "dog", "rooster", "pig", "cow", "frog", "cat", "hen", "insects", "sheep", "crow",
    "rain", "sea_waves", "crackling_fire", "crickets", "chirping_birds", "water_drops",
    "wind", "pouring_water", "toilet_flush", "thunderstorm", "crying_baby", "sneezing",
    "clapping", "breathing", "coughing", "footsteps", "laughing", "brushing_teeth",
    "snoring", "drinking_sipping", "door_wood_knock", "mouse_click", "keyboard_typing",
    "door_wood_creaks", "can_opening", "washing_machine", "vacuum_cleaner", "clock_alarm",
    "clock_tick", "glass_breaking", "helicopter", "chainsaw", "siren", "car_horn", "engine",
    "train", "church_bells", "airplane", "fireworks", "hand_saw",
]


def _mean_over_seeds(per_seed):
    out = {}
    for s in SETTING_NAMES:
        accs = np.array([p["test"][s]["accuracy"] for p in per_seed])
        cis = np.array([p["test"][s]["ci95"] for p in per_seed])
        out[s] = {"accuracy": float(accs.mean()), "ci95": float(cis.mean()),
                  "per_seed": accs.tolist(),
                  "seed_std": float(accs.std(ddof=1)) if len(accs) > 1 else None}
    return out


def machine_info(device):
    import torch

    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "device": device}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except Exception:
        return os.environ.get("SKLEARN_HALLU_COMMIT", "unknown")


def write_outputs(results, out):
    out = Path(out)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=_jsonable))
    (out / "results.md").write_text(markdown_table(results))
    try:
        plot_outputs(results, out)
    except ImportError:  # matplotlib is optional
        log("matplotlib missing: no figures (pip install matplotlib)")


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def markdown_table(results):
    cfg = results["config"]
    lines = [
        "# HalluAudio on ESC-50: our numbers beside the paper's",
        "",
        f"Command: `{results['command']}`  ",
        f"Commit: `{results['commit']}`  ",
        f"Machine: {results['machine']}  ",
        f"Wall time: {results['timings_s']['total'] / 60:.1f} min  ",
        f"Seeds: {results['seeds']}; epochs {cfg['epochs']}, lr step {cfg['lr_step']}, "
        f"channels {cfg['channels']}, pooling {cfg.get('pooling')}, "
        f"split_hz {cfg['split_hz']:g}, time shift "
        f"{cfg['time_shift']}, per-view loss weight {cfg['per_view_weight']}, "
        f"{cfg['repeats']} test passes"
        + (" (QUICK RUN: not a result)" if results["quick"] else ""),
        "",
        "Accuracy (%) with 95% CI on the 10 test classes, paper's protocol. "
        "'diff' is ours minus the paper's; 'within' says whether |diff| is inside the "
        "combined CI sqrt(ci_ours^2 + ci_paper^2).",
        "",
        "| model | setting | ours | paper | diff | within | untrained floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, entry in results["models"].items():
        for s in SETTING_NAMES:
            m = entry["mean"][s]
            p, pci = PAPER_TABLES[PAPER_TABLES_FOR[kind]][s]
            diff = m["accuracy"] - p
            comb = float(np.hypot(m["ci95"], pci))
            seed = f" (seed sd {m['seed_std']:.2f})" if m.get("seed_std") else ""
            floor = ""
            if entry.get("untrained"):
                floor = f"{np.mean([f[s]['accuracy'] for f in entry['untrained']]):.2f}"
            lines.append(
                f"| {MODEL_TITLES[kind]} | {s} | {m['accuracy']:.2f} ± {m['ci95']:.2f}{seed} | "
                f"{p:.2f} ± {pci:.2f} | {diff:+.2f} | {'yes' if abs(diff) <= comb else 'no'} "
                f"| {floor} |"
            )
    if "baseline" in results["models"]:
        base = results["models"]["baseline"]["mean"]
        lines += ["", "Gain over our baseline (paper's gain in brackets):", "",
                  "| model | " + " | ".join(SETTING_NAMES) + " |",
                  "|---" * 5 + "|"]
        for kind in ("halluaudio", "time_concept", "halluaudio_crop"):
            if kind in results["models"]:
                m = results["models"][kind]["mean"]
                paper = PAPER_TABLES[PAPER_TABLES_FOR[kind]]
                cells = [
                    f"{m[s]['accuracy'] - base[s]['accuracy']:+.2f} "
                    f"({paper[s][0] - PAPER_TABLES['baseline'][s][0]:+.2f})"
                    for s in SETTING_NAMES
                ]
                lines.append(f"| {MODEL_TITLES[kind]} | " + " | ".join(cells) + " |")
    if results.get("sweep"):
        lines += ["", "Split-frequency sweep (HalluAudio trained on the 35 training classes, "
                  "scored on the 5 validation classes, paper protocol):", "",
                  "| split_hz | 5-way 1-shot | 5-way 5-shot |", "|---|---|---|"]
        for r in results["sweep"]:
            lines.append(f"| {r['split_hz']:g} | {r['5-way 1-shot']:.2f} ± "
                         f"{r['5-way 1-shot ci95']:.2f} | {r['5-way 5-shot']:.2f} ± "
                         f"{r['5-way 5-shot ci95']:.2f} |")
    hallu = results["models"].get("halluaudio")
    if hallu and hallu["per_seed"] and "frequency_importance" in hallu["per_seed"][0]:
        lines += ["", "Frequency importance on the test classes (5-way 5-shot episodes; "
                  "correct with high band alone / correct with low band alone, seed "
                  f"{hallu['per_seed'][0]['seed']}):", "", "| class | ratio | high | low |",
                  "|---|---|---|---|"]
        for c, v in sorted(hallu["per_seed"][0]["frequency_importance"].items(),
                           key=lambda kv: -kv[1]["ratio"]):
            lines.append(f"| {c} | {v['ratio']:.2f} | {v['correct_high']} | {v['correct_low']} |")
    lines += ["", "Timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in
                                             results["timings_s"].items()), ""]
    return "\n".join(lines)


def plot_outputs(results, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .inspection import plot_frequency_importance

    hallu = results["models"].get("halluaudio")
    if hallu and "frequency_importance" in hallu["per_seed"][0]:
        fi = hallu["per_seed"][0]["frequency_importance"]
        ax = plot_frequency_importance(
            {"classes": list(fi), "ratio": [v["ratio"] for v in fi.values()]},
            title="Frequency importance, ESC-50 test classes")
        ax.figure.savefig(out / "frequency_importance.png", dpi=120)
        plt.close(ax.figure)
    if results.get("sweep"):
        fig, ax = plt.subplots(figsize=(5, 3.2))
        hz = [r["split_hz"] for r in results["sweep"]]
        for s in ("5-way 1-shot", "5-way 5-shot"):
            ax.errorbar(hz, [r[s] for r in results["sweep"]],
                        yerr=[r[s + " ci95"] for r in results["sweep"]], marker="o", label=s,
                        capsize=3)
        ax.set_xscale("log")
        ax.set_xlabel("split frequency (Hz)")
        ax.set_ylabel("validation accuracy (%)")
        ax.set_title("HalluAudio: where to split (validation classes)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "split_sweep.png", dpi=120)
        plt.close(fig)
    if results["models"]:
        fig, ax = plt.subplots(figsize=(7, 3.4))
        kinds = list(results["models"])
        width = 0.8 / (2 * len(kinds))
        x = np.arange(len(SETTING_NAMES))
        for j, kind in enumerate(kinds):
            m = results["models"][kind]["mean"]
            ax.bar(x + (2 * j) * width, [m[s]["accuracy"] for s in SETTING_NAMES], width,
                   yerr=[m[s]["ci95"] for s in SETTING_NAMES], label=f"{kind} (ours)")
            ax.bar(x + (2 * j + 1) * width,
                   [PAPER_TABLES[PAPER_TABLES_FOR[kind]][s][0] for s in SETTING_NAMES],
                   width, alpha=0.45, label=f"{kind} (paper)")
        ax.set_xticks(x + width * (len(kinds) - 0.5), SETTING_NAMES)
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(30, 95)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(out / "accuracy_vs_paper.png", dpi=120)
        plt.close(fig)


def build_parser(parser=None):
    p = parser or argparse.ArgumentParser(
        prog="python -m sklearn_hallu.reproduce",
        description="Reproduce HalluAudio's ESC-50 results (Tables 1 and 2, Figure 4).")
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
    p.add_argument("--epochs", type=int, default=None, help="default 60 (paper)")
    p.add_argument("--episodes", type=int, default=None,
                   help="episodes per epoch; default one pass over the training clips (28)")
    p.add_argument("--lr-step", type=int, default=None, help="default 20 epochs (paper)")
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
    p.add_argument("--per-view-weight", type=float, default=0.0)
    p.add_argument("--crop-views", action="store_true",
                   help="feed band views only their own rows (a model variant)")
    p.add_argument("--val-episodes", type=int, default=300)
    p.add_argument("--repeats", type=int, default=None, help="test passes; default 50 (paper)")
    p.add_argument("--floor", action="store_true",
                   help="also test each architecture untrained (the floor)")
    p.add_argument("--features-cache", default=None,
                   help=".npz file of log-mel features: read if present, else written")
    p.add_argument("--stage", default="all", choices=["all", "test"],
                   help="'test' loads the models saved in OUT/models instead of training")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    run(args)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
