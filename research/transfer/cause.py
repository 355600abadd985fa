"""Which training change lost the transfer: runs with one change undone against a reference.

Each run (an ablation ``--out`` folder and a variant in it, trained with
``--transfer-curve``) is compared with the reference run of the same seeds (by default
``research/results/levers:base_ref``, today's baseline recipe). Off-domain, the measure is
the kept checkpoint's gain over its own untrained network (as
:mod:`research.transfer.curve` reports it), and the difference of that gain to the
reference's, paired per clip (the same clips and episodes: the transfer episodes do not
depend on the run). In-domain, beside it: the kept epoch's accuracy on the validation
classes (fresh episodes) and the probe classes, minus the reference's. The rule that names
a cause is ``research/results/transfer_cause/RULES.md``::

    python -m research.transfer.cause --out research/results/transfer_cause \\
        --runs recipe_cpu=research/results/transfer_cause:base_ref \\
               n_fft_2048=research/results/transfer_cause_long:base_nfft2048
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from research._cli import command_line
from sklearn_hallu.model_selection import paired_clip_gain

from .curve import kept_and_untrained, transfer_runs

__all__ = ["parse_run", "compare_runs", "verdict", "markdown", "main"]

SETTINGS = ("5w1s", "5w5s")
#: points the spoken-words gain must rise by (mean of the two settings), RULES.md rule 1
CAUSE_POINTS = 2.0
#: seeds a change needs before it is named a cause (RULES.md rule 2)
CAUSE_SEEDS = 3
#: run settings that must match for two runs' per-clip scores to pair
SAME_SCORING = ("passes", "probe_passes", "probe_classes", "val_clip_target",
                "probe_clip_target")


def parse_run(text):
    """``LABEL=FOLDER:VARIANT`` (or ``FOLDER:VARIANT``, labelled by the variant)."""
    label, _, spec = text.rpartition("=")
    folder, sep, variant = spec.rpartition(":")
    if not sep or not folder or not variant:
        raise ValueError(f"a run is given as LABEL=FOLDER:VARIANT (e.g. recipe_cpu="
                         f"research/results/transfer_cause:base_ref); got {text!r}")
    return (label or variant), Path(folder), variant


def _seed_runs(folder, variant):
    runs = transfer_runs(folder)
    mine = {r["seed"]: r for r in runs if r["variant"] == variant}
    if not mine:
        raise FileNotFoundError(f"no run of {variant!r} with transfer curves in "
                                f"{Path(folder) / 'runs'}: train it with python -m "
                                "research.ablation run --transfer-curve ...")
    return mine, runs


def _in_domain(run, split, key):
    if split == "validation":
        return np.asarray(run["per_clip"][key])
    h = {row["epoch"]: row for row in run["history"]}
    return np.asarray(h[run["best_epoch"]][f"probe_{key}"])


def compare_runs(run, reference):
    """``run`` and ``reference`` as ``(folder, variant)``: the paired comparison over the
    seeds both have, per task (and in-domain split) and setting."""
    mine, my_all = _seed_runs(*run)
    ref, ref_all = _seed_runs(*reference)
    seeds = sorted(set(mine) & set(ref))
    if not seeds:
        raise ValueError(f"{run} and {reference} share no seed: run the reference with the "
                         f"seeds {sorted(mine)}")
    for s in seeds:  # paired per clip only if both were scored on the same clips and passes
        differ = [k for k in SAME_SCORING if mine[s].get(k) != ref[s].get(k)]
        if differ:
            raise ValueError(f"{run} and {reference} seed {s} were scored differently "
                             f"({', '.join(differ)} differ): their per-clip scores do not "
                             "pair; run both with the same --passes and --probe options")
    tasks = sorted({k[len("xfer_"):].rsplit("_", 1)[0] for k in mine[seeds[0]]["history"][0]
                    if k.startswith("xfer_") and "_init_" not in k and "_kept_" not in k})
    out = {"seeds": seeds, "best_epochs": [mine[s]["best_epoch"] for s in seeds],
           "reference_best_epochs": [ref[s]["best_epoch"] for s in seeds],
           "transfer": {}, "in_domain": {}}
    missing = [t for t in tasks if f"xfer_{t}_init_5w1s" not in ref[seeds[0]]["history"][0]]
    if missing:
        raise ValueError(f"the reference {reference} has no transfer scores on {missing}")
    for task in tasks:
        for key in SETTINGS:
            mk = [kept_and_untrained(mine[s], my_all, task, key) for s in seeds]
            rk = [kept_and_untrained(ref[s], ref_all, task, key) for s in seeds]
            own = paired_clip_gain(mk)
            theirs = paired_clip_gain(rk)
            diff = paired_clip_gain([(k - i, rk_ - ri) for (k, i), (rk_, ri) in zip(mk, rk)])
            out["transfer"].setdefault(task, {})[key] = {
                "untrained": 100 * float(np.mean([i for _, i in mk])),
                "kept": 100 * float(np.mean([k for k, _ in mk])),
                "gain": own["gain"], "gain_ci95": own["ci95_clips"],
                "reference_gain": theirs["gain"], "reference_ci95": theirs["ci95_clips"],
                "difference": diff["gain"], "difference_ci95": diff["ci95_clips"],
                "difference_per_seed": list(diff["per_seed"])}
    for split in ("validation", "probe"):
        for key in SETTINGS:
            g = paired_clip_gain([(_in_domain(mine[s], split, key),
                                   _in_domain(ref[s], split, key)) for s in seeds])
            out["in_domain"].setdefault(split, {})[key] = {
                "accuracy": 100 * float(np.mean([_in_domain(mine[s], split, key)
                                                 for s in seeds])),
                "difference": g["gain"], "difference_ci95": g["ci95_clips"]}
    return out


def verdict(comparison, task="spoken_words"):
    """RULES.md rules 1-2 on one comparison: ``"cause"``, ``"not a cause"``, or a screen's
    ``"screen: meets rule 1"`` / ``"screen: does not meet rule 1"``."""
    if task not in comparison["transfer"]:
        return f"not judged: no {task} task in the run"
    rows = comparison["transfer"][task]
    mean = float(np.mean([rows[k]["difference"] for k in SETTINGS]))
    excludes = any(abs(rows[k]["difference"]) > rows[k]["difference_ci95"]
                   and rows[k]["difference"] > 0 for k in SETTINGS)
    meets = mean >= CAUSE_POINTS and excludes
    if len(comparison["seeds"]) >= CAUSE_SEEDS:
        return "cause" if meets else "not a cause"
    return "screen: meets rule 1" if meets else "screen: does not meet rule 1"


def markdown(results, reference, command, task="spoken_words"):
    lines = ["# Which training change lost the transfer (issue 23, goal 2)", "",
             f"Command: `{command}`", "",
             f"Reference: `{reference[0]}:{reference[1]}` (today's baseline recipe). Rule: "
             "`research/results/transfer_cause/RULES.md`. Gain: the kept checkpoint minus the "
             "same seed's untrained network, paired on the same clips and episodes; "
             "difference: that gain minus the reference's on the same seeds, paired per clip; "
             "points ± 95% CI over the clips (seeds averaged per clip).", "",
             "| run | seeds | kept epochs | task | setting | untrained | kept | gain | "
             "reference's gain | difference |", "|---|---|---|---|---|---|---|---|---|---|"]
    for label, c in results.items():
        for task, rows in c["transfer"].items():
            for key, r in rows.items():
                lines.append(
                    f"| {label} | {len(c['seeds'])} | {c['best_epochs']} | {task} | {key} | "
                    f"{r['untrained']:.2f} | {r['kept']:.2f} | {r['gain']:+.2f} ± "
                    f"{r['gain_ci95']:.2f} | {r['reference_gain']:+.2f} ± "
                    f"{r['reference_ci95']:.2f} | {r['difference']:+.2f} ± "
                    f"{r['difference_ci95']:.2f} |")
    lines += ["", "In-domain at the kept epoch (minus the reference's, paired per clip):", "",
              "| run | split | setting | accuracy | difference |", "|---|---|---|---|---|"]
    for label, c in results.items():
        for split, rows in c["in_domain"].items():
            for key, r in rows.items():
                lines.append(f"| {label} | {split} | {key} | {r['accuracy']:.2f} | "
                             f"{r['difference']:+.2f} ± {r['difference_ci95']:.2f} |")
    lines += ["", f"By the rule ({task}):", ""]
    lines += [f"- {label}: {verdict(c, task)}" for label, c in results.items()]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m research.transfer.cause",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="LABEL=FOLDER:VARIANT ...")
    p.add_argument("--reference", default="research/results/levers:base_ref",
                   help="FOLDER:VARIANT of today's recipe")
    p.add_argument("--out", required=True, help="folder for cause.json and cause.md")
    p.add_argument("--task", default="spoken_words", help="the task the rule judges")
    args = p.parse_args(argv)
    try:
        runs = [parse_run(r) for r in args.runs]
        _, ref_folder, ref_variant = parse_run(args.reference)
    except ValueError as exc:
        p.error(str(exc))
    results = {label: compare_runs((folder, variant), (ref_folder, ref_variant))
               for label, folder, variant in runs}
    command = command_line("research.transfer.cause", argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"command": command, "reference": f"{ref_folder}:{ref_variant}",
              "results": results,
              "verdicts": {k: verdict(v, args.task) for k, v in results.items()}}
    (out / "cause.json").write_text(json.dumps(record, indent=1))
    text = markdown(results, (ref_folder, ref_variant), command, args.task)
    (out / "cause.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
