"""Does a lever's training repeat exactly? Run records of the same runs, compared.

When the git-ignored models are lost with a machine, a screen's seeds are trained again
from the same frozen commit. This compares each run record (``research.ablation run``'s
``runs/<variant>_seed<k>.json``) present in both folders: the epoch the checkpoint rule
chose, the validation accuracy per epoch, the per-clip validation accuracies of the kept
model and the fit time. Writes a Markdown table (and prints it)::

    python -m research.repeat research/results/long2x/runs_stop48 \\
        research/results/long2x/runs --out research/results/long2x/repeat.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def compare(first, second):
    """One row of differences between two run records of the same variant and seed."""
    if (first["variant"], first["seed"]) != (second["variant"], second["seed"]):
        raise ValueError(
            f"the two run records are not the same run: {first['variant']} seed "
            f"{first['seed']} against {second['variant']} seed {second['seed']}")
    curve = [np.array([h["valid_acc"] for h in r["history"]]) for r in (first, second)]
    n = min(len(c) for c in curve)
    first_diff = np.flatnonzero(curve[0][:n] != curve[1][:n])
    clip_diff = max(float(np.max(np.abs(np.asarray(first["per_clip"][k])
                                        - np.asarray(second["per_clip"][k]))))
                    for k in first["per_clip"])
    return {
        "variant": first["variant"], "seed": first["seed"],
        "best_epoch": (first["best_epoch"], second["best_epoch"]),
        "best_valid_acc": (first["best_valid_acc"], second["best_valid_acc"]),
        "first_epoch_that_differs": int(first_diff[0]) + 1 if first_diff.size else None,
        "max_per_clip_diff": clip_diff,
        "fit_ratio": second["fit_s"] / first["fit_s"],
    }


def table(rows):
    """The rows as a Markdown table."""
    lines = ["| run | best epoch | best valid acc | first epoch whose validation accuracy "
             "differs | largest per-clip difference | fit time, second / first |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        first = r["first_epoch_that_differs"]
        lines.append(
            f"| {r['variant']} seed {r['seed']} | {r['best_epoch'][0]} / {r['best_epoch'][1]}"
            f" | {r['best_valid_acc'][0]:.4f} / {r['best_valid_acc'][1]:.4f}"
            f" | {'none (identical curves)' if first is None else first}"
            f" | {r['max_per_clip_diff']:.3f} | {r['fit_ratio']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("first", type=Path, help="folder of the earlier run records")
    p.add_argument("second", type=Path, help="folder of the run records trained again")
    p.add_argument("--out", type=Path, help="Markdown file to write")
    args = p.parse_args(argv)
    names = sorted({f.name for f in args.first.glob("*_seed*.json")}
                   & {f.name for f in args.second.glob("*_seed*.json")})
    if not names:
        p.error(f"no run record (*_seed*.json) is in both {args.first} and {args.second}")
    rows = [compare(json.loads((args.first / n).read_text()),
                    json.loads((args.second / n).read_text())) for n in names]
    text = (f"Run records in `{args.first}` (first) and `{args.second}` (second), "
            f"by `python -m research.repeat`.\n\n" + table(rows) + "\n")
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
