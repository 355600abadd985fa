"""Ensembles of trained networks at prediction (issue 23; rule: research/results/ensemble/RULES.md).

A clip's ensemble embedding is the concatenation of its members' embeddings, each centred
on that member's own training clips' mean and L2-normalised (every member weighs the
same); prototypes are the means, as usual. ``validate`` scores ensembles of the lever
runs' models on the validation and probe classes against their members::

    python -m research.ensemble validate --out research/results/ensemble \\
        --models research/results/levers --tta 1 8 \\
        --ensembles base_ref:0+base_ref:1 base_ref:1+base_ref:2

``test`` is the one look at the test classes that the rule allows after validation: it
joins reproductions' saved models (``RUN:KIND:SEED`` each) and writes a reproduction-like
``results.json`` (one entry per ensemble kind, the first member's seed deciding the
episodes), so that ``python -m research.cross_run_gain`` pairs it per clip with a member
alone::

    python -m research.ensemble test --out docs/results/cpu_headline_ens \
        --reference docs/results/cpu_headline_tta --kind baseline_pair --tta 8 \
        --members docs/results/cpu_headline:baseline:0+docs/results/more:baseline:5

Nothing is retrained; ``validate`` does not read the test classes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import joblib
import numpy as np
from sklearn.pipeline import Pipeline

from research._cli import command_line
from research.reproduce.features import log
from sklearn_hallu.model_selection import paired_clip_gain

from .transfer.layers import (
    TIME_POOLINGS,
    gain_cell,
    per_clip,
    rewrite_tables,
    tta_embeddings,
)

__all__ = ["parse_ensemble", "parse_member", "unit_centred", "ensemble_embedding", "main"]


def parse_ensemble(spec):
    """``"base_ref:0+base_ref:1"`` -> ``[("base_ref", 0), ("base_ref", 1)]``."""
    members = []
    for part in spec.split("+"):
        variant, sep, seed = part.rpartition(":")
        if not sep or not variant or not seed.isdigit():
            raise ValueError(f"an ensemble member is VARIANT:SEED, got {part!r} in {spec!r}")
        members.append((variant, int(seed)))
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {spec!r}")
    return members


def unit_centred(emb, centre):
    """Centre on ``centre``, then unit L2 norm per clip."""
    c = np.asarray(emb, dtype=np.float64) - centre
    return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)


def ensemble_embedding(parts):
    """Concatenate members' unit-norm embeddings (each member weighs the same)."""
    return np.concatenate(parts, axis=1)


def _find_model(dirs, variant, seed):
    for d in dirs:
        path = Path(d) / "models" / f"{variant}_seed{seed}.joblib"
        if path.is_file():
            run = Path(d) / "runs" / f"{variant}_seed{seed}.json"
            if not run.is_file():
                raise FileNotFoundError(f"{path} has no run record {run}: the lever runs of "
                                        "research.ablation write both")
            return path, json.loads(run.read_text())
    raise FileNotFoundError(f"no model {variant}_seed{seed}.joblib under "
                            f"{[str(Path(d) / 'models') for d in dirs]}")


def _member_embeddings(path, X_base, splits, n_tta):
    """``{split: unit-centred embeddings}`` of one trained model."""
    model = joblib.load(path)
    clf = model[-1] if isinstance(model, Pipeline) else model
    centre = tta_embeddings(clf, X_base, n_tta)["block3"].mean(axis=0)
    return {name: unit_centred(tta_embeddings(clf, Xs, n_tta)["block3"], centre)
            for name, (Xs, _) in splits.items()}


def _row(pairs, **labels):
    """One table row: the paired gain of per-clip accuracies ``(model, reference)``."""
    g = paired_clip_gain(pairs)
    return {**labels, "n": len(pairs),
            "ensemble": 100 * float(np.mean([a.mean() for a, _ in pairs])),
            "reference": 100 * float(np.mean([b.mean() for _, b in pairs])),
            "gain": g["gain"], "ci95_clips": g["ci95_clips"], "ci95_seeds": g["ci95_seeds"],
            "per_seed": list(g["per_seed"]),
            "ensemble_per_seed": [100 * float(a.mean()) for a, _ in pairs],
            "reference_per_seed": [100 * float(b.mean()) for _, b in pairs]}


def _gain_rows(kind, label, split, setting, per_ens):
    """Pool ensembles of one kind: gain over the members' mean and over the best member."""
    return [_row([(e["ensemble"], e[ref]) for e in per_ens], kind=kind, tta=label,
                 split=split, setting=setting, against=ref)
            for ref in ("members_mean", "best_member")]


def kind_of(members):
    """Name an ensemble by its variants: ``base_ref x2``, ``base_ref+base_episode_shift``."""
    variants = [v for v, _ in members]
    return f"{variants[0]} x{len(variants)}" if len(set(variants)) == 1 else "+".join(variants)


def score(ensembles, embs, splits, passes):
    """Per-clip accuracies of each ensemble and its members, pooled by kind."""
    by_kind = {}
    for spec in ensembles:
        members = parse_ensemble(spec)
        for split, (_, ys) in splits.items():
            joined = per_clip(ensemble_embedding([embs[m][split] for m in members]), ys, passes)
            alone = [per_clip(embs[m][split], ys, passes) for m in members]
            for setting, acc in joined.items():
                singles = np.stack([a[setting] for a in alone])
                best = singles[np.argmax(singles.mean(axis=1))]
                by_kind.setdefault((kind_of(members), split, setting), []).append(
                    {"spec": spec, "ensemble": acc, "members_mean": singles.mean(axis=0),
                     "best_member": best})
    return by_kind


VERSUS_NOTE = ("A variant against a reference as the library predicts (each network's "
               "centred, unit-norm embeddings), paired seed by seed on the same clips and "
               "episodes; points ± 95% CI over the clips (seeds averaged per clip); with "
               "more than one seed, then ± the 95% t-interval over the seeds.")
ENSEMBLE_NOTE = ("Ensemble: members' centred, unit-norm embeddings concatenated. Gain: the "
                 "ensemble minus the mean of its members (or its best member, by mean accuracy "
                 "on that split), paired on the same clips and episodes; ensembles of one kind "
                 "pooled (n); points ± 95% CI over the clips.")


def markdown(rows, command, versus=False, title=None):
    title = title or ("Training variant against its reference" if versus
                      else "Ensembles of trained networks against their members")
    lines = [f"# {title}", "", f"Command: `{command}`", "",
             VERSUS_NOTE if versus else ENSEMBLE_NOTE, "",
             "| ensemble kind | shifts | split | setting | n | against | ensemble | reference "
             "| gain |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cell = (gain_cell(r, missing=None) if versus
                else f"{r['gain']:+.2f} ± {r['ci95_clips']:.2f}")
        lines.append(f"| {r['kind']} | {r['tta']} | {r['split']} | {r['setting']} | {r['n']} "
                     f"| {r['against']} | {r['ensemble']:.2f} | {r['reference']:.2f} | {cell} |")
    spread = [r for r in rows if len(r.get("ensemble_per_seed", ())) > 1] if versus else []
    if spread:  # the kind only where rows of several kinds would look alike
        kinds = len({r["kind"] for r in spread}) > 1
        lines += ["", "Spread over the seeds: standard deviation of each seed's mean accuracy "
                  "(points).", "", "| " + ("kind | " if kinds else "")
                  + "shifts | split | setting | seeds | variant | reference |",
                  "|---" * (7 if kinds else 6) + "|"]
        lines += [("| " + (f"{r['kind']} " if kinds else "") + ("| " if kinds else "")
                   + f"{r['tta']} | {r['split']} | {r['setting']} | {r['n']} | "
                   f"{np.std(r['ensemble_per_seed'], ddof=1):.2f} | "
                   f"{np.std(r['reference_per_seed'], ddof=1):.2f} |") for r in spread]
    return "\n".join(lines) + "\n"


def render(paths):
    """Write each ``NAME.json`` of this module again as ``NAME.md`` (today's table)."""
    rewrite_tables(paths, "rows", lambda rows, command: markdown(
        rows, command, versus=" versus " in f" {command} "), "research.ensemble")


def _lever_splits(args, members):
    """The lever runs' clips: ``(runs, X of the base clips, {val, probe: (X, y)})``."""
    from research.ablation import training_clips

    y, split, features, keep = training_clips(args.data_home, args.features_cache)
    X = features(1024, keep)
    runs = {m: _find_model(args.models, *m) for m in members}
    other = [f"{v}:{s}" for (v, s), (_, run) in runs.items()
             if run.get("model", "baseline") != "baseline"
             or run["config"].get("pooling") not in TIME_POOLINGS]
    if other:  # _member_embeddings reads the first backbone's own embedding only
        raise SystemExit("members must be baselines (one view) pooled over time "
                         f"({', '.join(TIME_POOLINGS)}), got {other}")
    held_out = {tuple(run.get("probe_classes", ())) for _, run in runs.values()}
    if len(held_out) != 1 or any(run["config"]["n_fft"] != 1024 for _, run in runs.values()):
        raise SystemExit("the members must share their probe classes and n_fft 1024, got "
                         f"probe classes {sorted(held_out)}")
    probe = np.isin(y, list(next(iter(held_out))))  # as the runs recorded them
    va = np.isin(y, split["validation"])
    return runs, X[~probe & ~va], {"val": (X[va], y[va]), "probe": (X[probe], y[probe])}


def versus(args, argv):
    """One variant against a reference, seed by seed, as the library predicts (centred-L2)."""
    members = [(v, s) for s in args.seeds for v in (args.variant, args.reference)]
    runs, X_base, splits = _lever_splits(args, members)
    rows = []
    for n_tta in args.tta:
        embs = {m: _member_embeddings(runs[m][0], X_base, splits, n_tta) for m in members}
        for split, (_, ys) in splits.items():
            acc = {m: per_clip(embs[m][split], ys, args.passes) for m in members}
            for setting in acc[members[0]]:
                pairs = [(acc[(args.variant, s)][setting], acc[(args.reference, s)][setting])
                         for s in args.seeds]
                rows.append(_row(pairs, kind=f"{args.variant} vs {args.reference}",
                                 tta=str(n_tta), split=split, setting=setting,
                                 against=args.reference))
        log(f"{n_tta} shifts: scored")
    _write(args, argv, rows)


def validate(args, argv):
    members = sorted({m for spec in args.ensembles for m in parse_ensemble(spec)})
    runs, X_base, splits = _lever_splits(args, members)
    rows = []
    for n_tta in args.tta:
        embs = {}
        for variant, seed in members:
            embs[(variant, seed)] = _member_embeddings(runs[(variant, seed)][0], X_base,
                                                       splits, n_tta)
            log(f"{variant} seed {seed}, {n_tta} shifts: embedded")
        for (kind, split_name, setting), per_ens in score(
                args.ensembles, embs, splits, args.passes).items():
            rows += _gain_rows(kind, str(n_tta), split_name, setting, per_ens)
    _write(args, argv, rows)


def _write(args, argv, rows):
    command = command_line("research.ensemble", argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps({"command": command, "rows": rows}))
    md = markdown(rows, command, versus=args.stage == "versus")
    (out / f"{args.name}.md").write_text(md)
    print(md)


def parse_member(spec):
    """``"RUN:KIND:SEED"`` -> ``(RUN, KIND, SEED)`` (RUN may hold colons)."""
    run, _, rest = spec.rpartition(":")
    run, _, kind = run.rpartition(":")
    if not run or not kind or not rest.isdigit():
        raise ValueError(f"a test member is RUN:KIND:SEED, got {spec!r}")
    return run, kind, int(rest)


def check_member_split(run, ref_cfg):
    """Refuse a member reproduction trained on another class split than the reference's."""
    path = Path(run) / "results.json"
    if not path.is_file():
        raise SystemExit(f"member run {run} has no results.json: members are reproduction "
                         "folders (research.reproduce --out)")
    got = json.loads(path.read_text())["config"].get("class_split") or 0
    if got != (ref_cfg.get("class_split") or 0):
        raise SystemExit(f"member run {run} was trained on class split {got!r} but the "
                         f"--reference on {ref_cfg.get('class_split')!r}; its test classes "
                         "differ: join members of the reference's split")


def test_stage(args, argv):
    """Score ensembles of saved reproduction models on the test classes (rule 2)."""
    from research.reproduce.experiments import _report_dict, _with_embedding_norm
    from research.reproduce.features import class_ids, load_features
    from research.reproduce.paper import K_SHOT_SETTINGS, SETTINGS
    from sklearn_hallu import embed
    from sklearn_hallu.model_selection import few_shot_report

    ref = json.loads((Path(args.reference) / "results.json").read_text())
    cfg = {**ref["config"], "embedding_norm": "centered_l2", "test_time_shifts": args.tta}
    ensembles = [[parse_member(m) for m in spec.split("+")] for spec in args.members]
    for run, _, _ in (m for members in ensembles for m in members):
        check_member_split(run, ref["config"])  # before anything is loaded
    feats = load_features(args.data_home, None, quick=bool(ref.get("quick")),
                          logmel={"n_fft": cfg["logmel"]["n_fft"]})
    ids, y = class_ids(feats["dataset"], ref["config"]), feats["target"]
    X = feats["X"].astype(np.float32, copy=False)
    test, trval = np.isin(y, ids["test"]), np.isin(y, list(ids["train"]) + list(ids["validation"]))
    per_seed = []
    for spec, members in zip(args.members, ensembles):
        parts, model = [], None
        for run, kind, seed in members:
            model = _with_embedding_norm(
                joblib.load(Path(run) / "models" / f"{kind}_seed{seed}.joblib"), cfg,
                X[trval], y[trval])
            e = np.asarray(embed(model, X[test]), dtype=np.float64)
            parts.append(e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12))
            log(f"{spec}: {kind} seed {seed} embedded")
        emb, seed = ensemble_embedding(parts), members[0][2]
        reports = [few_shot_report(model, X[test], y[test], settings=s, protocol="paper",
                                   n_repeats=cfg["repeats"], random_state=seed,
                                   embeddings=emb) for s in (SETTINGS, K_SHOT_SETTINGS)]
        log(f"{spec}:\n{reports[0]}")
        per_seed.append({"seed": seed, "members": spec, "test": _report_dict(reports[0]),
                         "k_shot": _report_dict(reports[1])})
    write_test_entry(args.out, ref, cfg, args.kind, per_seed,
                     command_line("research.ensemble", argv))


def write_test_entry(out, ref, cfg, kind, per_seed, command):
    """Add ``kind``'s per-seed test reports to ``out/results.json``, a reproduction-like
    record (``ref``'s dataset, paper and machine; ``cfg``) that ``research.cross_run_gain``
    pairs per clip with a reproduction."""
    from research.reproduce.report import git_commit
    from research.reproduce.summary import model_entry

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    res = json.loads(path.read_text()) if path.is_file() else {
        **{k: ref[k] for k in ("dataset", "paper", "machine", "quick")},
        "config": cfg, "models": {}, "commands": {}}
    if res["config"] != json.loads(json.dumps(cfg)):
        raise SystemExit(f"{path} holds entries scored with other settings (reference or "
                         "prediction options); write to another --out")
    res["models"][kind] = model_entry(per_seed)
    res["commands"][kind] = command
    res.update(command=command, commit=git_commit(), seeds=[p["seed"] for p in per_seed])
    path.write_text(json.dumps(res, indent=1))
    log(f"wrote {path} ({kind})")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m research.ensemble",
                                description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="stage", required=True)
    v = sub.add_parser("validate", help="ensembles of lever models on validation and probe")
    v.add_argument("--out", required=True)
    v.add_argument("--models", nargs="+", required=True,
                   help="lever run folders holding models/ and runs/")
    v.add_argument("--ensembles", nargs="+", required=True,
                   help="VARIANT:SEED+VARIANT:SEED[+...] each")
    v.add_argument("--tta", nargs="+", type=int, default=[1])
    v.add_argument("--passes", type=int, default=10)
    v.add_argument("--data-home", default=None)
    v.add_argument("--name", default="validation")
    v.add_argument("--features-cache", default=None, help="an .npz of ESC-50's log-mel as "
                   "`reproduce --features-cache` writes it, read instead of the audio files")
    w = sub.add_parser("versus", help="a training variant against its reference")
    w.add_argument("--out", required=True)
    w.add_argument("--models", nargs="+", required=True,
                   help="lever run folders holding models/ and runs/")
    w.add_argument("--variant", required=True)
    w.add_argument("--reference", default="base_ref")
    w.add_argument("--features-cache", default=None, help="an .npz of ESC-50's log-mel as "
                   "`reproduce --features-cache` writes it, read instead of the audio files")
    w.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    w.add_argument("--tta", nargs="+", type=int, default=[1])
    w.add_argument("--passes", type=int, default=10)
    w.add_argument("--data-home", default=None)
    w.add_argument("--name", default="versus")
    r = sub.add_parser("render", help="write NAME.md again from NAME.json (nothing scored)")
    r.add_argument("paths", nargs="+")
    t = sub.add_parser("test", help="one look at the test classes (rule 2)")
    t.add_argument("--out", required=True, help="folder of the ensembles' results.json")
    t.add_argument("--reference", required=True,
                   help="a reproduction whose settings (and test clips) are used")
    t.add_argument("--kind", required=True, help="the entry's name, e.g. baseline_pair")
    t.add_argument("--members", nargs="+", required=True,
                   help="RUN:KIND:SEED+RUN:KIND:SEED[+...] per ensemble")
    t.add_argument("--tta", type=int, default=8, help="test-time shifts of every member")
    t.add_argument("--data-home", default=None)
    args = p.parse_args(argv)
    specs = {"validate": getattr(args, "ensembles", ()),
             "test": getattr(args, "members", ())}.get(args.stage, ())
    try:
        for spec in specs:
            (parse_ensemble(spec) if args.stage == "validate"
             else [parse_member(m) for m in spec.split("+")])
    except ValueError as e:
        p.error(str(e))
    if args.stage == "render":
        return render(args.paths)
    {"validate": validate, "versus": versus, "test": test_stage}[args.stage](args, argv)


if __name__ == "__main__":
    main()
