"""Compare feature/backbone choices on ESC-50's VALIDATION classes (never the test classes).

Trains a 64-channel baseline (20 epochs, lr /10 every 7) on the 35 training classes and
scores the 5 validation classes with the paper's protocol (20 passes). This is how the
defaults ``LogMelTransformer(ref="max")`` and ``HalluAudioClassifier(pooling="time_mean")``
were chosen. Appends one line per run to research/results/validation_probe.jsonl.

    python -m research.validation_probe --ref max --pooling time_mean
    python -m research.validation_probe --ref 1.0 --pooling flatten
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from sklearn_hallu import HalluAudioClassifier, LogMelTransformer
from sklearn_hallu.datasets import fetch_esc50
from sklearn_hallu.model_selection import few_shot_report
from sklearn_hallu.nn import POOLINGS


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-home", default=None)
    p.add_argument("--ref", default="max", help="'max' or a float")
    p.add_argument("--pooling", default="time_mean", choices=list(POOLINGS))
    p.add_argument("--epochs", type=int, default=20)
    args = p.parse_args()
    ref = args.ref if args.ref == "max" else float(args.ref)
    data = fetch_esc50(args.data_home)
    tr = np.isin(data.target, data.class_split["train"])
    va = np.isin(data.target, data.class_split["validation"])
    X = LogMelTransformer(ref=ref).transform(list(data.filenames[tr | va]))
    y = data.target[tr | va]
    tr, va = np.isin(y, data.class_split["train"]), np.isin(y, data.class_split["validation"])
    t = time.perf_counter()
    clf = HalluAudioClassifier(pooling=args.pooling, max_epochs=args.epochs, lr_step=7,
                               channels=(64, 64, 64), time_shift=(20, 139), random_state=0,
                               verbose=1, n_threads=2).fit(X[tr], y[tr])
    rep = few_shot_report(clf, X[va], y[va], settings=((5, 1), (5, 5)), n_repeats=20)
    row = {"ref": args.ref, "pooling": args.pooling, "epochs": args.epochs,
           "fit_and_score_s": time.perf_counter() - t,
           **{r["setting"]: [r["accuracy"], r["ci95"]] for r in rep.rows},
           "command": f"python -m research.validation_probe --ref {args.ref} "
                      f"--pooling {args.pooling}"}
    out = Path(__file__).parent / "results" / "validation_probe.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as fh:
        fh.write(json.dumps(row) + "\n")
    print(row)


if __name__ == "__main__":
    main()
