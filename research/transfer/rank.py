"""How many directions the embedding uses: effective rank, trained against untrained.

A network trained to separate 30 environmental classes may pack its embeddings of any
sound into few directions (about one per training class), and a new domain's classes
then differ only in what is left. This study embeds each split's clips with the last
block (averaged over time, one shift) of an ablation run's trained models and of each
one's untrained twin (the same seed's initial weights), centres them on the split's own
mean and reports, per split:

- the effective rank (Roy and Vetterli, 2007): ``exp`` of the entropy of the singular
  values normalised to sum 1; ``dim`` when all are equal, 1 for a single direction;
- the participation ratio of the covariance's eigenvalues, ``(sum l)^2 / sum l^2``;
- the share of the split's variance in the base clips' top ``--top`` principal
  directions (of the same network): how much of a new domain lives where the training
  classes do.

::

    python -m research.transfer.rank --out research/results/rank --models-dir \\
        research/results/pooling --variant base_ref --seeds 0 1 2 3 4 5 \\
        --features-cache F16 --tasks DATA15/spoken_words DATA15/instruments

Nothing is retrained; the test classes are not read.
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
from sklearn_hallu.model_selection import seeds_ci95

from .layers import seed_networks, tta_embeddings, variant_clips

__all__ = ["effective_rank", "participation_ratio", "top_share", "main"]


def _centred(e):
    e = np.asarray(e, dtype=np.float64)
    if e.ndim != 2 or len(e) < 2:
        raise ValueError(f"embeddings must be (n_clips >= 2, dim); got shape {e.shape}")
    return e - e.mean(axis=0)


def effective_rank(e):
    """Roy and Vetterli's effective rank of clips ``e`` (n, dim) about their mean."""
    s = np.linalg.svd(_centred(e), compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def participation_ratio(e):
    """``(sum l)^2 / sum l^2`` of the eigenvalues ``l`` of the covariance of ``e``."""
    lam = np.linalg.svd(_centred(e), compute_uv=False) ** 2
    return float(lam.sum() ** 2 / (lam ** 2).sum())


def top_share(e, base, k):
    """Share of the variance of ``e`` (about its own mean) in the top ``k`` principal
    directions of ``base`` (about its mean)."""
    _, _, vt = np.linalg.svd(_centred(base), full_matrices=False)
    c = _centred(e)
    return float(((c @ vt[:k].T) ** 2).sum() / (c ** 2).sum())


def summarise(per_seed):
    """Rows per (split, measure): mean of each net over the seeds, and trained minus
    untrained with its 95% t-interval over the seeds."""
    rows = []
    keys = sorted({(sp, m) for rec in per_seed.values() for sp, m in rec["trained"]})
    for split, measure in keys:
        tr = [per_seed[s]["trained"][(split, measure)] for s in sorted(per_seed)]
        un = [per_seed[s]["untrained"][(split, measure)] for s in sorted(per_seed)]
        diff = np.subtract(tr, un)
        rows.append({"split": split, "measure": measure, "seeds": sorted(per_seed),
                     "trained": float(np.mean(tr)), "untrained": float(np.mean(un)),
                     "diff": float(diff.mean()), "ci95_seeds": seeds_ci95(diff),
                     "per_seed_trained": tr, "per_seed_untrained": un})
    return rows


def markdown(rows, command, dim):
    lines = ["# How many directions the embedding uses, trained vs untrained", "",
             f"Command: `{command}`", "",
             f"Last block, averaged over time, one shift; {dim} dimensions. Each split's "
             "clips centred on their own mean. Mean over the seeds; the difference is "
             "trained minus the same seed's untrained twin, ± 95% t-interval over the seeds.",
             "", "| split | measure | seeds | trained | untrained | difference |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['split']} | {r['measure']} | {len(r['seeds'])} | "
                     f"{r['trained']:.3f} | {r['untrained']:.3f} | "
                     f"{r['diff']:+.3f} ± {r['ci95_seeds']:.3f} |")
    return "\n".join(lines) + "\n"


def measures(parts, base, top):
    out = {}
    for split, e in parts.items():
        out[(split, "effective_rank")] = effective_rank(e)
        out[(split, "participation_ratio")] = participation_ratio(e)
        out[(split, f"share_in_base_top{top}")] = top_share(e, base, top)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog="python -m research.transfer.rank",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for rank.md / rank.json")
    p.add_argument("--models-dir", required=True,
                   help="the ablation run's folder (its runs/ and models/)")
    p.add_argument("--variant", default="base_ref")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--tasks", nargs="+", required=True)
    p.add_argument("--top", type=int, default=30,
                   help="principal directions of the base clips for the share (default 30: "
                        "about one per training class)")
    p.add_argument("--data-home", default=None)
    p.add_argument("--features-cache", default=None)
    p.add_argument("--name", default="rank")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    X, y, split, tasks = variant_clips(args.variant, args.tasks, out, args.data_home,
                                       args.features_cache)
    tasks = {name: Xt for name, (Xt, _) in tasks.items()}
    per_seed, dim = {}, None
    for seed in args.seeds:
        trained, twin, probe, va = seed_networks(args.models_dir, args.variant, seed, X, y,
                                                 split)
        base = ~probe & ~va
        per_seed[seed] = {}
        for name, model in (("trained", trained), ("untrained", twin)):
            clf = model[-1] if isinstance(model, Pipeline) else model
            emb = {k: tta_embeddings(clf, v, 1)["block3"] for k, v in
                   {"base": X[base], "val": X[va], "probe": X[probe], **tasks}.items()}
            dim = emb["base"].shape[1]
            per_seed[seed][name] = measures(emb, emb["base"], args.top)
        log(f"{args.variant} seed {seed}: done")
    rows = summarise(per_seed)
    command = command_line("research.transfer.rank", argv)
    (out / f"{args.name}.json").write_text(json.dumps({"command": command, "dim": dim,
                                                         "rows": rows}))
    (out / f"{args.name}.md").write_text(markdown(rows, command, dim))
    print(markdown(rows, command, dim))


if __name__ == "__main__":
    main()
