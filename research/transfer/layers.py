"""Which depth of the backbone transfers: few-shot accuracy from each block's features.

The library embeds a clip with the last of its conv blocks (three by default), averaged
over time. For the
baseline models of an ablation run (and each one's untrained twin: the same seed's initial
weights), this study embeds clips with each block's output instead (averaged over time,
flattened over channels and mel bands), and with all three concatenated, and scores every
depth on the validation and probe classes (in-domain) and on the off-domain tasks, with
the paper's protocol on fixed episodes, raw and centred-L2 (centre: the training clips'
mean embedding, then each clip's part at unit norm, as the library's default)::

    python -m research.transfer.layers --out research/results/levers --variants base_ref \\
        --seeds 0 1 2 --tasks DATA/spoken_words DATA/instruments

Nothing is retrained; the test classes are not read.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.pipeline import Pipeline

from research._cli import command_line
from research.reproduce.features import log
from sklearn_hallu.model_selection import paired_clip_gain
from sklearn_hallu.nn import POOLINGS, pool_feature_map, whitening_stats
from sklearn_hallu.sampling import episodic_accuracy, paper_episodes

from .study import task_features

SETTINGS = ((5, 1), (5, 5))
LAYER_SEED = 20261205  # the same episodes for every network, depth and norm
BLOCKS = ("block1", "block2", "block3")
#: a concatenated depth -> the blocks it joins (each normalised on its own by centred_l2)
COMBOS = {"all": BLOCKS, "block23": ("block2", "block3")}
DEPTHS = (*BLOCKS, *COMBOS)


#: Poolings over time: a model pooled by one of these has its last block read as it pools
#: it (its own embedding); the blocks before, and a ``flatten`` model's last, are averaged.
TIME_POOLINGS = tuple(p for p in POOLINGS if p != "flatten")


def block_embeddings(clf, X, batch=200):
    """``{block1, block2, block3}`` -> (n_clips, dim) block outputs pooled over time: the
    mean, except the last block of a model pooled by one of :data:`TIME_POOLINGS`, which
    is pooled as the model pools it (then ``block3`` is the model's embedding).

    ``block3`` is always the backbone's last block: in a deeper backbone (four blocks or
    more) the blocks between the second and the last run but are not read."""
    module = clf.net_.module_
    module.eval()
    backbone = module.backbones[0]
    n_blocks = len(backbone.blocks)
    if n_blocks < len(BLOCKS):
        raise ValueError(f"block_embeddings reads {len(BLOCKS)} blocks; this backbone has "
                         f"{n_blocks}")
    # each block's name, None for the middle blocks of a deeper backbone
    names = [*BLOCKS[:-1], *[None] * (n_blocks - len(BLOCKS)), BLOCKS[-1]]
    outs = {d: [] for d in BLOCKS}
    X = np.asarray(X if X.ndim == 4 else X[:, None], dtype=np.float32)
    device = module.mean.device  # where the model was loaded (a GPU run's stays there)
    with torch.no_grad():
        for i in range(0, len(X), batch):
            z = torch.nan_to_num((torch.from_numpy(X[i:i + batch]).to(device) - module.mean)
                                 / module.std, nan=0.0)
            if module.channels_last:
                z = z.contiguous(memory_format=torch.channels_last)
            for name, block in zip(names, backbone.blocks):
                z = block(z)
                if name is None:
                    continue
                own = name == BLOCKS[-1] and backbone.pooling in TIME_POOLINGS
                pooling = backbone.pooling if own else "time_mean"
                outs[name].append(pool_feature_map(z, pooling).flatten(1))
    emb = {k: torch.cat(v).cpu().numpy().astype(np.float64) for k, v in outs.items()}
    return emb


def tta_embeddings(clf, X, n_shifts, batch=200):
    """:func:`block_embeddings` averaged over ``n_shifts`` circular time shifts of the
    input, evenly spaced over the clip (``n_shifts=1``: the plain embeddings)."""
    if n_shifts == 1:
        return block_embeddings(clf, X, batch)
    n_frames = X.shape[-1]
    acc = None
    for j in range(n_shifts):
        e = block_embeddings(clf, np.roll(X, j * n_frames // n_shifts, axis=-1), batch)
        acc = e if acc is None else {k: acc[k] + e[k] for k in acc}
    return {k: v / n_shifts for k, v in acc.items()}


def with_task_statistics(clf, X, batch=200):
    """A copy of ``clf`` whose batch norms' running statistics are re-estimated on the clips
    ``X`` (AdaBN, Li et al. 2016): each one reset, then the equal-weight average of its
    batch statistics over ``X`` in batches of ``batch``, the weights unchanged. Prediction
    then reads the clips' own domain statistics instead of the training clips'; with
    ``X`` the clips being classified it is transductive, as the batch centre is."""
    clf = copy.deepcopy(clf)
    module = clf.net_.module_
    module.eval()
    norms = [m for m in module.modules()
             if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches
        bn.train()
    X = np.asarray(X if X.ndim == 4 else X[:, None], dtype=np.float32)
    device = module.mean.device
    with torch.no_grad():
        for i in range(0, len(X), batch):
            module(torch.from_numpy(X[i:i + batch]).to(device))
    for bn in norms:
        bn.momentum = 0.1
        bn.eval()
    return clf


def centred_l2(parts, centre):
    """Centre each depth's part on the base clips' mean, then give every clip's part unit
    norm (SimpleShot's CL2N, as the library's ``centered_l2`` does per view): in ``all``
    each depth weighs the same."""
    out = {}
    for k, e in parts.items():
        c = e - centre[k]
        out[k] = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    return {**out, **_joined(out)}


def _joined(parts):
    return {name: np.concatenate([parts[k] for k in blocks], axis=1)
            for name, blocks in COMBOS.items()}


def raw(parts):
    return {**parts, **_joined(parts)}


def sqrt_parts(parts):
    """Element-wise square root of each depth's (non-negative, post-ReLU) features: the
    power transform of Hu et al. (2021) with power 0.5, before centring."""
    return {k: np.sqrt(np.maximum(e, 0.0)) for k, e in parts.items()}


def centre_of(parts):
    return {k: e.mean(axis=0) for k, e in parts.items()}


def whitener(e):
    """``(mean, W)`` of clips ``e`` (n, dim): ``(x - mean) @ W`` whitens them (ZCA: ``W`` is
    the inverse square root of their covariance, shrunk towards a multiple of the identity
    by Ledoit and Wolf's (2004) closed form, so no constant is chosen here); the library's
    :func:`sklearn_hallu.nn.whitening_stats` of one view."""
    mean, w = whitening_stats(torch.from_numpy(np.asarray(e, dtype=np.float64)),
                              [slice(0, e.shape[1])])
    return mean.numpy(), w.numpy()


def propagated_l2(parts, base, **settings):
    """Each depth's part centred-L2 on ``base``'s mean (:func:`centred_l2`), then smoothed
    along the nearest-neighbour graph of the clips scored together and put at unit norm
    again: the library's ``embedding_norm="batch_propagated_l2"``
    (:func:`sklearn_hallu.nn.propagated_l2`; ``settings``, its ``n_neighbors`` and
    ``alpha``, default to the library's) for a single depth of a one-view model. A joined
    depth joins blocks propagated each on its own graph."""
    from sklearn_hallu.nn import propagated_l2 as propagate

    out = {}
    for k, e in centred_l2(parts, centre_of(base)).items():
        if k in COMBOS:
            continue
        out[k] = propagate(torch.from_numpy(e), [slice(0, e.shape[1])], **settings).numpy()
    return {**out, **_joined(out)}


#: the propagation's grid (``research/results/long2x/RULES_propagate_grid.md``): neighbours
#: per clip and strength; each setting is the norm ``batch_propagated_l2_k{K}_a{A}``
PROPAGATION_GRID = [(k, a) for k in (5, 10, 20, 40) for a in (0.5, 0.75, 0.9)]


def grid_norm(k, a):
    """The name of the propagation grid's setting ``(k, a)``."""
    return f"batch_propagated_l2_k{k}_a{a}"


#: label propagation's strengths (``research/results/long2x/RULES_label_prop.md``); each
#: is the norm ``batch_labelprop_a{A}``: the propagated embeddings, classified by label
#: propagation from each episode's supports along the graph of the clips scored together
LABELPROP_ALPHAS = (0.2, 0.5, 0.9, 0.99)
#: each strength plain and with class mass normalisation (Zhu et al. 2003: each class's
#: scores divided by the mass its supports spread over all the clips of the call)
LABELPROP_GRID = [(a, b) for a in LABELPROP_ALPHAS for b in (False, True)]


def labelprop_norm(alpha, balanced=False):
    """The name of label propagation at strength ``alpha`` (``_cmn``: class mass
    normalised)."""
    return f"batch_labelprop_a{alpha}" + ("_cmn" if balanced else "")


def whitened_l2(parts, base):
    """Each depth's part centred and whitened by :func:`whitener` of ``base``'s part, then
    at unit norm: centred-L2 where every direction of the base clips' embeddings weighs
    the same (a trained network that concentrates them in a few directions has the
    others scaled up)."""
    out = {}
    for k, e in parts.items():
        mean, w = whitener(base[k])
        c = (e - mean) @ w
        out[k] = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    return {**out, **_joined(out)}


#: norm name -> (per-split embeddings, base-clip embeddings) -> embeddings by depth
NORMS = {
    "raw": lambda parts, base: raw(parts),
    "centred_l2": lambda parts, base: centred_l2(parts, centre_of(base)),
    "sqrt_centred_l2": lambda parts, base: centred_l2(sqrt_parts(parts),
                                                      centre_of(sqrt_parts(base))),
    # transductive: centred on the mean of the clips scored together (the whole split)
    "batch_centred_l2": lambda parts, base: centred_l2(parts, centre_of(parts)),
    # whitened by the base clips' covariance (Ledoit-Wolf), then unit norm
    "whitened_l2": lambda parts, base: whitened_l2(parts, base),
    # transductive: whitened by the covariance of the clips scored together
    "batch_whitened_l2": lambda parts, base: whitened_l2(parts, parts),
    # transductive: centred-L2, then smoothed along the scored clips' neighbour graph
    "batch_propagated_l2": propagated_l2,
    # centred per episode on its supports' mean: see per_clip_support_centred
    "support_centred_l2": lambda parts, base: raw(parts),
    # the propagation with other neighbour counts and strengths (PROPAGATION_GRID)
    **{grid_norm(k, a): (lambda parts, base, k=k, a=a:
                         propagated_l2(parts, base, n_neighbors=k, alpha=a))
       for k, a in PROPAGATION_GRID},
    # the propagated embeddings, classified by label propagation (see SCORERS)
    **{labelprop_norm(a, b): propagated_l2 for a, b in LABELPROP_GRID},
}


def paper_per_clip(emb, y, passes, random_state):
    """``{"5w1s": ..., "5w5s": ...}``: each clip's accuracy over ``passes`` passes of the
    paper's protocol on embeddings ``emb`` (the episodes of ``random_state``)."""
    out = {}
    for n_way, k_shot in SETTINGS:
        res = episodic_accuracy(emb, y, n_way=n_way, k_shot=k_shot, protocol="paper",
                                n_repeats=passes, random_state=random_state)
        out[f"{n_way}w{k_shot}s"] = res.correct.reshape(passes, len(y)).mean(axis=0)
    return out


def per_clip(emb, y, passes):
    """:func:`paper_per_clip` on the episodes every network, depth and norm here shares."""
    return paper_per_clip(emb, y, passes, LAYER_SEED)


def per_clip_support_centred(emb, y, passes, chunk=256):
    """As :func:`per_clip`, on the same episodes, but each episode centres the embeddings
    on the mean of its own supports (no query enters it), L2-normalises supports and
    query, and takes the prototypes as the means of the normalised supports."""
    emb = np.asarray(emb, dtype=np.float64)

    def unit(a):
        return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)

    def decide(support):
        pred = np.empty(len(emb), dtype=np.int64)
        for s in range(0, len(emb), chunk):
            sup = emb[support[s:s + chunk]]  # (q, way, shot, dim)
            centre = sup.mean(axis=(1, 2))  # (q, dim)
            protos = unit(sup - centre[:, None, None]).mean(axis=2)
            query = unit(emb[s:s + chunk] - centre)[:, None]
            pred[s:s + chunk] = ((query - protos) ** 2).sum(-1).argmin(1)
        return pred

    return _per_clip_deciding(y, passes, decide)


def _per_clip_deciding(y, passes, decide):
    """``{"5w1s": ..., "5w5s": ...}``: each clip's accuracy over :func:`per_clip`'s
    episodes (the paper's protocol, ``passes`` passes drawn from ``LAYER_SEED`` as
    ``episodic_accuracy``'s ``random_state``), each pass's answers ``decide(support)``:
    the position of each clip's predicted class among its episode's ``n_way``."""
    classes, y_idx = np.unique(np.asarray(y), return_inverse=True)
    members = [np.flatnonzero(y_idx == c) for c in range(len(classes))]
    out = {}
    for n_way, k_shot in SETTINGS:
        rng = np.random.RandomState(LAYER_SEED)
        ok = np.zeros((passes, len(y_idx)))
        for p in range(passes):
            support, target = paper_episodes(y_idx, members, n_way, k_shot, rng)
            ok[p] = decide(support) == target
        out[f"{n_way}w{k_shot}s"] = ok.mean(axis=0)
    return out


def per_clip_label_propagated(emb, y, passes, alpha, balanced=False, chunk=256):
    """As :func:`per_clip`, on the same episodes, but each query is classified by label
    propagation (Zhou et al. 2004) instead of prototypes: with ``S`` the clips'
    nearest-neighbour graph (:func:`sklearn_hallu.nn.neighbour_graph`, the library's
    propagation graph, 10 neighbours) and ``P = (I - alpha S)^-1``, class ``c`` scores
    ``sum_j P[query, j]`` over the episode's supports ``j`` of ``c`` (the propagated
    one-hot labels of the supports, read at the query; the query and every other clip
    of the call are the unlabelled ones); ``balanced`` divides each class's score by
    ``sum_i sum_j P[i, j]``, the mass its supports spread over all the clips ``i`` of the
    call (class mass normalisation, Zhu et al. 2003), so a class whose supports sit in a
    dense part of the graph does not take every query. A query that no support reaches (every score
    0: a part of the graph without supports) is classified by the prototypes, as
    :func:`per_clip` does; with ``alpha=0`` that is every query."""
    from sklearn_hallu.nn import neighbour_graph, prototype_logits, prototypes

    n = len(emb)
    emb_t = torch.as_tensor(np.asarray(emb)).float()  # as episodic_accuracy scores them
    s = neighbour_graph(torch.as_tensor(np.asarray(emb, dtype=np.float64))).to_dense()
    prop = np.linalg.inv(np.eye(n) - alpha * s.numpy())
    mass = prop.sum(axis=0)  # what each clip as a support spreads over the call

    def decide(support):
        score = prop[np.arange(n)[:, None, None], support].sum(axis=2)  # (n, way)
        if balanced:
            score = score / mass[support].sum(axis=2)
        pred = score.argmax(axis=1)
        lost = np.flatnonzero(score.max(axis=1) <= 0)
        for a in range(0, len(lost), chunk):
            q = lost[a:a + chunk]
            logits = prototype_logits(emb_t[q].unsqueeze(1),
                                      prototypes(emb_t[torch.from_numpy(support[q])]))
            pred[q] = logits[:, 0].argmax(-1).numpy()
        return pred

    return _per_clip_deciding(y, passes, decide)


#: norm name -> its scorer ``(emb, y, passes) -> {setting: per-clip accuracy}`` where it
#: is not :func:`per_clip`
SCORERS = {"support_centred_l2": per_clip_support_centred,
           **{labelprop_norm(a, b): (lambda emb, y, passes, a=a, b=b:
                                     per_clip_label_propagated(emb, y, passes, a, b))
              for a, b in LABELPROP_GRID}}


def variant_clips(variant, task_dirs, out, data_home=None, features_cache=None):
    """ESC-50's training and validation clips as ``variant``'s log-mel, and each task's:
    ``(X, y, split, {task name: (X, y)})`` (task features cached under ``out``)."""
    from research.ablation import training_clips
    from research.variants import variant_config

    y, split, features, keep = training_clips(data_home, features_cache)
    _, cfg = variant_config(variant)
    cache = Path(out) / "transfer_features" / f"nfft{cfg['n_fft']}"
    tasks = {Path(t).name: task_features(t, {"n_fft": cfg["n_fft"]}, cache)
             for t in task_dirs}
    return features(cfg["n_fft"], keep), y, split, tasks


def untrained_twin(variant, seed, args_ns, split):
    """The run's model rebuilt with the same seed and fitted without training."""
    from research.ablation import build
    from research.variants import variant_config

    kind, cfg = variant_config(variant)
    model = build(kind, cfg, args_ns, seed, split["validation"])
    model.set_params(**{("clf__" if isinstance(model, Pipeline) else "") + "train_backbone":
                        False})
    return model


def seed_networks(out, variant, seed, X, y, split, device="cpu", twin=True):
    """A run's trained model of ``seed``, its untrained twin fitted on the run's training
    clips (None, and not built, if not ``twin``), and the masks of the probe and validation
    clips of ``y``."""
    from research.ablation import saved_run

    run, trained, probe = saved_run(out, variant, seed, y, split)
    va = np.isin(y, split["validation"])
    ns = argparse.Namespace(epochs=run["epochs"], episodes=run["episodes"],
                            lr_step=run["lr_step"], channels=run["channels"], device=device,
                            threads=2, verbose=0, out=str(out))
    net = untrained_twin(variant, seed, ns, split).fit(X[~probe], y[~probe]) if twin else None
    return trained, net, probe, va


def build_parser():
    """The command line of :func:`main`."""
    p = argparse.ArgumentParser(prog="python -m research.transfer.layers",
                                description=__doc__.split("\n\n")[0],
                                epilog="`render NAME.json ...` writes NAME.md again from a "
                                       "run's json (today's table, nothing scored).")
    p.add_argument("--out", required=True)
    p.add_argument("--variants", nargs="+", default=["base_ref"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--tasks", nargs="*", default=[],
                   help="folders of off-domain tasks (research.transfer.data); none: only "
                        "the validation and probe classes")
    p.add_argument("--union", action="store_true",
                   help="also score the validation and probe clips as one call ('val+probe': "
                        "10 classes, as the test split; episodes drawn among all 10)")
    p.add_argument("--nets", nargs="+", default=["trained", "untrained"],
                   choices=["trained", "untrained"],
                   help="networks scored (trained minus untrained rows need both)")
    p.add_argument("--passes", type=int, default=10)
    p.add_argument("--data-home", default=None)
    p.add_argument("--norms", nargs="+", default=["raw", "centred_l2"], choices=sorted(NORMS))
    p.add_argument("--depths", nargs="+", default=[*BLOCKS, "all"], choices=DEPTHS,
                   help="block outputs to score; 'all' joins the three blocks, 'block23' "
                        "the last two (each block normalised on its own by centred_l2)")
    p.add_argument("--name", default="layers", help="output stem: NAME.md, NAME.json")
    p.add_argument("--device", default="cpu", help="the untrained twins' device (cpu, cuda)")
    p.add_argument("--features-cache", default=None, help="an .npz of ESC-50's log-mel as "
                   "`reproduce --features-cache` writes it, read instead of the audio files")
    p.add_argument("--tta", nargs="+", type=int, default=[1],
                   help="embeddings averaged over N circular time shifts (one row per N; "
                        "1: plain)")
    p.add_argument("--bn-stats", nargs="+", default=["model"], choices=["model", "task"],
                   help="batch-norm statistics at prediction: the model's (its training "
                        "clips') or re-estimated on each split's own clips (AdaBN, "
                        "transductive; rows marked +taskbn; the centre of centred_l2 is "
                        "then the base clips through the same statistics)")
    p.add_argument("--against", nargs=2, default=None, metavar=("DIR", "VARIANT"),
                   help="also score another run's trained models of the same seeds "
                        "(DIR/models/VARIANT_seedS.joblib) and pair each variant with them on "
                        "the same clips and episodes (rows 'VARIANT_A vs VARIANT')")
    p.add_argument("--versus-norm", default=None, metavar="NORM",
                   help="also pair every other norm with NORM on the same network, clips and "
                        "episodes (rows 'VARIANT NET vs NORM', the other norm in the norm column, "
                        "NORM's score in the untrained column); NORM must be one of --norms")
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["render"]:  # python -m research.transfer.layers render NAME.json ...
        return render(argv[1:])
    p = build_parser()
    args = p.parse_args(argv)
    if args.versus_norm is not None and args.versus_norm not in args.norms:
        p.error(f"--versus-norm {args.versus_norm!r} must be one of --norms {args.norms}")
    if args.against and "trained" not in args.nets:
        p.error(f"--against compares the trained networks with it; --nets {args.nets} "
                "leaves them out")
    if min(args.tta) < 1:
        p.error(f"--tta: each N must be >= 1 (1: plain), got {args.tta}")
    joined = sorted(set(COMBOS) & set(args.depths))
    if "support_centred_l2" in args.norms and joined:
        p.error("--norms support_centred_l2 centres a joined depth's parts together, not "
                f"block by block as centred_l2 does; leave {joined} out of --depths with it")
    from research.ablation import training_clips
    from research.variants import variant_config

    out = Path(args.out)
    y, split, features, keep = training_clips(args.data_home, args.features_cache)
    results = {}
    for variant in args.variants:
        _, cfg = variant_config(variant)
        X = features(cfg["n_fft"], keep)
        tasks = {Path(t).name: task_features(t, {"n_fft": cfg["n_fft"]},
                                             out / "transfer_features" / f"nfft{cfg['n_fft']}")
                 for t in args.tasks}
        for seed in args.seeds:
            trained, twin, probe, va = seed_networks(out, variant, seed, X, y, split,
                                                     args.device,
                                                     twin="untrained" in args.nets)
            base = ~probe & ~va
            splits = {"val": (X[va], y[va]), "probe": (X[probe], y[probe]), **tasks}
            if args.union:  # one call of 10 classes, as the test split's 400 clips
                both = va | probe
                splits["val+probe"] = (X[both], y[both])
            nets = [(n, m) for n, m in (("trained", trained), ("untrained", twin))
                    if n in args.nets]
            if args.against:
                nets.append(("reference", joblib.load(
                    Path(args.against[0]) / "models" / f"{args.against[1]}_seed{seed}.joblib")))
            for net_name, model in nets:
                clf = model[-1] if isinstance(model, Pipeline) else model
                for n_tta in args.tta:
                    _score_net(results, variant, seed, net_name, clf, X[base], splits,
                               n_tta, args)
                log(f"{variant} seed {seed} {net_name}: done")
    summary = summarise(results) if len(args.nets) == 2 else []
    if args.against:
        summary += summarise(results, against="reference", label=f" vs {args.against[1]}")
    if args.versus_norm:
        summary += summarise_norms(results, args.versus_norm)

    command = command_line("research.transfer.layers", argv)
    (out / f"{args.name}.json").write_text(json.dumps({"command": command,
                                                         "summary": summary}))
    (out / f"{args.name}.md").write_text(markdown(summary, command))
    print(markdown(summary, command))


def _score_net(results, variant, seed, net_name, clf, X_base, splits, n_tta, args):
    """Score one network on every split, norm and depth into ``results``."""
    for stats in args.bn_stats:
        if stats == "model":
            _score_splits(results, variant, seed, net_name, clf, X_base, splits, n_tta, args,
                          "")
            continue
        for split_name, data in splits.items():  # statistics of each split's own clips
            _score_splits(results, variant, seed, net_name,
                          with_task_statistics(clf, data[0]), X_base, {split_name: data},
                          n_tta, args, "+taskbn")


def _score_splits(results, variant, seed, net_name, clf, X_base, splits, n_tta, args, tag):
    base_parts = tta_embeddings(clf, X_base, n_tta)
    for split_name, (Xs, ys) in splits.items():
        parts = tta_embeddings(clf, Xs, n_tta)
        for norm in args.norms:
            embs = NORMS[norm](parts, base_parts)
            label = (norm if n_tta == 1 else f"{norm}+tta{n_tta}") + tag
            score = SCORERS.get(norm, per_clip)
            for depth in args.depths:
                acc = score(embs[depth], ys, args.passes)
                for key, pc in acc.items():
                    results.setdefault(variant, {}).setdefault(
                        (split_name, label, depth, key), {}).setdefault(
                        seed, {})[net_name] = pc


def summarise(results, against="untrained", label=""):
    """Rows of the trained networks minus ``against`` (``"untrained"``: each seed's twin;
    ``"reference"``: ``--against``'s model of the seed), paired seed by seed on the same
    clips and episodes; the row's ``untrained`` field holds ``against``'s score."""
    rows = []
    for variant, by_key in results.items():
        for (split_name, norm, depth, key), by_seed in by_key.items():
            pairs = [(by_seed[s]["trained"], by_seed[s][against]) for s in sorted(by_seed)]
            g = paired_clip_gain(pairs)
            rows.append({"variant": variant + label, "split": split_name, "norm": norm,
                         "depth": depth, "setting": key, "seeds": sorted(by_seed),
                         "trained": 100 * float(np.mean([a for a, _ in pairs])),
                         "untrained": 100 * float(np.mean([b for _, b in pairs])),
                         "gain": g["gain"], "ci95_clips": g["ci95_clips"],
                         "ci95_seeds": g["ci95_seeds"], "per_seed": g["per_seed"]})
    return rows


def summarise_norms(results, reference):
    """Rows of each norm minus the norm ``reference`` on the same network (each of them),
    seed, clips and episodes; the row's ``untrained`` field holds ``reference``'s score and
    its ``variant`` reads ``VARIANT NET vs REFERENCE``."""
    rows = []
    for variant, by_key in results.items():
        for (split_name, label, depth, key), by_seed in by_key.items():
            norm, sep, rest = label.partition("+")
            if norm == reference:
                continue
            ref = by_key.get((split_name, reference + sep + rest, depth, key))
            if ref is None:
                continue
            seeds = sorted(by_seed)
            for net in by_seed[seeds[0]]:
                pairs = [(by_seed[s][net], ref[s][net]) for s in seeds]
                g = paired_clip_gain(pairs)
                rows.append({"variant": f"{variant} {net} vs {reference}", "split": split_name,
                             "norm": label, "depth": depth, "setting": key, "seeds": seeds,
                             "trained": 100 * float(np.mean([a for a, _ in pairs])),
                             "untrained": 100 * float(np.mean([b for _, b in pairs])),
                             "gain": g["gain"], "ci95_clips": g["ci95_clips"],
                             "ci95_seeds": g["ci95_seeds"], "per_seed": g["per_seed"]})
    return rows


def gain_cell(row, missing="n/a"):
    """A row's paired gain as a table cell: ``+g ± clips; ± seeds``. Without a seed interval
    (a table written before it was recorded, or of one seed): ``; ± missing``, or nothing
    after the clips' interval when ``missing`` is None."""
    cell = f"{row['gain']:+.2f} ± {row['ci95_clips']:.2f}"
    seeds = row.get("ci95_seeds")
    if seeds is not None and np.isfinite(seeds):
        return f"{cell}; ± {seeds:.2f}"
    return cell if missing is None else f"{cell}; ± {missing}"


def rewrite_tables(paths, key, to_markdown, what):
    """Write each ``NAME.json`` again as ``NAME.md`` with ``to_markdown(rows, command)`` (the
    run's own command kept; nothing scored again); ``key``: where the json keeps its rows,
    ``what``: the module that writes such files, named when a file is not one."""
    for path in map(Path, paths):
        rec = json.loads(path.read_text())
        if not isinstance(rec, dict) or key not in rec or "command" not in rec:
            raise SystemExit(f"{path}: not a {what} output (no '{key}')")
        path.with_suffix(".md").write_text(to_markdown(rec[key], rec["command"]))
        log(f"{path.with_suffix('.md')}: written from {path.name}")


def render(paths):
    """Write each ``NAME.json`` of this module again as ``NAME.md`` with today's table."""
    rewrite_tables(paths, "summary", markdown, "research.transfer.layers")


def markdown(rows, command):
    lines = ["# Few-shot accuracy by backbone depth, trained vs untrained", "",
             f"Command: `{command}`", "",
             "Each depth: that block's output averaged over time (`all`: the three "
             "concatenated). Gain: trained minus the same seed's untrained network, paired on "
             "the same clips and episodes (points ± 95% CI over the clips; ± 95% t-interval "
             "over the seeds, the one to read for a training lever); in rows 'A vs B' "
             "(`--against`), A's trained network minus B's of the same seed, B's score in the "
             "untrained column; in rows 'VARIANT NET vs NORM' (`--versus-norm`), the row's "
             "norm minus NORM on that network, NORM's score in the untrained column.", "",
             "| variant | split | norm | depth | setting | seeds | trained | untrained | gain |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["variant"], r["split"], r["norm"], r["setting"],
                                         DEPTHS.index(r["depth"]))):
        lines.append(f"| {r['variant']} | {r['split']} | {r['norm']} | {r['depth']} | "
                     f"{r['setting']} | {len(r['seeds'])} | {r['trained']:.2f} | "
                     f"{r['untrained']:.2f} | {gain_cell(r)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
