"""How many classes the batch must hold for a batch norm to help.

``embedding_norm``'s ``batch_`` norms take their statistics (the centre, and for
``batch_whitened_l2`` the covariance) from the clips scored together. In
``research/results/rank/whiten.md`` the batch was a whole split. An off-domain task split
held 30 classes and 450 clips; an in-domain split held 5 classes and 200 clips. So
"off-domain" and "many classes in the batch" went together. This study separates the two.
Each split's classes are cut into groups of ``k`` (one fixed random partition per split and
``k``). Each group's clips form one batch: they are normalised with that group's own
statistics, and the paper's protocol is run inside the group, on the episodes of
:data:`research.transfer.layers.LAYER_SEED`. The reference norm, centred-L2 with the
training clips' centre, is scored on the same groups and episodes. Two splits of 5 classes
joined give an in-domain batch of 10::

    python -m research.transfer.batch_classes --out research/results/rank \\
        --models-dir research/results/pooling --variant base_ref --seeds 0 1 2 3 4 5 \\
        --features-cache F16 --tasks DATA15/spoken_words DATA15/instruments

With ``--norms pool_whitened_l2`` the whitening statistics come from the whole split (an
unlabelled pool of the domain) while each group is still scored inside itself: what an
inductive whitening estimated once from a pool would give to calls of k classes. With
``other_whitened_l2`` the pool is disjoint from the group: the split's clips of the other
classes (a pool of the same domain that holds none of the sounds to classify).

Rows are read within one ``k``: the episodes of a 5-class group are not those of a
30-class split. Nothing is retrained; the test classes are not read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from research._cli import command_line
from research.reproduce.features import log

from .layers import (
    NORMS,
    markdown,
    per_clip,
    seed_networks,
    summarise,
    summarise_norms,
    tta_embeddings,
    variant_clips,
)

__all__ = ["class_groups", "grouped_per_clip", "POOL_NORMS", "OTHER_NORMS", "main"]

PARTITION_SEED = 20261206


def class_groups(y, k, seed=PARTITION_SEED):
    """The classes of ``y`` cut into groups of ``k`` by one fixed random permutation; a
    remainder of fewer than 5 classes joins the last group (an episode needs 5)."""
    classes = np.unique(np.asarray(y))
    if k < 5 or k > len(classes):
        raise ValueError(f"k must be between 5 and the {len(classes)} classes of the split; "
                         f"got {k}")
    order = np.random.RandomState(seed).permutation(classes)
    groups = [order[i:i + k] for i in range(0, len(order), k)]
    if len(groups) > 1 and len(groups[-1]) < 5:
        last = groups.pop()
        groups[-1] = np.concatenate([groups[-1], last])
    return groups


#: norms whose statistics come from the whole split (an unlabelled pool of the domain),
#: while each group is scored inside itself: ``pool_X`` is ``X`` with the split as base
POOL_NORMS = {"pool_whitened_l2": "whitened_l2", "pool_centred_l2": "centred_l2"}
#: the same with a pool disjoint from the group: the split's clips of the other classes
OTHER_NORMS = {"other_whitened_l2": "whitened_l2", "other_centred_l2": "centred_l2"}


def grouped_per_clip(parts, base, y, norm, groups, passes):
    """``{"5w1s": ..., "5w5s": ...}`` per clip of ``y``: each group normalised by ``norm``
    on its own (its clips as the batch; with a ``pool_`` norm, by the statistics of the
    whole split ``parts``) and scored inside itself."""
    y = np.asarray(y)
    out = {}
    for group in groups:
        idx = np.flatnonzero(np.isin(y, group))
        sub = {k: v[idx] for k, v in parts.items()}
        if norm in POOL_NORMS:
            emb = NORMS[POOL_NORMS[norm]](sub, parts)["block3"]
        elif norm in OTHER_NORMS:
            rest = np.flatnonzero(~np.isin(y, group))
            if len(rest) < 2:
                raise ValueError(f"{norm} needs clips of other classes than the group's; "
                                 f"the split has {len(rest)} (use k below its class count)")
            emb = NORMS[OTHER_NORMS[norm]](sub, {k: v[rest] for k, v in parts.items()})
            emb = emb["block3"]
        else:
            emb = NORMS[norm](sub, base)["block3"]
        for key, pc in per_clip(emb, y[idx], passes).items():
            out.setdefault(key, np.full(len(y), np.nan))[idx] = pc
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog="python -m research.transfer.batch_classes",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--models-dir", required=True, help="the ablation run's folder")
    p.add_argument("--variant", default="base_ref")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--tasks", nargs="+", required=True)
    p.add_argument("--ks", nargs="+", type=int, default=[5, 10, 30],
                   help="classes per batch (a k above a split's class count is skipped)")
    p.add_argument("--norms", nargs="+", default=["centred_l2", "batch_centred_l2",
                                                  "batch_whitened_l2"],
                   choices=sorted([*POOL_NORMS, *OTHER_NORMS, *(n for n in NORMS
                                                  if n != "support_centred_l2")]))
    p.add_argument("--passes", type=int, default=10)
    p.add_argument("--data-home", default=None)
    p.add_argument("--features-cache", default=None)
    p.add_argument("--name", default="batch_classes")
    args = p.parse_args(argv)
    if "centred_l2" not in args.norms:
        p.error("--norms must include centred_l2, the reference of every row")
    out = Path(args.out)
    X, y, split, tasks = variant_clips(args.variant, args.tasks, out, args.data_home,
                                       args.features_cache)
    results = {}
    for seed in args.seeds:
        trained, twin, probe, va = seed_networks(args.models_dir, args.variant, seed, X, y,
                                                 split)
        base_mask = ~probe & ~va
        splits = {"val": (X[va], y[va]), "probe": (X[probe], y[probe]),
                  "val+probe": (X[va | probe], y[va | probe]), **tasks}
        for net, model in (("trained", trained), ("untrained", twin)):
            clf = model[-1] if isinstance(model, Pipeline) else model
            base = tta_embeddings(clf, X[base_mask], 1)
            for name, (Xs, ys) in splits.items():
                parts = tta_embeddings(clf, Xs, 1)
                n_classes = len(np.unique(ys))
                for k in args.ks:
                    if k > n_classes:
                        continue
                    groups = class_groups(ys, k)
                    for norm in args.norms:
                        if norm in OTHER_NORMS and len(groups) < 2:
                            continue  # no other classes in the split for a pool
                        acc = grouped_per_clip(parts, base, ys, norm, groups, args.passes)
                        for key, pc in acc.items():
                            results.setdefault(args.variant, {}).setdefault(
                                (f"{name} (k={k})", norm, "block3", key), {}).setdefault(
                                seed, {})[net] = pc
            log(f"{args.variant} seed {seed} {net}: done")
    rows = summarise(results) + summarise_norms(results, "centred_l2")
    command = command_line("research.transfer.batch_classes", argv)
    (out / f"{args.name}.json").write_text(json.dumps({"command": command, "summary": rows}))
    (out / f"{args.name}.md").write_text(markdown(rows, command))
    print(markdown(rows, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
