"""Grid search of the split frequency on the ESC-50 training classes (minutes on CPU).

Class-disjoint folds (ClassKFold) over the 35 training classes only (the test
classes stay untouched), a few-shot scorer, Pipeline caching of the log-mel step
(the search is run with and without the cache and both times are printed),
cv_results_ printed as a table, accuracy plotted against split frequency.

    python examples/grid_search_esc50.py [--data-home PATH] [--epochs 3] [--out results/grid]
"""

import argparse
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from joblib import Memory  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from sklearn_hallu import FrequencyMaskTransformer, HalluAudioClassifier, LogMelTransformer  # noqa: E402
from sklearn_hallu.datasets import fetch_esc50  # noqa: E402
from sklearn_hallu.model_selection import ClassKFold, FewShotScorer  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-home", default=None)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--clips-per-class", type=int, default=20)
    p.add_argument("--splits", type=float, nargs="+", default=[500, 1000, 2000, 4000])
    p.add_argument("--folds", type=int, default=5, help="class-disjoint folds")
    p.add_argument("--out", default="results/grid_search_esc50")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # File paths in, as with your own data: the cached log-mel step then saves decoding
    # and computing the spectrograms for every candidate (joblib hashes the paths, which is
    # cheap; hashing raw waveforms would cost about as much as recomputing log-mel).
    data = fetch_esc50(args.data_home, subset="train")
    keep = np.concatenate([np.flatnonzero(data.target == c)[: args.clips_per_class]
                           for c in np.unique(data.target)])
    files, y = data.filenames[keep].astype(str), data.category[keep].astype(str)

    def make_search(memory):
        pipe = Pipeline([
            ("logmel", LogMelTransformer()),
            ("masks", FrequencyMaskTransformer()),
            ("clf", HalluAudioClassifier(max_epochs=args.epochs, lr_step=max(1, args.epochs),
                                         channels=(16, 16, 16), time_shift=(20, 139),
                                         random_state=0)),
        ], memory=memory)
        return GridSearchCV(pipe, {"masks__split_hz": args.splits},
                            cv=ClassKFold(n_splits=args.folds, random_state=0),
                            scoring=FewShotScorer(n_way=5, k_shot=1, n_episodes=200), n_jobs=2)

    timings = {}
    for name, memory in (("cached", Memory(tempfile.mkdtemp(), verbose=0)), ("uncached", None)):
        t = time.perf_counter()
        search = make_search(memory).fit(files, y)
        timings[name] = time.perf_counter() - t
        print(f"{name}: {timings[name]:.1f} s", flush=True)
        if name == "cached":
            best = search
    table = pd.DataFrame(best.cv_results_)[
        ["param_masks__split_hz", "mean_test_score", "std_test_score", "mean_fit_time",
         "rank_test_score"]]
    print(table.to_string(index=False))
    print(f"best split: {best.best_params_}; caching saved "
          f"{timings['uncached'] - timings['cached']:.1f} s "
          f"({timings['uncached']:.1f} s -> {timings['cached']:.1f} s)")
    table.assign(**{f"time_{k}_s": v for k, v in timings.items()}).to_csv(
        out / "cv_results.csv", index=False)
    ax = table.plot(x="param_masks__split_hz", y="mean_test_score", yerr="std_test_score",
                    marker="o", logx=True, legend=False)
    ax.set_xlabel("split frequency (Hz)")
    ax.set_ylabel("5-way 1-shot accuracy, held-out training classes")
    ax.figure.tight_layout()
    ax.figure.savefig(out / "split_vs_accuracy.png", dpi=110)
    print(f"wrote {out / 'cv_results.csv'} and {out / 'split_vs_accuracy.png'}")


if __name__ == "__main__":
    main()
