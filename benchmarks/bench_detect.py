"""Few-shot sound event detection in long recordings (issue 24): F1, open-set AUROC, speed.

"Here are five examples of this sound: where else does it occur?" On soundscapes made
with ``make_soundscape`` (2+ minutes each, pink/white/brown noise backgrounds, events
of ESC-50 classes at 0-20 dB SNR, overlapping), in DCASE Task 5's mode: the first 5
events of each of 2 target classes are the support, the other classes' events are
distractors, and the rest of the target events are to be found. Scored with the
event-based F-measure at IoU >= 0.3 (``sklearn_hallu.detection.event_scores``, DCASE
Task 5's matching), beside two references run here on the same soundscapes:

* the energy detector (``energy_events``: frames louder than the noise floor; it does
  not tell classes apart, so it is scored class-agnostically, and so is ours beside it);
* window classification without a background model (``detect_events(background=False)``:
  nearest support class within OpenSetClassifier's leave-one-out distance threshold).

Models: a baseline (whole log-mel) and a HalluAudio (whole + low + high views), 64
channels, trained here for ``--epochs`` epochs on ESC-50's 35 training classes at the
library's default log-mel (cached as .joblib under benchmarks/results/detect_models/,
gitignored). Every detection default of the library (window, hop, background
prototypes, threshold, smoothing, minimum duration, the energy detector's threshold)
was chosen by ``--stage tune`` on soundscapes of ESC-50's 5 VALIDATION classes with
other seeds (benchmarks/results/detect_tuning.json); ``--stage test`` scores the 10
TEST classes with the library defaults only. ``--stage speed`` writes a 1-hour
soundscape to a temporary wav and runs ``sklearn-hallu detect`` on it in a
subprocess: seconds of audio per second and peak RSS (resource.getrusage of the
child).

Writes benchmarks/results/detect.json and detect.md (stages test and speed).

    python benchmarks/bench_detect.py [--stage all|train|tune|test|speed] [--epochs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MODELS = RESULTS / "detect_models"
SR = 16000
ROOT_DEFAULT = HERE.parent.parent / "shared" / "data" / "esc50"


def esc50_home(arg):
    return arg or os.environ.get("SKLEARN_HALLU_ESC50") or str(ROOT_DEFAULT)


# ------------------------------------------------------------------ models
def train_models(data_home, epochs, seed=0, names=("baseline", "halluaudio")):
    """Baseline and HalluAudio on the 35 ESC-50 training classes; cached; fit times."""
    import joblib
    from sklearn.pipeline import Pipeline

    from sklearn_hallu import FrequencyMaskTransformer, HalluAudioClassifier, LogMelTransformer
    from sklearn_hallu.datasets import fetch_esc50

    MODELS.mkdir(parents=True, exist_ok=True)
    out, info, S = {}, {}, None
    for name in names:
        path = MODELS / f"{name}_e{epochs}_s{seed}.joblib"
        if path.is_file():
            out[name], info[name] = joblib.load(path)
            continue
        if S is None:
            b = fetch_esc50(data_home, subset="train", download_if_missing=False)
            logmel = LogMelTransformer()  # the library's default log-mel (5 s, 16 kHz)
            t = time.perf_counter()
            S, y = logmel.fit_transform(list(b.filenames)), b.category.astype(str)
            logmel_s = time.perf_counter() - t
        clf = HalluAudioClassifier(max_epochs=epochs, lr_step=max(1, 2 * epochs // 3),
                                   channels=(64, 64, 64), time_shift=(20, 139),
                                   random_state=seed, verbose=0)
        steps = [("clf", clf)] if name == "baseline" else [
            ("masks", FrequencyMaskTransformer(split_hz=2000.0)), ("clf", clf)]
        t = time.perf_counter()
        head = Pipeline(steps).fit(S, y)
        fit_s = time.perf_counter() - t
        model = Pipeline([("logmel", LogMelTransformer().fit(np.zeros((1, 5 * SR), np.float32)))]
                         + head.steps)
        info[name] = {"fit_s": round(fit_s, 1), "logmel_s": round(logmel_s, 1),
                      "epochs": epochs, "channels": [64, 64, 64], "n_train_clips": len(y),
                      "n_train_classes": int(len(np.unique(y)))}
        joblib.dump((model, info[name]), path)
        out[name] = model
        print(f"trained {name}: {info[name]}", flush=True)
    return out, info


# ------------------------------------------------------------------ soundscapes
def load_split(data_home, split):
    """ESC-50 clips of a split's classes at 16 kHz, and their class names."""
    from sklearn_hallu.datasets import fetch_esc50

    b = fetch_esc50(data_home, subset=split, load_audio=True, sr=SR, download_if_missing=False)
    return b.data, b.category.astype(str)


def soundscapes(clips, labels, seeds, duration):
    """One soundscape per seed: 2 target classes (70% of the events), the others distractors.

    Yields ``(seed, wave, events, targets)``; ``events`` holds every event placed.
    """
    from sklearn_hallu.datasets import make_soundscape

    classes = np.unique(labels)
    for seed in seeds:
        rng = np.random.default_rng(10_000 + seed)
        targets = sorted(rng.choice(classes, 2, replace=False).tolist())
        others = [c for c in classes if c not in targets]
        weights = {c: 0.35 for c in targets} | {c: 0.3 / len(others) for c in others}
        wave, events = make_soundscape(
            clips, labels, sr=SR, duration=duration, events_per_minute=6,
            background=["white", "pink", "brown"][seed % 3], class_weights=weights,
            random_state=seed)
        yield seed, wave, events, targets


def dcase_split(events, targets, n_support=5):
    """The support (first ``n_support`` events of each target), the events to find, and
    per target the end of its support (DCASE scores what comes after)."""
    support, ends = [], {}
    for t in targets:
        mine = [e for e in events if e[2] == t]
        support += mine[:n_support]
        ends[t] = mine[n_support - 1][1] if len(mine) >= n_support else np.inf
    ref = [e for e in events if e[2] in targets]
    return sorted(support), ref, ends


def add_counts(total, scores):
    for k in ("tp", "fp", "fn"):
        total[k] = total.get(k, 0) + scores[k]


def f1_of(c):
    tp, fp, fn = c.get("tp", 0), c.get("fp", 0), c.get("fn", 0)
    return {"f1": 2 * tp / max(1, 2 * tp + fp + fn), "precision": tp / max(1, tp + fp),
            "recall": tp / max(1, tp + fn), **c}


def sed_eval_f1(pairs):
    """sed_eval's event-based F1 (collar 200 ms, offsets within 50% of the length),
    over ``pairs`` of (file, reference, estimated), or why it is unavailable."""
    try:
        import sed_eval
        from dcase_util.containers import MetaDataContainer
    except Exception as exc:  # dcase_util needs pkg_resources (setuptools < 82)
        return {"unavailable": f"{type(exc).__name__}: {exc}"}
    labels = sorted({str(e[2]) for _, ref, est in pairs for e in ref + est})
    metric = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=labels, t_collar=0.2, percentage_of_length=0.5)
    def box(name, events):
        return MetaDataContainer([{"filename": name, "event_label": str(e[2]),
                                   "onset": float(e[0]), "offset": float(e[1])}
                                  for e in events])

    for name, ref, est in pairs:
        metric.evaluate(reference_event_list=box(name, ref), estimated_event_list=box(name, est))
    overall = metric.results_overall_metrics()
    from importlib.metadata import version

    return {"sed_eval": version("sed_eval"), "dcase_util": version("dcase_util"),
            "f1": overall["f_measure"]["f_measure"],
            "precision": overall["f_measure"]["precision"],
            "recall": overall["f_measure"]["recall"]}


# ------------------------------------------------------------------ tuning (validation)
TUNE_WINDOWS = (5.0, 2.0, 1.0)
TUNE_BACKGROUND = (1, 2, 4)
TUNE_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
TUNE_SMOOTHING = (0.0, 0.5, 1.0, 1.5, 2.0)  # in windows
TUNE_MIN_DURATION = (0.0, 0.25, 0.5, 1.0)  # in windows
TUNE_ENERGY_DB = (1.5, 3.0, 4.5, 6.0, 10.0)
TUNE_ENERGY_SMOOTHING = (0.25, 0.5, 1.0, 2.0, 3.0)


def tune(models, data_home, seeds, duration):
    """Grid on soundscapes of the validation classes; the best setting by pooled F1."""
    from sklearn_hallu.detection import detect_events, energy_events, event_scores

    clips, labels = load_split(data_home, "validation")
    scapes = list(soundscapes(clips, labels, seeds, duration))
    counts, energy = {}, {}
    for seed, wave, events, targets in scapes:
        support, ref, ends = dcase_split(events, targets)
        for name, model in models.items():
            for window in TUNE_WINDOWS:
                for k in TUNE_BACKGROUND:
                    _, sc = detect_events(model, wave, support_events=support, window=window,
                                          background=k, progress=False, return_scores=True)
                    for thr in TUNE_THRESHOLDS:
                        for sm in TUNE_SMOOTHING:
                            for md in TUNE_MIN_DURATION:
                                est = sc.events(threshold=thr, smoothing=sm * window,
                                                min_duration=md * window)
                                key = (window, k, thr, sm, md)
                                add_counts(counts.setdefault(key, {}),
                                           event_scores(ref, est, start=ends))
            print(f"tune: soundscape {seed} {name} done", flush=True)
        for db in TUNE_ENERGY_DB:
            for sm in TUNE_ENERGY_SMOOTHING:
                est = energy_events(wave, sr=SR, threshold_db=db, smoothing=sm)
                add_counts(energy.setdefault((db, sm), {}),
                           event_scores(ref, est, start=max(ends.values()), labels=False))
    grid = sorted(({"window": k[0], "background": k[1], "threshold": k[2],
                    "smoothing_windows": k[3], "min_duration_windows": k[4], **f1_of(c)}
                   for k, c in counts.items()),
                  key=lambda r: -r["f1"])
    egrid = sorted(({"threshold_db": k[0], "smoothing": k[1], **f1_of(c)}
                    for k, c in energy.items()), key=lambda r: -r["f1"])
    return {"classes": sorted(set(labels.tolist())), "seeds": list(seeds),
            "duration_s": duration, "models": list(models), "best": grid[0],
            "top10": grid[:10],
            "grid_at_best_window_background": [r for r in grid if (r["window"], r["background"])
                                               == (grid[0]["window"], grid[0]["background"])],
            "by_window_background": _best_per(grid, ("window", "background")),
            "energy_best": egrid[0], "energy_grid": egrid}


def _best_per(grid, keys):
    seen = {}
    for r in grid:  # sorted best first
        seen.setdefault(tuple(r[k] for k in keys), r)
    return list(seen.values())


# ------------------------------------------------------------------ test classes
def _windows_at(wave, starts_s, window, n_model):
    """Waveforms of ``window`` seconds from each start, padded to the model's clip."""
    n = int(round(window * SR))
    out = np.zeros((len(starts_s), n_model), dtype=np.float32)
    for k, s in enumerate(starts_s):
        piece = wave[int(round(s * SR)): int(round(s * SR)) + n]
        out[k, : piece.shape[0]] = piece
    return out


def open_set_auroc(model, wave, events, support, targets, scores, rng, n=100):
    """Open-set AUROC of windows of target events (known) vs the rest (background and
    distractors, unknown): ``open_set_report`` of an OpenSetClassifier on the support
    windows (nearest-prototype distance only), and the detector's own score (the
    highest class probability against the background) on the same windows."""
    from sklearn.metrics import roc_auc_score

    from sklearn_hallu.open_set import OpenSetClassifier, open_set_report

    n_model, win = int(round(model[0].duration * SR)), scores.window
    centre = scores.start + win / 2
    after = centre > max(scores.support_end.values())
    inside = np.zeros((len(centre), len(targets)), dtype=bool)
    for on, off, label in events:
        if label in targets:
            inside[:, targets.index(label)] |= (centre >= on) & (centre < off)
    known = np.flatnonzero(after & (inside.sum(1) == 1))
    unknown = np.flatnonzero(after & ~inside.any(1))
    if known.size == 0 or unknown.size == 0:
        return None  # no target event after the support (or no other window) to score
    known = rng.choice(known, min(n, known.size), replace=False)
    unknown = rng.choice(unknown, min(n, unknown.size), replace=False)
    sup_starts = [min(max(0.0, (on + off - win) / 2), len(wave) / SR - win)
                  for on, off, _ in support]
    osc = OpenSetClassifier(model).fit(_windows_at(wave, sup_starts, win, n_model),
                                       [e[2] for e in support])
    y_known = np.asarray(targets)[inside[known].argmax(1)]
    rep = open_set_report(osc, _windows_at(wave, scores.start[known], win, n_model), y_known,
                          _windows_at(wave, scores.start[unknown], win, n_model))
    p = scores.proba.max(1)
    det = roc_auc_score(np.r_[np.ones(known.size), np.zeros(unknown.size)],
                        np.r_[p[known], p[unknown]])
    return rep["auroc"], float(det), int(known.size), int(unknown.size)


def test_classes(models, data_home, seeds, duration):
    """Every detector on soundscapes of the test classes, with the library's defaults."""
    from sklearn_hallu.detection import detect_events, energy_events, event_scores

    clips, labels = load_split(data_home, "test")
    counts, per_scape, sed_pairs, auroc = {}, [], {}, {m: [] for m in models}
    rng = np.random.default_rng(0)
    for seed, wave, events, targets in soundscapes(clips, labels, seeds, duration):
        support, ref, ends = dcase_split(events, targets)
        late = max(ends.values())
        row = {"seed": seed, "targets": targets, "n_events": len(events),
               "n_target_events_scored": sum(e[0] >= ends[e[2]] for e in ref)}
        runs = {"energy": (energy_events(wave, sr=SR), None)}
        for name, model in models.items():
            t = time.perf_counter()
            runs[name] = detect_events(model, wave, support_events=support, progress=False,
                                       return_scores=True)
            row[f"{name}_s"] = time.perf_counter() - t
            runs[f"{name}_no_background"] = (detect_events(
                model, wave, support_events=support, background=False, progress=False), None)
            a = open_set_auroc(model, wave, events, support, targets, runs[name][1], rng)
            if a is not None:
                auroc[name].append(a)
        for name, (est, _) in runs.items():
            modes = [("any_label", False, late)] + ([] if name == "energy" else
                                                    [("label", True, ends)])
            for mode, lab, start in modes:
                s = event_scores(ref, est, labels=lab, start=start)
                add_counts(counts.setdefault((name, mode), {}), s)
                row[f"{name}_{mode}_f1"] = round(s["f1"], 4)
            if name != "energy":
                sed_pairs.setdefault(name, []).append(
                    (f"scape{seed}", [e for e in ref if e[0] >= ends[e[2]]],
                     [tuple(e[:3]) for e in est]))
        per_scape.append(row)
        print(f"test: soundscape {seed}: " + ", ".join(
            f"{k}={v}" for k, v in row.items() if k.endswith("f1")), flush=True)
    return {"f1": {f"{n}/{m}": f1_of(c) for (n, m), c in counts.items()},
            "sed_eval_event_f1": {n: sed_eval_f1(p) for n, p in sed_pairs.items()},
            "open_set": {m: {"open_set_report_auroc": float(np.mean([a[0] for a in v])),
                             "detector_auroc": float(np.mean([a[1] for a in v])),
                             "n_known_windows": int(sum(a[2] for a in v)),
                             "n_unknown_windows": int(sum(a[3] for a in v)),
                             "n_soundscapes": len(v)}
                         for m, v in auroc.items()},
            "per_soundscape": per_scape, "classes": sorted(set(labels.tolist())),
            "seeds": list(seeds), "duration_s": duration}


# ------------------------------------------------------------------ speed and memory
RUNNER = """import json, sys, time
from sklearn_hallu.detection import detect_events, read_events, write_events
from sklearn_hallu.persistence import load
model, wav, ann, out = sys.argv[1:5]
pipe = load(model)
t = time.perf_counter()
events = detect_events(pipe, wav, support_events=read_events(ann), progress=False)
took = time.perf_counter() - t
write_events(out, events)
print(json.dumps({"detect_s": took, "n_events": len(events)}))
"""


def _has_detect_command():
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "sklearn_hallu.apps.cli", "detect", "--help"],
                          capture_output=True, text=True)
    return proc.returncode == 0


# The child's peak RSS comes from getrusage(RUSAGE_CHILDREN) in a small launcher process:
# Linux carries the peak of the process that forks and execs a child into the child's own
# ru_maxrss (exec_mmap keeps the old mm's high-water mark), so measured straight from this
# process, which held the hour of audio, every child would read at least this one's peak.
LAUNCHER = """import json, resource, subprocess, sys
rc = subprocess.call(sys.argv[1:])
print(json.dumps({"rc": rc, "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def _run_child(cmd, log, threads=None):
    """Run ``cmd`` through the launcher; its wall time, exit status and peak RSS (GiB)."""
    import subprocess

    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # torch's thread count in the child
    with open(log, "w") as f:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], stdout=subprocess.PIPE,
                              stderr=f, env=env, text=True)
        wall = time.perf_counter() - t
    lines = proc.stdout.strip().splitlines()
    with open(log, "a") as f:
        f.write("\n".join(lines[:-1]) + "\n")
    res = json.loads(lines[-1])
    return wall, res["rc"], res["maxrss_kib"] / 2**20  # KiB on Linux -> GiB


def speed(models, data_home, hours=1.0, seed=999, threads=None):
    """A ``hours``-long soundscape in a temporary wav, searched by a child process per model."""
    import resource
    import tempfile

    from sklearn_hallu.datasets import write_soundscape
    from sklearn_hallu.persistence import dump

    clips, labels = load_split(data_home, "test")
    _, wave, events, targets = next(soundscapes(clips, labels, [seed], hours * 3600))
    out = {"hours": hours, "n_events": len(events), "cli": _has_detect_command()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wav, _ = write_soundscape(tmp / "long.wav", wave, events, sr=SR)
        ann = tmp / "targets.csv"
        ann.write_text("onset,offset,label\n" + "".join(
            f"{a},{b},{c}\n" for a, b, c in events if c in targets))
        out["wav_mb"] = round(wav.stat().st_size / 2**20, 1)
        del wave
        for name, model in models.items():
            dump(model, tmp / f"{name}.skops")
            res = tmp / f"{name}.csv"
            if out["cli"]:
                cmd = [sys.executable, "-m", "sklearn_hallu.apps.cli", "detect",
                       str(tmp / f"{name}.skops"), str(wav), "--first-events", str(ann),
                       "--n-events", "5", "--out", str(res), "--no-progress"]
            else:  # the same through the public API, until the command is hooked in
                cmd = [sys.executable, "-c", RUNNER, str(tmp / f"{name}.skops"), str(wav),
                       str(ann), str(res)]
            wall, rc, rss = _run_child(cmd, tmp / f"{name}.log", threads)
            log = (tmp / f"{name}.log").read_text()
            if "detect_s" not in log and "real time" not in log:
                log += " (no timing line)"
            if rc != 0:
                raise RuntimeError(f"{name}: the detection child failed:\n{log[-3000:]}")
            out[name] = {"wall_s": round(wall, 1), "peak_rss_gib": round(rss, 3),
                         "audio_s_per_s": round(hours * 3600 / wall, 1),
                         "log_tail": log.strip().splitlines()[-1][-300:]}
            print(f"speed {name}: {out[name]}", flush=True)
    out["children_max_rss_gib"] = round(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 3)
    return out


# ------------------------------------------------------------------ report
def _f1_line(res, key):
    r = res["f1"].get(key)
    return "-" if r is None else f"{r['f1']:.3f} (P {r['precision']:.2f}, R {r['recall']:.2f})"


def markdown(out):
    """detect.md: the tables of detect.json."""
    runs = "; ".join(f"`{r['command']}` ({r['wall_s']} s)" for r in out.get("runs", []))
    lines = ["# Few-shot event detection in long recordings (benchmarks/bench_detect.py)", "",
             f"Runs (wall time): {runs}; machine: {out['machine']}.", ""]
    for name, info in out.get("models", {}).items():
        lines.append(f"- model `{name}`: {info['epochs']} epochs, channels {info['channels']}, "
                     f"{info['n_train_classes']} ESC-50 training classes "
                     f"({info['n_train_clips']} clips), fit {info['fit_s']} s "
                     f"(+ {info['logmel_s']} s of log-mel)")
    res = out.get("test")
    if res:
        lines += ["", f"Event-based F1 at IoU >= 0.3 over {len(res['seeds'])} soundscapes of "
                  f"{res['duration_s']:g} s (ESC-50 test classes {', '.join(res['classes'])}; "
                  "2 target classes each, first 5 events of each the support, the other "
                  "classes distractors). Micro-averaged.", "",
                  "| detector | F1, labels must match | F1, any label |", "|---|---|---|"]
        for name in ("baseline", "halluaudio", "baseline_no_background",
                     "halluaudio_no_background", "energy"):
            lines.append(f"| {name} | {_f1_line(res, name + '/label')} | "
                         f"{_f1_line(res, name + '/any_label')} |")
        lines += ["", "sed_eval event-based F1 (collar 200 ms, offset 50%), labels must match: "
                  + json.dumps(res["sed_eval_event_f1"]), "",
                  "| model | open_set_report AUROC (no background) | detector AUROC "
                  "(with background) | windows known / unknown |", "|---|---|---|---|"]
        for m, r in res["open_set"].items():
            lines.append(f"| {m} | {r['open_set_report_auroc']:.3f} | {r['detector_auroc']:.3f}"
                         f" | {r['n_known_windows']} / {r['n_unknown_windows']} |")
    sp = out.get("speed")
    if sp:
        how = "`sklearn-hallu detect`" if sp["cli"] else "detect_events via the public API"
        lines += ["", f"Speed and memory: a {sp['hours']:g}-hour soundscape ({sp['wav_mb']} MB "
                  f"wav), {how} in a child process (peak RSS from its rusage):", "",
                  "| model | wall (s) | audio s per s (whole run) | detection only | peak RSS "
                  "(GiB) |", "|---|---|---|---|---|"]
        for m in out.get("models", {}):
            r = sp.get(m)
            if r:
                lines.append(f"| {m} | {r['wall_s']} | {r['audio_s_per_s']} | "
                             f"{r.get('detect_audio_s_per_s', '-')} | {r['peak_rss_gib']} |")
    if out.get("targets"):
        lines += ["", "Targets: " + "; ".join(f"{k}: {'met' if v else 'MISSED'}"
                                             for k, v in out["targets"].items())]
    return "\n".join(lines) + "\n"


def _detect_rate(entry, hours):
    import re

    m = re.search(r'"detect_s": ([\d.]+)', entry["log_tail"]) or re.search(
        r"\(([\d.]+) s, \d+x real time", entry["log_tail"])
    if m:
        entry["detect_audio_s_per_s"] = round(hours * 3600 / float(m.group(1)), 1)


def targets(out):
    t = {}
    res, sp = out.get("test"), out.get("speed")
    if res:
        for m in ("baseline", "halluaudio"):
            ours = res["f1"][f"{m}/label"]["f1"]
            t[f"{m}: F1 above the energy detector"] = ours > res["f1"]["energy/any_label"]["f1"]
            t[f"{m}: F1 above no background"] = ours > res["f1"][
                f"{m}_no_background/label"]["f1"]
    if sp:
        for m in ("baseline", "halluaudio"):
            if m in sp:
                t[f"{m}: 1 hour under 2 GiB peak RSS"] = sp[m]["peak_rss_gib"] < 2
        if "baseline" in sp:
            t["baseline: >= 50x real time (whole run)"] = sp["baseline"]["audio_s_per_s"] >= 50
    return t


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", choices=["all", "train", "tune", "test", "speed"], default="all")
    p.add_argument("--data-home", default=None)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--n-soundscapes", type=int, default=20)
    p.add_argument("--duration", type=float, default=300.0, help="seconds per soundscape")
    p.add_argument("--hours", type=float, default=1.0, help="length of the speed recording")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--n-tune", type=int, default=10, help="validation soundscapes to tune on")
    p.add_argument("--models", nargs="+", default=["baseline", "halluaudio"],
                   choices=["baseline", "halluaudio"])
    args = p.parse_args()
    import torch

    from sklearn_hallu.utils import tune_cpu_allocator

    tune_cpu_allocator()
    if args.threads:
        torch.set_num_threads(args.threads)
    home = esc50_home(args.data_home)
    t0 = time.perf_counter()
    models, info = train_models(home, args.epochs, names=args.models)
    if args.stage == "tune":
        res = tune(models, home, range(100, 100 + args.n_tune), args.duration)
        res["command"] = "python benchmarks/bench_detect.py " + " ".join(sys.argv[1:])
        (RESULTS / "detect_tuning.json").write_text(json.dumps(res, indent=1, default=str))
        print(json.dumps({k: res[k] for k in ("best", "energy_best")}, indent=1))
        return
    path = RESULTS / "detect.json"
    out = json.loads(path.read_text()) if args.stage in ("test", "speed") and path.is_file() \
        else {}
    out |= {"command": "python benchmarks/bench_detect.py " + " ".join(sys.argv[1:]),
           "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} "
                      f"CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads)",
           "models": info}
    if args.stage in ("all", "test"):
        out["test"] = test_classes(models, home, range(args.n_soundscapes), args.duration)
    if args.stage in ("all", "speed"):
        out["speed"] = speed(models, home, args.hours, threads=args.threads)
        for m in models:
            _detect_rate(out["speed"][m], args.hours)
    out["targets"] = targets(out)
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    out.setdefault("runs", []).append({"command": out["command"], "wall_s": out["wall_s"]})
    out["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    if args.stage != "train":
        (RESULTS / "detect.json").write_text(json.dumps(out, indent=1, default=str))
        (RESULTS / "detect.md").write_text(markdown(out))
        print(markdown(out))


if __name__ == "__main__":
    main()
