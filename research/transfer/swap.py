"""Which block's training costs the spoken words: trained and untrained blocks swapped.

AdaBN (``research/results/adabn``) showed that the trained network's loss on speech is not
in its batch-norm statistics but in its weights. This exploratory analysis (no rule, it
keeps nothing) asks in which block: for each seed it builds hybrid networks from the
trained network and its untrained twin (the same seed's initial weights), each block taken
whole (weights and batch-norm statistics) from one or the other, and scores every hybrid
with the library's embedding (the last block, averaged over time) and metric (centred-L2,
the centre from ESC-50's base clips through the same hybrid), paired per clip against the
untrained twin on the same episodes::

    python -m research.transfer.swap --out research/results/width --seeds 0 1 2 \\
        --tasks DATA15/spoken_words DATA15/instruments --features-cache F16

A hybrid is named by its trained blocks: ``T--`` is block 1 trained, blocks 2 and 3
untrained; ``TTT`` the trained network, ``---`` the twin. Nothing is retrained; the test
classes are not read.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from research._cli import command_line
from research.reproduce.features import log
from sklearn_hallu.model_selection import paired_clip_gain

from .layers import (
    block_embeddings,
    centre_of,
    centred_l2,
    gain_cell,
    per_clip,
    seed_networks,
    variant_clips,
)

#: every hybrid of three blocks: "T" trained, "-" untrained
HYBRIDS = ["".join(p) for p in itertools.product("-T", repeat=3)]


def hybrid(trained, twin, name):
    """A copy of ``twin`` whose blocks marked ``T`` in ``name`` are ``trained``'s."""
    out = copy.deepcopy(twin)
    blocks = out.net_.module_.backbones[0].blocks
    source = trained.net_.module_.backbones[0].blocks
    for i, mark in enumerate(name):
        if mark == "T":
            blocks[i].load_state_dict(source[i].state_dict())
    return out


def score_hybrids(trained, twin, X_base, splits, passes):
    """``{(split, setting): {hybrid: per-clip accuracy}}`` with centred-L2 on block 3."""
    out = {}
    for name in HYBRIDS:
        clf = hybrid(trained, twin, name)
        centre = centre_of(block_embeddings(clf, X_base))
        for split_name, (Xs, ys) in splits.items():
            emb = centred_l2(block_embeddings(clf, Xs), centre)["block3"]
            for key, pc in per_clip(emb, ys, passes).items():
                out.setdefault((split_name, key), {})[name] = pc
    return out


def summarise(by_seed):
    """Rows: each hybrid against the untrained twin, pooled over the seeds."""
    rows = []
    keys = sorted({k for res in by_seed.values() for k in res})
    for split_name, key in keys:
        for name in HYBRIDS:
            pairs = [(res[(split_name, key)][name], res[(split_name, key)]["---"])
                     for res in by_seed.values()]
            g = paired_clip_gain(pairs)
            rows.append({"split": split_name, "setting": key, "hybrid": name,
                         "seeds": sorted(by_seed), "accuracy": 100 * float(np.mean(
                             [a for a, _ in pairs])), "gain": g["gain"],
                         "ci95_clips": g["ci95_clips"], "ci95_seeds": g["ci95_seeds"]})
    return rows


def markdown(rows, command):
    lines = ["# Trained and untrained blocks swapped (exploratory)", "",
             f"Command: `{command}`", "",
             "Hybrid: `T` a trained block, `-` the same seed's untrained block (block 1, 2, "
             "3). Library's embedding and centred-L2 metric. Gain: the hybrid minus the "
             "untrained twin (`---`), paired on the same clips and episodes (points ± 95% CI "
             "over the clips; ± over the seeds).", "",
             "| split | setting | hybrid | seeds | accuracy | gain over `---` |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['split']} | {r['setting']} | `{r['hybrid']}` | {len(r['seeds'])} "
                     f"| {r['accuracy']:.2f} | {gain_cell(r)} |")
    return "\n".join(lines) + "\n"


def _clf(model):
    return model[-1] if isinstance(model, Pipeline) else model


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m research.transfer.swap",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="an ablation --out folder (runs/, models/)")
    p.add_argument("--variant", default="base_ref")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--tasks", nargs="+", required=True)
    p.add_argument("--passes", type=int, default=10)
    p.add_argument("--data-home", default=None)
    p.add_argument("--features-cache", default=None)
    p.add_argument("--name", default="swap", help="output stem: NAME.md, NAME.json")
    args = p.parse_args(argv)
    out = Path(args.out)
    X, y, split, tasks = variant_clips(args.variant, args.tasks, out, args.data_home,
                                       args.features_cache)
    by_seed = {}
    for seed in args.seeds:
        trained, twin, probe, va = seed_networks(out, args.variant, seed, X, y, split)
        splits = {"val": (X[va], y[va]), "probe": (X[probe], y[probe]), **tasks}
        by_seed[seed] = score_hybrids(_clf(trained), _clf(twin), X[~probe & ~va],
                                      splits, args.passes)
        log(f"{args.variant} seed {seed}: done")
    rows = summarise(by_seed)
    command = command_line("research.transfer.swap", argv)
    (out / f"{args.name}.json").write_text(json.dumps({"command": command, "rows": rows}))
    (out / f"{args.name}.md").write_text(markdown(rows, command))
    print(markdown(rows, command))


if __name__ == "__main__":
    main()
