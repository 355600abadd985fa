"""Which epoch to keep: checkpoint-selection rules scored on two splits, never the test classes.

The library keeps the first epoch of highest ``valid_acc`` (300 validation episodes
after every epoch). One noisy maximum can pick an early epoch (issue: epoch 7 of 63).
Here every rule reads only what a rule may read (the validation curves), and each
choice is scored on two class-disjoint splits with episodes independent of what the
rules read:

* validation: the 5 validation classes, fresh episodes (``val_*``, the paper's
  protocol, per clip) recorded after every epoch by ``research.ablation run --probe 5
  --val-curve N``;
* probe: 5 training classes held out of training (``probe_*``).

Rules: ``best`` (the library's), ``last``, ``best_after_last_drop`` (best epoch at the
final learning rate), ``best_smoothed5`` (best centred 5-epoch mean of ``valid_acc``),
``best_more_episodes`` (best of ``valid_acc_more``: the same score over more episodes).

The decision rule, fixed before the runs: a rule replaces ``best`` only if its mean
accuracy over the variants, seeds and settings (5-way 1-shot and 5-shot) is higher
than ``best``'s on BOTH splits; of several such rules, the one with the larger sum of
its two gains. Also reported: how often ``best`` keeps an epoch before the last
learning-rate drop, and what that costs against ``best_after_last_drop``.

Run: ``python -m research.checkpoint_rules --out research/results/selection_long``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from research.ablation import SETTINGS, choose_epoch, load_runs
from sklearn_hallu.model_selection import paired_clip_gain

__all__ = ["RULES", "epoch_of", "scores_at", "summarise", "markdown"]

RULES = ("best", "last", "best_after_last_drop", "best_smoothed5", "best_more_episodes")
KEYS = tuple(f"{n}w{k}s" for n, k in SETTINGS)
SPLITS = ("val", "probe")


def epoch_of(run, rule):
    """0-based epoch index that ``rule`` keeps in ``run``'s history."""
    hist = run["history"]
    if rule == "best_more_episodes":
        return int(np.argmax([h["valid_acc_more"] for h in hist]))
    return choose_epoch(hist, rule, run["lr_step"])


def scores_at(run, epoch):
    """``{split: {setting: per-clip accuracies}}`` of ``run`` at ``epoch``."""
    h = run["history"][epoch]
    return {sp: {k: np.asarray(h[f"{sp}_{k}"], dtype=float) for k in KEYS} for sp in SPLITS}


def summarise(runs):
    """Per rule: chosen epochs, per-split accuracy, paired gain over ``best``, verdict."""
    usable = [r for r in runs if "valid_acc_more" in r["history"][0]
              and f"val_{KEYS[0]}" in r["history"][0]]
    if not usable:
        raise SystemExit("no run records val_* and valid_acc_more: make them with "
                         "`python -m research.ablation run --probe 5 --val-curve 1200 ...`")
    at = {rule: [scores_at(r, epoch_of(r, rule)) for r in usable] for rule in RULES}
    rows = []
    for rule in RULES:
        row = {"rule": rule, "epochs": [epoch_of(r, rule) + 1 for r in usable]}
        for sp in SPLITS:
            for k in KEYS:
                clips = [s[sp][k] for s in at[rule]]
                row[f"{sp} {k}"] = 100 * float(np.mean([c.mean() for c in clips]))
                if rule != "best":
                    g = paired_clip_gain([(a[sp][k], b[sp][k])
                                          for a, b in zip(at[rule], at["best"])])
                    row[f"{sp} {k} vs best"] = {"gain": g["gain"], "ci95_clips": g["ci95_clips"],
                                                "per_run": g["per_seed"]}
            row[sp] = float(np.mean([row[f"{sp} {k}"] for k in KEYS]))
        rows.append(row)
    best = rows[0]
    winners = [r for r in rows[1:] if all(r[sp] > best[sp] for sp in SPLITS)]
    chosen = max(winners, key=lambda r: sum(r[sp] - best[sp] for sp in SPLITS))["rule"] \
        if winners else "best"
    return {"runs": [f"{r['variant']} seed {r['seed']}" for r in usable], "rows": rows,
            "early": _early_picks(usable), "chosen": chosen}


def _early_picks(runs):
    """How often ``best`` keeps an epoch before the last learning-rate drop, and the cost."""
    out = []
    for r in runs:
        e_best = epoch_of(r, "best")
        e_late = epoch_of(r, "best_after_last_drop")
        late_start = ((len(r["history"]) - 1) // r["lr_step"]) * r["lr_step"]
        a, b = scores_at(r, e_best), scores_at(r, e_late)
        out.append({"run": f"{r['variant']} seed {r['seed']}", "best_epoch": e_best + 1,
                    "early": e_best < late_start,
                    **{f"{sp} cost": 100 * float(np.mean([a[sp][k].mean() - b[sp][k].mean()
                                                          for k in KEYS])) for sp in SPLITS}})
    return out


def markdown(summary, out):
    """The study's tables."""
    lines = ["# Checkpoint selection on two splits (validation, fresh episodes; probe)", "",
             f"Command: `python -m research.checkpoint_rules --out {out}`, over "
             + ", ".join(summary["runs"]) + ". Rule fixed before the runs: a rule replaces "
             "`best` only if its mean (variants, seeds, 5w1s and 5w5s) beats `best` on both "
             "splits. Gains are paired per clip (points, ± 95% CI over the clips, mean of "
             "the runs).", "",
             "| rule | epochs | val 5w1s | val 5w5s | probe 5w1s | probe 5w5s | val mean | "
             "probe mean |", "|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        cells = []
        for sp in SPLITS:
            for k in KEYS:
                g = r.get(f"{sp} {k} vs best")
                cells.append(f"{r[f'{sp} {k}']:.2f}" + (
                    f" ({g['gain']:+.2f} ± {g['ci95_clips']:.2f})" if g else ""))
        lines.append(f"| {r['rule']} | {','.join(map(str, r['epochs']))} | "
                     + " | ".join(cells) + f" | {r['val']:.2f} | {r['probe']:.2f} |")
    n_early = sum(e["early"] for e in summary["early"])
    lines += ["", f"`best` kept an epoch before the last learning-rate drop in {n_early} of "
              f"{len(summary['early'])} runs; its score minus `best_after_last_drop`'s there:",
              "", "| run | best epoch | early | val cost | probe cost |", "|---|---|---|---|---|"]
    lines += [f"| {e['run']} | {e['best_epoch']} | {e['early']} | {e['val cost']:+.2f} | "
              f"{e['probe cost']:+.2f} |" for e in summary["early"]]
    lines += ["", f"Chosen by the rule: **{summary['chosen']}**."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="research/results/selection_long",
                   help="the folder of `research.ablation run --probe 5 --val-curve N`")
    args = p.parse_args(argv)
    summary = summarise(load_runs(args.out))
    (Path(args.out) / "checkpoint_rules.json").write_text(json.dumps(summary, indent=1))
    md = markdown(summary, args.out)
    (Path(args.out) / "checkpoint_rules.md").write_text(md)
    print(md)
    return summary


if __name__ == "__main__":
    main()
