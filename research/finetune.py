"""Episode-specific fine-tuning on the support set, scored on the validation splits.

Issue 23's first lever (Zhuang, Peeters, Richard, arXiv 2410.05302 and 2506.17499): before
classifying an episode's query, fine-tune a copy of the backbone on the episode's support
set alone, with pseudo-queries drawn from the support set (rotating: with K >= 2 shots, in
step ``t`` the ``t mod K``-th clip of every class is the pseudo-query and the others make
the prototypes; with one shot, a time-shifted copy of each support clip is its
pseudo-query). The trained models of an ablation run (``research/results/<out>/models``)
are scored on the validation and probe classes with the paper's protocol, with and without
fine-tuning, on the same episodes, and the paired gain and the cost per episode are
reported::

    python -m research.finetune --out research/results/levers --variants base_ref \\
        --seeds 0 1 2 --steps 5 20 --passes 1

``--norm centred_l2`` scores (and fine-tunes) with the library's metric instead: every
embedding centred on the model's ``embedding_mean_`` (its training clips' mean, kept fixed
while the backbone moves) and scaled to the norm ``embedding_scale_``, as
``embedding_norm="centered_l2"`` does (rule 3 of
``research/results/levers/RULES_finetune.md``); it writes ``finetune_centred_l2.*``.

Choices fixed before any run (not tuned): SGD with momentum 0.9, learning rate 1e-3, no
weight decay; batch-norm statistics frozen (the backbone stays in evaluation mode, its
weights are what move); raw embeddings and squared distances, as the ablation scores.
``--lr`` and ``--momentum`` change the optimiser only to score with the inner loop of
``research/protomaml.py`` (``--lr 0.01 --momentum 0``); their defaults are the fixed choices
above. Accuracy is recorded after each number of ``--steps`` (one fine-tuning run per episode,
read off on the way). The test classes are not read.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.pipeline import Pipeline

from research._cli import command_line
from research.reproduce.features import log
from sklearn_hallu.model_selection import paired_clip_gain
from sklearn_hallu.sampling import paper_episodes

SETTINGS = ((5, 1), (5, 5))
EPISODE_SEED = 20261204  # the same episodes for every model, with and without fine-tuning
LR, MOMENTUM = 1e-3, 0.9


def _sq_logits(query, protos, mean=False):
    """Negative squared distances; ``mean``: averaged over the dimensions (as the authors
    of MAML-Proto do), else summed (the library's)."""
    sq = (query[:, None, :] - protos[None, :, :]) ** 2
    return -(sq.mean(-1) if mean else sq.sum(-1))


def _pseudo_split(Xs, step, n_way, k_shot, shift_rng):
    """(pseudo-support views, pseudo-query views, query targets) for one fine-tuning step."""
    if k_shot >= 2:
        q = step % k_shot
        keep = [j for j in range(k_shot) if j != q]
        return Xs[:, keep], Xs[:, q], torch.arange(n_way)
    shift = int(shift_rng.randint(20, 140)) * Xs.shape[-1] // 160
    return Xs, torch.roll(Xs[:, 0], shift, dims=-1), torch.arange(n_way)


def pseudo_query_loss(embed, Xs, step, shift_rng, mean_distance=False):
    """The fine-tuning loss of step ``step`` on the support ``Xs`` (n_way, k_shot, ...):
    the pseudo-supports and pseudo-queries of :func:`_pseudo_split` embedded in one batch
    by ``embed``, cross-entropy over the negative squared distances to the prototypes."""
    n_way, k_shot = Xs.shape[:2]
    sup, qry, tgt = _pseudo_split(Xs, step, n_way, k_shot, shift_rng)
    n_sup = sup.shape[0] * sup.shape[1]
    emb = embed(torch.cat([sup.reshape(-1, *sup.shape[2:]), qry]))
    protos = emb[:n_sup].reshape(n_way, sup.shape[1], -1).mean(1)
    return torch.nn.functional.cross_entropy(_sq_logits(emb[n_sup:], protos, mean_distance),
                                             tgt.to(Xs.device))


def centred_metric(clf):
    """The library's centred-L2 of a fitted classifier (``sklearn_hallu.nn.centered_l2``),
    as a function of raw embeddings that gradients flow through (the library's writes in
    place, which autograd refuses)."""
    mean = torch.from_numpy(np.asarray(clf.embedding_mean_, dtype=np.float32))
    scale = float(getattr(clf, "embedding_scale_", 1.0))
    slices = clf.view_slices_

    def metric(emb):
        c = emb - mean
        factor = torch.ones_like(c)
        for s in slices:
            factor[:, s] = scale / c[:, s].norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return c * factor

    return metric


def finetune_scores(module, Xs, Xq, steps, shift_rng, metric=None, lr=LR, momentum=MOMENTUM,
                    mean_distance=False, batch_stats=False):
    """Fine-tune ``module`` in place on the support ``Xs`` (n_way, k_shot, ...); after each
    step count of ``steps`` (ascending), the query's predicted class (0-based).
    ``metric`` maps raw embeddings to those the distances are taken on (default: raw);
    ``mean_distance`` and ``batch_stats`` set the fine-tuning's loss and batch norm as
    ``research.protomaml.inner_adapt`` does (the prediction stays the library's: summed
    distances, batch norm on the model's running statistics, which batch-statistics steps
    do not move)."""
    n_way, k_shot = Xs.shape[:2]
    embed = module if metric is None else (lambda x: metric(module(x)))
    opt = torch.optim.SGD(module.parameters(), lr=lr, momentum=momentum)
    out, done = {}, 0

    running = [b.detach().clone() for b in module.buffers()]

    def predict():
        module.eval()
        with torch.no_grad():
            for b, kept in zip(module.buffers(), running):  # the model's own statistics
                b.copy_(kept)
            emb = embed(torch.cat([Xs.reshape(-1, *Xs.shape[2:]), Xq[None]]))
            protos = emb[:-1].reshape(n_way, k_shot, -1).mean(1)
            return int(_sq_logits(emb[-1:], protos).argmax())

    for target in steps:
        while done < target:
            module.train(batch_stats)
            loss = pseudo_query_loss(embed, Xs, done, shift_rng, mean_distance)
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
        out[target] = predict()
    return out


def score_split(model, X, y, *, n_way, k_shot, passes, steps, norm="raw", lr=LR,
                momentum=MOMENTUM, mean_distance=False, batch_stats=False):
    """Per-clip accuracy without (step 0) and with fine-tuning, seconds per episode."""
    clf = model[-1] if isinstance(model, Pipeline) else model
    views = torch.from_numpy(np.asarray(X if X.ndim == 4 else X[:, None], dtype=np.float32))
    classes, y_idx = np.unique(y, return_inverse=True)
    members = [np.flatnonzero(y_idx == c) for c in range(len(classes))]
    rng = np.random.RandomState(EPISODE_SEED + 10 * n_way + k_shot)
    shift_rng = np.random.RandomState(EPISODE_SEED)
    base = clf.net_.module_
    metric = centred_metric(clf) if norm == "centred_l2" else None
    base.eval()
    hits = {s: np.zeros((passes, len(y))) for s in (0, *steps)}
    t0 = time.perf_counter()
    for p in range(passes):
        support, target = paper_episodes(y_idx, members, n_way, k_shot, rng)
        for i in range(len(y)):
            module = copy.deepcopy(base)
            module.eval()
            preds = finetune_scores(module, views[support[i]], views[i], (0, *steps),
                                    shift_rng, metric, lr, momentum, mean_distance,
                                    batch_stats)
            for s, pred in preds.items():
                hits[s][p, i] = pred == target[i]
    per_episode = (time.perf_counter() - t0) / (passes * len(y))
    return {s: h.mean(axis=0) for s, h in hits.items()}, per_episode


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m research.finetune",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="an ablation --out folder (models/, runs/)")
    p.add_argument("--variants", nargs="+", default=["base_ref"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", nargs="+", type=int, default=[5, 20])
    p.add_argument("--passes", type=int, default=1)
    p.add_argument("--data-home", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--norm", choices=["raw", "centred_l2"], default="raw",
                   help="the metric: raw squared distances (as the ablation scores) or the "
                        "library's centred-L2")
    p.add_argument("--lr", type=float, default=LR, help="the fine-tuning's SGD learning rate")
    p.add_argument("--momentum", type=float, default=MOMENTUM,
                   help="its momentum (0 with --lr 0.01: research.protomaml's inner loop)")
    p.add_argument("--mean-distance", action="store_true",
                   help="fine-tune on squared distances averaged over the dimensions "
                        "(MAML-Proto's; research.protomaml's base_fomaml_authors)")
    p.add_argument("--batch-stats", action="store_true",
                   help="fine-tune with batch norm on batch statistics (prediction keeps "
                        "the running statistics)")
    p.add_argument("--name", default=None, help="output stem (default: finetune[_NORM])")
    p.add_argument("--features-cache", default=None,
                   help="a log-mel cache of the training and validation classes (as "
                        "research.ablation run --features-cache)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from research.ablation import saved_run, training_clips
    from research.variants import variant_config

    out = Path(args.out)
    y, split, features, keep = training_clips(args.data_home, args.features_cache)
    results = {}
    for variant in args.variants:
        _, cfg = variant_config(variant)
        X = features(cfg["n_fft"], keep)
        for seed in args.seeds:
            _, model, probe = saved_run(out, variant, seed, y, split)
            views = (model[:-1].transform(X) if isinstance(model, Pipeline) else X)
            for name, mask in (("val", np.isin(y, split["validation"])), ("probe", probe)):
                for n_way, k_shot in SETTINGS:
                    per_clip, sec = score_split(model, views[mask], y[mask], n_way=n_way,
                                                k_shot=k_shot, passes=args.passes,
                                                steps=args.steps, norm=args.norm,
                                                lr=args.lr, momentum=args.momentum,
                                                mean_distance=args.mean_distance,
                                                batch_stats=args.batch_stats)
                    key = f"{n_way}w{k_shot}s"
                    results.setdefault(variant, {}).setdefault(name, {}).setdefault(
                        key, {})[seed] = {"per_clip": {s: v.tolist() for s, v in
                                                       per_clip.items()},
                                          "seconds_per_episode": sec}
                    log(f"{variant} seed {seed} {name} {key}: " + ", ".join(
                        f"{s} steps {100 * v.mean():.2f}" for s, v in per_clip.items())
                        + f" ({sec:.2f} s/episode)")
    summary = summarise(results, args.steps)
    command = command_line("research.finetune", argv)
    stem = args.name or ("finetune" if args.norm == "raw" else f"finetune_{args.norm}")
    (out / f"{stem}.json").write_text(json.dumps({"command": command, "results": results,
                                                   "summary": summary}))
    (out / f"{stem}.md").write_text(markdown(summary, command))
    print(markdown(summary, command))


def summarise(results, steps):
    rows = []
    for variant, splits in results.items():
        for name, keys in splits.items():
            for key, by_seed in keys.items():
                for s in steps:
                    g = paired_clip_gain([(r["per_clip"][s], r["per_clip"][0])
                                          for r in by_seed.values()])
                    rows.append({"variant": variant, "split": name, "setting": key, "steps": s,
                                 "seeds": sorted(by_seed),
                                 "plain": 100 * float(np.mean([r["per_clip"][0]
                                                               for r in by_seed.values()])),
                                 "gain": g["gain"], "ci95_clips": g["ci95_clips"],
                                 "seconds_per_episode": float(np.mean(
                                     [r["seconds_per_episode"] for r in by_seed.values()]))})
    return rows


def markdown(rows, command):
    lines = ["# Episode-specific fine-tuning on the support set (validation splits)", "",
             f"Command: `{command}`", "",
             "Gain: fine-tuned minus plain, paired on the same clips and episodes (points, ± "
             "95% CI over the clips). Seconds: fine-tuning and scoring one episode, all step "
             "counts of the run together.", "",
             "| variant | split | setting | steps | seeds | plain | gain | s/episode |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['variant']} | {r['split']} | {r['setting']} | {r['steps']} | "
              f"{len(r['seeds'])} | {r['plain']:.2f} | {r['gain']:+.2f} ± {r['ci95_clips']:.2f}"
              f" | {r['seconds_per_episode']:.2f} |" for r in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
