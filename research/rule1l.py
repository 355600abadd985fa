"""Rule 1L of a training-length screen: the late checkpoint rule on the probe classes.

A screen keeps each model's best epoch of all (``best``). For a lever that only trains
longer, one seed's two trainings are the same until the reference's first learning-rate
drop, so whenever the validation classes peak before it both arms keep the same network
and the gain is zero by construction (``research/results/long4x/RULES.md``, stop 51).
Rule 1L reads the run records instead: in each arm the epoch that the late rule
(``best_after_last_drop``, the library's default) chooses from ``valid_acc``, and at that
epoch the per-clip probe scores recorded after every epoch (one shift, raw embeddings,
episodes of a fixed seed, so the same in both arms). Per clip, the mean of 5-way 1-shot
and 5-shot; paired per seed; seeds pooled by
:func:`~sklearn_hallu.model_selection.paired_clip_gain`. It passes if the gain is positive
and its interval over the clips lies above zero. Exits 0 on a pass, 1 otherwise::

    python -m research.rule1l --lever research/results/long4x/runs/base_tpool1_long4x \\
        --reference research/results/long2x/runs/base_tpool1_long2x --seeds 0 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from research.ablation import choose_epoch
from sklearn_hallu.model_selection import paired_clip_gain

RULE = "best_after_last_drop"
SETTINGS = ("probe_5w1s", "probe_5w5s")


def late_probe(run):
    """``(epoch, per_clip)``: the late rule's 1-based epoch and, there, each probe clip's
    accuracy averaged over 5-way 1-shot and 5-shot."""
    hist = run["history"]
    missing = [k for k in SETTINGS if k not in hist[0]]
    if missing:
        raise ValueError(f"the run record of {run.get('variant')} seed {run.get('seed')} has "
                         f"no per-epoch {', '.join(missing)}: train it with --probe")
    e = choose_epoch(hist, RULE, run["lr_step"])
    return e + 1, np.mean([np.asarray(hist[e][k], dtype=float) for k in SETTINGS], axis=0)


def rule1l(lever_runs, reference_runs):
    """The paired gain (:func:`paired_clip_gain`'s dict, plus ``epochs``: the kept epochs
    per seed, lever and reference) and whether it passes."""
    pairs, epochs = [], []
    for lever, ref in zip(lever_runs, reference_runs):
        if lever["seed"] != ref["seed"]:
            raise ValueError(f"seed {lever['seed']} of the lever is paired with seed "
                             f"{ref['seed']} of the reference; give the same seeds")
        (el, pl), (er, pr) = late_probe(lever), late_probe(ref)
        pairs.append((pl, pr))
        epochs.append((el, er))
    gain = paired_clip_gain(pairs)
    passed = gain["gain"] > 0 and gain["gain"] - gain["ci95_clips"] > 0
    return {**gain, "epochs": epochs}, passed


def _load(prefix, seeds):
    runs = []
    for s in seeds:
        path = Path(f"{prefix}_seed{s}.json")
        if not path.is_file():
            raise FileNotFoundError(f"no run record {path}: train seed {s} first "
                                    "(python -m research.ablation run ...)")
        runs.append(json.loads(path.read_text()))
    return runs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lever", required=True, help="run records' prefix, before _seedS.json")
    p.add_argument("--reference", required=True, help="the same for the reference")
    p.add_argument("--seeds", type=int, nargs="+", required=True)
    args = p.parse_args(argv)
    gain, passed = rule1l(_load(args.lever, args.seeds), _load(args.reference, args.seeds))
    print(f"{Path(args.lever).name} minus {Path(args.reference).name}, probe classes, late "
          f"rule, mean of 5w1s and 5w5s, seeds {args.seeds}: {gain['gain']:+.2f} ± "
          f"{gain['ci95_clips']:.2f} (clips), per seed "
          + ", ".join(f"{g:+.2f}" for g in gain["per_seed"])
          + "; kept epochs (lever, reference) " + ", ".join(f"{a}/{b}" for a, b in gain["epochs"])
          + (" -> passes rule 1L" if passed else " -> fails rule 1L"))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
