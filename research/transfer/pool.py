"""How many unlabelled clips of a new domain the inductive whitening needs, on a
reproduction run's models: trained against untrained.

The library's ``embedding_norm="whitened_l2"`` takes its centre and whitening from
``fit_embedding_stats(X_pool)``: unlabelled clips of the domain to classify. This study
reads that option as a user of the library's default models would meet it. Each task's
classes are cut into groups of ``k`` (:func:`research.transfer.batch_classes.class_groups`),
and each group is one few-shot problem, scored inside itself on the episodes of
:data:`research.transfer.layers.LAYER_SEED`. Its pool is ``m`` clips drawn from the task's
OTHER classes: the pool and the sounds to classify share no class. The clips are drawn in
one random order per seed and group (:func:`pool_order`), the same for the trained model
and its twin, so the pool of ``m`` holds that of every smaller ``m`` and the spread over
the seeds includes that of the draw. The whitening is the
library's own (:func:`sklearn_hallu.nn.whitening_stats`, :func:`sklearn_hallu.nn.whitened_l2`
on the library's raw embeddings, which is what ``fit_embedding_stats`` then ``embed`` compute;
tested). The reference is the library's default norm, centred-L2
(:func:`sklearn_hallu.nn.centered_l2`, per view) with the centre of the run's training
clips (its validation classes left out, as :mod:`research.transfer.norms` takes it), on
the same groups and episodes. Each model is read beside its untrained twin
(:func:`research.transfer.study.untrained_twin`)::

    python -m research.transfer.pool --run docs/results/RUN --out research/results/rank \\
        --name pool_size_RUN --k 5 --pool-sizes 10 25 50 100 200 all --tta 1 8 \\
        --tasks DATA15/spoken_words DATA15/instruments

``python -m research.transfer.pool --render NAME.json`` writes the table and the figure
again from a run's json. Only the off-domain tasks are scored; ESC-50's test classes are
dropped before anything is embedded (:func:`research.transfer.norms.load_run`). Nothing is
retrained.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import joblib
import numpy as np
import torch

from research._cli import command_line
from sklearn_hallu import final_estimator
from sklearn_hallu.nn import centered_l2, whitened_l2, whitening_stats

from ..reproduce.features import log
from .batch_classes import class_groups
from .layers import gain_cell, per_clip, summarise, summarise_norms
from .norms import load_run, networks, parse_run_args, raw_embeddings, run_parser, run_record
from .study import run_models

__all__ = ["POOL_SEED", "pool_order", "library_centred", "library_whitened", "score_task",
           "plot_pool", "render", "main"]

POOL_SEED = 20261207
REFERENCE = "centred_l2"


def pool_order(y, group, index, seed):
    """The indices of ``y``'s clips outside ``group``, in one fixed random order for model
    seed ``seed`` and the group numbered ``index`` (``POOL_SEED + 1000 * seed + index``):
    its pool of ``m`` clips is the first ``m``."""
    rest = np.flatnonzero(~np.isin(np.asarray(y), group))
    return np.random.RandomState(POOL_SEED + 1000 * seed + index).permutation(rest)


def library_centred(emb, base, view_slices):
    """``emb`` (raw, float64) centred on ``base``'s mean, each view's part at unit norm: the
    library's default ``embedding_norm="centered_l2"``."""
    mean = torch.from_numpy(base.mean(axis=0))
    return centered_l2(torch.from_numpy(emb), mean, view_slices).numpy()


def library_whitened(emb, pool, view_slices):
    """``emb`` (raw, float64) centred and whitened by ``pool``'s statistics, then each
    view's part at unit norm: the library's ``embedding_norm="whitened_l2"``."""
    mean, w = whitening_stats(torch.from_numpy(pool), view_slices)
    return whitened_l2(torch.from_numpy(emb), mean, w, view_slices).numpy()


def _label(m):
    return f"whitened_l2@{m}"


def score_task(emb, base, y, groups, sizes, view_slices, passes, seed):
    """``{label: {"5w1s": ..., "5w5s": ...}}`` per clip of ``y``: centred-L2 (the training
    centre, from ``base``) and the whitening from a disjoint pool of each size in
    ``sizes`` (``"all"``: every clip outside the group; drawn by :func:`pool_order` for
    ``seed``), each group scored inside itself."""
    y = np.asarray(y)
    out = {}

    def put(label, idx, acc):
        for key, pc in acc.items():
            out.setdefault(label, {}).setdefault(key, np.full(len(y), np.nan))[idx] = pc

    for index, group in enumerate(groups):
        idx = np.flatnonzero(np.isin(y, group))
        put(REFERENCE, idx, per_clip(library_centred(emb[idx], base, view_slices), y[idx],
                                     passes))
        order = pool_order(y, group, index, seed)
        for m in sizes:
            if m != "all" and m > len(order):
                raise ValueError(f"a pool of {m} clips: the group's task has only "
                                 f"{len(order)} clips outside it (use a smaller size or all)")
            take = order if m == "all" else order[:m]
            put(_label(m), idx, per_clip(library_whitened(emb[idx], emb[take], view_slices),
                                         y[idx], passes))
    return out


def _size(text):
    if text == "all":
        return text
    m = int(text)
    if m < 2:
        raise argparse.ArgumentTypeError(f"a pool needs at least 2 clips, got {m}")
    return m


def _score_model(results, kind, seed, net, model, base_X, tasks, args):
    view_slices = final_estimator(model).view_slices_
    for n in args.tta:
        base = raw_embeddings(model, base_X, n)["block3"]
        for task, (X, y) in tasks.items():
            emb = raw_embeddings(model, X, n)["block3"]
            scored = score_task(emb, base, y, class_groups(y, args.k), args.pool_sizes,
                                view_slices, args.passes, seed)
            for label, acc in scored.items():
                label = label if n == 1 else f"{label}+tta{n}"
                for key, pc in acc.items():
                    results.setdefault(kind, {}).setdefault(
                        (f"{task} (k={args.k})", label, "block3", key), {}).setdefault(
                        seed, {})[net] = pc


def markdown(rows, command):
    """Two tables: trained minus twin under each norm; each pool's whitening minus
    centred-L2 on each network."""
    def order(r):
        norm, _, tta = r["norm"].partition("+")
        size = norm.partition("@")[2]
        return (r["split"], tta, size != "", int(size) if size.isdigit() else 10**9,
                r["variant"], r["setting"])

    head = ["| split | norm | setting | seeds | A | B | A - B |", "|---|---|---|---|---|---|---|"]
    lines = ["# The inductive whitening from a disjoint pool, by pool size", "",
             f"Command: `{command}`", "",
             "`whitened_l2@m`: `embedding_norm=\"whitened_l2\"` with the statistics of `m` "
             "clips of the task's other classes (`all`: every one); `centred_l2`: the "
             "library's default norm. Gains are paired on the same clips and episodes "
             "(points ± 95% CI over the clips; ± 95% t-interval over the seeds).", "",
             "## Trained (A) minus its untrained twin (B)", "", *head]
    for r in sorted((r for r in rows if " vs " not in r["variant"]), key=order):
        lines.append(f"| {r['split']} | {r['norm']} | {r['setting']} | {len(r['seeds'])} | "
                     f"{r['trained']:.2f} | {r['untrained']:.2f} | {gain_cell(r)} |")
    paired = [r for r in rows if " vs " in r["variant"] and not r["variant"].endswith(
        f" vs {REFERENCE}")]
    if paired:
        lines += ["", f"## {paired[0]['variant']}: trained (A) minus trained (B)", "", *head]
        for r in sorted(paired, key=order):
            lines.append(f"| {r['split']} | {r['norm']} | {r['setting']} | "
                         f"{len(r['seeds'])} | {r['trained']:.2f} | {r['untrained']:.2f} | "
                         f"{gain_cell(r)} |")
    for net in ("trained", "untrained"):
        lines += ["", f"## On the {net} network: the norm (A) minus {REFERENCE} (B)", "",
                  *head]
        for r in sorted((r for r in rows if r["variant"].endswith(f" {net} vs {REFERENCE}")),
                        key=order):
            lines.append(f"| {r['split']} | {r['norm']} | {r['setting']} | "
                         f"{len(r['seeds'])} | {r['trained']:.2f} | {r['untrained']:.2f} | "
                         f"{gain_cell(r)} |")
    return "\n".join(lines) + "\n"


def plot_pool(rows, path, shifts):
    """Accuracy against pool size at ``shifts`` test-time shifts, one panel per task and
    setting: the whitening's trained network and twin (solid), centred-L2's (dotted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tag = "" if shifts == 1 else f"+tta{shifts}"
    mine = [r for r in rows if " vs " not in r["variant"] and r["norm"].endswith(tag)
            and (tag or "+" not in r["norm"])]
    panels = sorted({(r["split"], r["setting"]) for r in mine})
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4), squeeze=False)
    for ax, (split, setting) in zip(axes[0], panels):
        here = [r for r in mine if (r["split"], r["setting"]) == (split, setting)]
        sizes = sorted(int(s) for s in {r["norm"].partition("@")[2].partition("+")[0]
                                        for r in here} - {"", "all"})
        x_all = 2 * sizes[-1] if sizes else 1
        xs, ticks = [*sizes, x_all], [*map(str, sizes), "all"]
        for net, color in (("trained", "C0"), ("untrained", "C1")):
            by = {r["norm"].partition("@")[2].partition("+")[0]: r[net] for r in here}
            ax.plot(xs, [by.get(str(m), np.nan) for m in sizes] + [by.get("all", np.nan)],
                    color=color, marker="o", label=f"{net}, whitened")
            if "" in by:
                ax.axhline(by[""], color=color, ls=":", label=f"{net}, centred-L2")
        ax.set_xscale("log")
        ax.set_xticks(xs, ticks, fontsize=7)
        ax.minorticks_off()
        ax.set(title=f"{split}, {setting}", xlabel="pool clips (other classes)",
               ylabel="accuracy (%)")
        ax.legend(fontsize=6)
    fig.suptitle(f"Whitening from an unlabelled pool of other sounds, {shifts} shift(s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(paths):
    """Write each ``NAME.json`` of this module again as ``NAME.md`` and ``NAME.png`` (the
    run's own command kept; nothing scored again)."""
    for path in map(Path, paths):
        try:
            rec = json.loads(path.read_text())
        except ValueError:
            rec = None
        if not isinstance(rec, dict) or "pool_sizes" not in rec or "summary" not in rec:
            raise SystemExit(f"{path}: not a research.transfer.pool output (no 'pool_sizes')")
        path.with_suffix(".md").write_text(markdown(rec["summary"], rec["command"]))
        plot_pool(rec["summary"], path.with_suffix(".png"), max(rec["tta"]))
        log(f"{path.with_suffix('.md')} and .png: written from {path.name}")


def _against_models(args, cfg, models):
    """``{seed: path}`` of ``--against``'s models, checked to read the same input."""
    if args.against is None:
        return {}
    other, found = run_models(args.against)
    found = [m for m in found if m[0] == args.against_kind]
    if other["config"]["logmel"] != cfg["logmel"]:
        raise SystemExit(f"--against {args.against}: its log-mel settings "
                         f"{other['config']['logmel']} differ from --run's {cfg['logmel']}")
    by_seed = {seed: path for _, seed, path in found}
    missing = sorted({seed for _, seed, _ in models} - set(by_seed))
    if missing:
        raise SystemExit(f"--against {args.against}: no {args.against_kind} model for seeds "
                         f"{missing} (it has {sorted(by_seed)})")
    return by_seed


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--render"]:
        render(argv[1:])
        return 0
    p = run_parser("python -m research.transfer.pool", __doc__, "pool")
    p.add_argument("--k", type=int, default=5, help="classes per few-shot problem")
    p.add_argument("--pool-sizes", nargs="+", type=_size, default=[10, 25, 50, 100, 200, "all"],
                   help="clips of the other classes in the pool (all: every one)")
    p.add_argument("--against", default=None, metavar="RUN",
                   help="also pair each trained model with RUN's model of --against-kind and "
                        "the same seed, on the same clips, pools and episodes")
    p.add_argument("--against-kind", default="baseline")
    args, out = parse_run_args(p, argv)
    results_json, models, cfg, base_X, trval, tasks = load_run(
        args.run, args.kinds, args.tasks, out, args.data_home, args.features_cache)
    against = _against_models(args, cfg, models)
    results = {}
    for kind, seed, net, model in networks(models, cfg, trval):
        _score_model(results, kind, seed, net, model, base_X, tasks, args)
        if net == "untrained" and against:
            _score_model(results, kind, seed, "reference", joblib.load(against[seed]), base_X,
                         tasks, args)
    rows = summarise(results) + summarise_norms(results, REFERENCE)
    if against:
        rows += summarise(results, against="reference", label=f" vs {args.against_kind}")
    command = command_line("research.transfer.pool", argv)
    record = run_record(command, args.run, results_json, tasks, rows, k=args.k,
                        pool_sizes=args.pool_sizes, pool_seed=POOL_SEED, tta=args.tta)
    (out / f"{args.name}.json").write_text(json.dumps(record))
    (out / f"{args.name}.md").write_text(markdown(rows, command))
    plot_pool(rows, out / f"{args.name}.png", max(args.tta))
    print(markdown(rows, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
