"""Paired differences between any two variants of one ablation folder, on both its splits.

``ablation.py report`` pairs each variant with its model's reference on the validation
classes only. This pairs any ``A`` with any ``B`` (HalluAudio minus the baseline at the
same width, say) on the validation classes (``per_clip``: fresh episodes, the kept
checkpoint) and on the probe classes (the per-epoch probe scores at the kept epoch), seed
by seed on the same clips and episodes, as raw embeddings and one shift (the ablation's
scoring)::

    python -m research.pair --out research/results/width \
        --pairs hallu_per_view:base_ref hallu_pv_wide128:base_wide128 --name hallu_vs_base
"""

import argparse
import json
from pathlib import Path

import numpy as np

from research._cli import command_line
from research.ablation import SETTINGS, choose_epoch, load_runs
from sklearn_hallu.model_selection import paired_clip_gain

KEYS = [f"{n}w{k}s" for n, k in SETTINGS]


def split_scores(run):
    """``{(split, setting): per-clip accuracies}`` of one run at its kept checkpoint."""
    kept = run["history"][choose_epoch(run["history"], "best", run["lr_step"])]
    out = {("val", k): np.asarray(run["per_clip"][k]) for k in KEYS}
    out.update({("probe", k): np.asarray(kept[f"probe_{k}"]) for k in KEYS
                if kept.get(f"probe_{k}") is not None})
    return out


def pair_rows(runs, a, b, seeds=None):
    """Rows of ``a`` minus ``b`` (``runs``: an ablation folder's, :func:`load_runs`), one
    per split and setting, over the seeds both have."""
    runs = {(r["variant"], r["seed"]): split_scores(r) for r in runs
            if r["variant"] in (a, b) and (seeds is None or r["seed"] in seeds)}
    common = sorted({s for v, s in runs if v == a} & {s for v, s in runs if v == b})
    if not common:
        raise SystemExit(f"no seed has runs of both {a} and {b}")
    rows = []
    for key in runs[(a, common[0])]:
        res = paired_clip_gain([(runs[(a, s)][key], runs[(b, s)][key]) for s in common])
        rows.append({"pair": f"{a} - {b}", "split": key[0], "setting": key[1],
                     "seeds": common, "a": 100 * np.mean([runs[(a, s)][key] for s in common]),
                     "b": 100 * np.mean([runs[(b, s)][key] for s in common]),
                     "gain": res["gain"], "ci95_clips": res["ci95_clips"],
                     "per_seed": res["per_seed"]})
    return rows


def markdown(rows, command):
    lines = ["# Paired differences between variants (raw embeddings, one shift)", "",
             f"Command: `{command}`", "",
             "val: the validation classes' fresh episodes at the kept checkpoint; probe: the "
             "held-out training classes at the kept epoch. ± 95% CI over the clips (each "
             "clip's difference averaged over the seeds).", "",
             "| pair | split | setting | seeds | A | B | A - B | per seed |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['pair']} | {r['split']} | {r['setting']} | {len(r['seeds'])} | "
                     f"{r['a']:.2f} | {r['b']:.2f} | {r['gain']:+.2f} ± {r['ci95_clips']:.2f} | "
                     + ", ".join(f"{g:+.2f}" for g in r["per_seed"]) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m research.pair",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="an ablation folder (runs/ inside)")
    p.add_argument("--pairs", nargs="+", required=True, metavar="A:B")
    p.add_argument("--seeds", nargs="+", type=int, default=None)
    p.add_argument("--name", default="pairs", help="output stem: NAME.md, NAME.json")
    args = p.parse_args(argv)
    pairs = [spec.partition(":") for spec in args.pairs]
    bad = [a + sep + b for a, sep, b in pairs if not (a and sep and b)]
    if bad:
        p.error(f"--pairs: each must be VARIANT_A:VARIANT_B, got {bad}")
    runs = load_runs(args.out)  # every run file read once
    rows = [row for a, _, b in pairs for row in pair_rows(runs, a, b, args.seeds)]
    command = command_line("research.pair", argv)
    Path(args.out, f"{args.name}.json").write_text(json.dumps({"command": command,
                                                                "rows": rows}, indent=1))
    md = markdown(rows, command)
    Path(args.out, f"{args.name}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
