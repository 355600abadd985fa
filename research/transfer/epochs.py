"""Does the kept epoch tell how well a trained network transfers? Seed by seed, from a run of
``research.transfer.layers`` (its JSON's per-seed gains) and the runs' kept epochs.

Exploratory: with ten seeds a rank correlation of about 0.64 is needed for p < 0.05, and
nothing here was fixed before the runs, so it names a question, it does not answer one::

    python -m research.transfer.epochs --out research/results/transfer_seeds \
        --name transfer_seeds_cpu
"""

import argparse
import json
from pathlib import Path

from scipy.stats import spearmanr

from research._cli import command_line


def per_seed_table(out, name, variant="base_ref", norm="centred_l2", depth="block3"):
    """``(seeds, kept epochs, {(split, setting): per-seed gains})`` of one variant."""
    path = Path(out) / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"{path}: no such file; make it with python -m research.transfer.layers "
                         f"--out {out} --name {name} ...")
    summary = json.loads(path.read_text())["summary"]
    rows = [r for r in summary if r["variant"] == variant and r["norm"] == norm
            and r["depth"] == depth]
    if not rows or "per_seed" not in rows[0]:
        raise SystemExit(f"{out}/{name}.json: no per-seed gains of {variant} ({norm}, {depth}); "
                         "run python -m research.transfer.layers again (it stores them)")
    seeds = rows[0]["seeds"]
    epochs = [json.loads((Path(out) / "runs" / f"{variant}_seed{s}.json").read_text())
              ["best_epoch"] for s in seeds]
    gains = {(r["split"], r["setting"]): r["per_seed"] for r in rows}
    return seeds, epochs, gains


def markdown(seeds, epochs, gains, command):
    cols = sorted(gains)
    lines = ["# Kept epoch and transfer, seed by seed (exploratory)", "",
             f"Command: `{command}`", "",
             "Gain: the trained network minus its untrained twin on the same clips and "
             "episodes (points). rho: Spearman's rank correlation of the kept epoch with the "
             "gain over the seeds, and its two-sided p-value. rho val: the same with the "
             "seed's validation gain (mean of its settings; a proxy for the validation "
             "accuracy that chose the epoch): does a seed that learns ESC-50 better "
             "transfer worse?", "",
             "| seed | kept epoch | " + " | ".join(f"{s} {k}" for s, k in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for i, (seed, epoch) in enumerate(zip(seeds, epochs)):
        lines.append(f"| {seed} | {epoch} | "
                     + " | ".join(f"{gains[c][i]:+.2f}" for c in cols) + " |")
    stats = [spearmanr(epochs, gains[c]) for c in cols]
    lines.append("| rho (p) | | " + " | ".join(
        f"{r.statistic:+.2f} ({r.pvalue:.2f})" for r in stats) + " |")
    val = [c for c in cols if c[0] == "val"]
    if val:
        in_domain = [sum(gains[c][i] for c in val) / len(val) for i in range(len(seeds))]
        stats = [spearmanr(in_domain, gains[c]) for c in cols]
        lines.append("| rho val (p) | | " + " | ".join(
            "" if c in val else f"{r.statistic:+.2f} ({r.pvalue:.2f})"
            for c, r in zip(cols, stats)) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m research.transfer.epochs",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="the ablation folder of the layers run")
    p.add_argument("--name", default="layers", help="the layers run's output stem")
    p.add_argument("--variant", default="base_ref")
    args = p.parse_args(argv)
    seeds, epochs, gains = per_seed_table(args.out, args.name, args.variant)
    command = command_line("research.transfer.epochs", argv)
    md = markdown(seeds, epochs, gains, command)
    (Path(args.out) / f"{args.name}_epochs.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
