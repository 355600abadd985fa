"""GridSearchCV with n_jobs=1 vs n_jobs=2 (loky): where the time goes, and torch's threads.

Answers two questions on this machine:

* How many torch threads does a loky worker run? joblib gives its workers
  ``OMP_NUM_THREADS`` (and MKL/OpenBLAS...) = ``cpu_count() // n_jobs`` unless the
  parent sets the variable; torch reads it at import. The script reports what the
  workers report (``torch.get_num_threads()``), as run and with the variables removed
  from this process's environment first (what joblib then computes, and what fresh
  workers then see).
* What does a small search cost with n_jobs=2? Wall time of the same search with
  ``n_jobs=1``, with ``n_jobs=2`` on fresh workers ("cold": they start and import
  torch and sklearn_hallu) and again on the same workers ("warm"), and the fits' own
  time (``mean_fit_time`` summed over candidates and folds) in each: if the workers'
  fits were slower than the sequential ones, the threads would be oversubscribed; if
  only the wall time grows, it is the workers' start-up.

Times are best-of-``--rounds`` per setting, in one run, interleaved, after one untimed
search in this process; report them as ratios (the machine may be shared). Writes
benchmarks/results/n_jobs.json.

    python benchmarks/bench_n_jobs.py [--rounds 2] [--epochs 3]
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import joblib
import numpy as np
import torch
from joblib import Parallel, delayed
from joblib._parallel_backends import LokyBackend
from joblib.externals.loky import get_reusable_executor
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sklearn_hallu import FrequencyMaskTransformer, HalluAudioClassifier, LogMelTransformer
from sklearn_hallu.datasets import make_sounds
from sklearn_hallu.model_selection import ClassKFold, FewShotScorer

OUT = Path(__file__).resolve().parent / "results" / "n_jobs.json"
LOGMEL = dict(sr=8000, n_mels=32, n_fft=256, hop_length=128, fmax=4000.0, duration=0.5)
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def make_search(epochs, n_jobs, n_threads=None):
    """The README's search, small: 10 classes, 2 class folds, 4 split frequencies."""
    pipe = Pipeline([
        ("logmel", LogMelTransformer(**LOGMEL)),
        ("masks", FrequencyMaskTransformer(1000.0, sr=8000, n_mels=32, fmax=4000.0)),
        ("clf", HalluAudioClassifier(n_way=5, k_shot=3, n_query=3, max_epochs=epochs,
                                     channels=(16, 16, 16), random_state=0,
                                     n_threads=n_threads)),
    ])
    return GridSearchCV(pipe, {"masks__split_hz": [500.0, 1000.0, 2000.0, 3000.0]},
                        cv=ClassKFold(2, min_classes=5, random_state=0),
                        scoring=FewShotScorer(5, 1, n_episodes=100), refit=False,
                        n_jobs=n_jobs, error_score="raise")


def worker_threads():
    """What a worker sees: its pid, torch's intra-op threads, its OMP_NUM_THREADS."""
    return os.getpid(), torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")


def joblib_default_env(n_jobs):
    """Without the thread variables in the parent: what joblib computes for its loky
    workers, and what fresh workers then report (their torch reads OMP_NUM_THREADS)."""
    saved = {v: os.environ.pop(v) for v in THREAD_VARS if v in os.environ}
    try:
        env = LokyBackend()._prepare_worker_env(n_jobs=n_jobs)
        get_reusable_executor().shutdown(wait=True)
        seen = Parallel(n_jobs=n_jobs)(delayed(worker_threads)() for _ in range(2 * n_jobs))
        get_reusable_executor().shutdown(wait=True)
    finally:
        os.environ.update(saved)
    return {"env": {v: env[v] for v in THREAD_VARS},
            "workers_seen": sorted({(p[1], p[2]) for p in seen})}


def run(search, X, y):
    t = time.perf_counter()
    search.fit(X, y)
    wall = time.perf_counter() - t
    fits = float(np.sum(search.cv_results_["mean_fit_time"]) * search.n_splits_)
    return wall, fits, search.cv_results_["mean_test_score"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    X, y = make_sounds(n_classes=10, n_per_class=12, sr=8000, duration=0.5, random_state=0)
    make_search(1, 1).fit(X, y)  # this process's first fit pays one-off costs: not timed
    load_before = os.getloadavg()
    times = {"n_jobs=1": [], "n_jobs=2 cold": [], "n_jobs=2 warm": []}
    fit_s = {k: [] for k in times}
    scores = {}
    for _ in range(args.rounds):
        for key in times:
            if key == "n_jobs=2 cold":
                get_reusable_executor().shutdown(wait=True)  # fresh workers
            n_jobs = 1 if key == "n_jobs=1" else 2
            wall, fits, sc = run(make_search(args.epochs, n_jobs), X, y)
            times[key].append(wall)
            fit_s[key].append(fits)
            scores[key] = sc
    probe = Parallel(n_jobs=2)(delayed(worker_threads)() for _ in range(4))
    get_reusable_executor().shutdown(wait=True)
    t = time.perf_counter()
    Parallel(n_jobs=2)(delayed(worker_threads)() for _ in range(2))
    start_s = time.perf_counter() - t
    best = {k: min(v) for k, v in times.items()}
    result = {
        "benchmark": "GridSearchCV n_jobs=1 vs n_jobs=2 (loky), torch threads in workers",
        "workload": "make_sounds(10 classes x 12, 8 kHz, 0.5 s); 4 split_hz x ClassKFold(2) "
                    f"= 8 fits of {args.epochs} epochs, channels (16, 16, 16), refit=False",
        "rounds": args.rounds,
        "wall_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "fits_s": {k: [round(t, 3) for t in v] for k, v in fit_s.items()},
        "wall_ratio_to_n_jobs_1": {k: round(v / best["n_jobs=1"], 2) for k, v in best.items()},
        "fits_ratio_to_n_jobs_1": {k: round(min(v) / min(fit_s["n_jobs=1"]), 2)
                                   for k, v in fit_s.items()},
        "same_scores": bool(all(np.array_equal(s, scores["n_jobs=1"])
                                for s in scores.values())),
        "loky_start_and_import_s": round(start_s, 3),
        "parent": {"torch_threads": torch.get_num_threads(),
                   "env": {v: os.environ.get(v) for v in THREAD_VARS}},
        "workers_seen": sorted({(p[1], p[2]) for p in probe}),
        "parent_unset_n_jobs_2": joblib_default_env(2),
        "cpu_count": joblib.cpu_count(),
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "versions": {"torch": torch.__version__, "joblib": joblib.__version__,
                     "python": platform.python_version()},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
