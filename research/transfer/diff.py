"""Paired difference of the trained networks of two transfer studies of the same models.

Two runs of ``python -m research.transfer.study`` on the same reproduction and tasks score
the same clips on the same episodes (the episodes depend on the seed and the labels), so
their trained networks pair per clip: e.g. the batch centre against the training-clip
centre, what a user gets by switching the option::

    python -m research.transfer.diff --model benchmarks/results/transfer/default_batch_centre \\
        --reference benchmarks/results/transfer/default \\
        --out benchmarks/results/transfer/default_batch_centre/vs_default.md

``--other-models`` pairs two studies of different models of the same seeds (two
checkpoint rules, say): each seed's episodes are still the same, which the untrained
twins show by scoring the clips alike in both studies (checked: refused where more than
1% of a setting's clips differ; the count is written under the table). Its ``training``
rows are the difference of what training adds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from research._cli import command_line
from sklearn_hallu.model_selection import paired_clip_gain

__all__ = ["paired_trained", "same_models", "main"]


def _per_clip(rec, net):
    """A per-seed record's per-clip scores of ``net``; ``"training"``: trained minus
    untrained (what training adds, clip by clip)."""
    if net == "training":
        return (np.asarray(rec["trained_per_clip"], dtype=float)
                - np.asarray(rec["untrained_per_clip"], dtype=float))
    return rec[f"{net}_per_clip"]


def _shared_cells(model, reference, kinds=None):
    """``(kind, seed, task, setting, record, reference record)`` of every kind, seed, task
    and setting both ``transfer.json`` records hold (seeds in order); ``kinds=(a, b)``:
    kind ``a`` of ``model`` against kind ``b`` of ``reference``."""
    for kind, kind_ref in ([tuple(kinds)] if kinds else [(k, k) for k in model["per_model"]]):
        seeds = model["per_model"].get(kind, {})
        ref = reference["per_model"].get(kind_ref, {})
        for s in sorted(set(seeds) & set(ref), key=int):
            for task, settings in seeds[s].items():
                for setting, rec in settings.items():
                    yield kind, s, task, setting, rec, ref[s][task][setting]


def paired_trained(model, reference, net="trained", kinds=None):
    """``{(kind, task, setting): gain dict}``: ``model``'s ``net`` minus ``reference``'s
    on the seeds both hold (two ``transfer.json`` records). ``kinds=(a, b)`` pairs kind
    ``a`` of ``model`` with kind ``b`` of ``reference`` (both studies score every kind of
    a run on the same episodes per seed), e.g. HalluAudio against the baseline."""
    cells = {}
    for kind, s, task, setting, rec, ref in _shared_cells(model, reference, kinds):
        cells.setdefault((kind, task, setting), []).append(
            (s, (_per_clip(rec, net), _per_clip(ref, net))))
    if not cells:
        raise SystemExit("the two studies share no model kind and seed")
    return {key: {**paired_clip_gain([p for _, p in by_seed]),
                  "seeds": [s for s, _ in by_seed]} for key, by_seed in cells.items()}


def _check_twins(model, reference, kinds=None, tolerance=0.01):
    """``(clips that differ, clips)`` of the untrained twins of every shared kind, seed,
    task and setting; refused where more than ``tolerance`` of a cell's clips score
    differently. On the same clips and episodes the twins agree but for near-ties that
    another machine's rounding flips (one pass of one clip in a few thousand); other
    episodes change most clips' scores."""
    differ = total = 0
    for kind, s, task, setting, rec, ref in _shared_cells(model, reference, kinds):
        a = np.asarray(rec["untrained_per_clip"], dtype=float)
        b = np.asarray(ref["untrained_per_clip"], dtype=float)
        if a.shape != b.shape:
            raise SystemExit(f"{kind} seed {s}, {task} {setting}: {len(a)} against "
                             f"{len(b)} clips: other task folders")
        n = int(np.sum(~np.isclose(a, b)))
        if n > tolerance * len(a):
            raise SystemExit(
                f"{kind} seed {s}, {task} {setting}: the untrained twins score {n} of "
                f"{len(a)} clips differently, so the studies did not use the same clips "
                "and episodes (or the same task folders); they cannot be paired")
        differ, total = differ + n, total + len(a)
    return differ, total


def same_models(run_a, run_b):
    """True for one run, or two runs whose saved models are byte for byte the same files
    (a reproduction's models copied to test them another way)."""
    if run_a == run_b:
        return True
    files = [{f.name: hashlib.sha256(f.read_bytes()).hexdigest()
              for f in sorted((Path(r) / "models").glob("*.joblib"))} for r in (run_a, run_b)]
    return bool(files[0]) and files[0] == files[1]


def markdown(rows, command, names):
    lines = [f"# {names[0]} minus {names[1]}, paired per clip", "", f"Command: `{command}`", "",
             "The same clips and episodes (the same task folders are assumed: a study "
             "records their sizes, not their files); points ± 95% CI over the clips (seeds "
             "averaged per clip) and over the seeds. Network `training`: the trained "
             "network's per-clip score minus its untrained twin's, so its row is a "
             "difference of the two models' gains from training.", "",
             "| model | task | setting | seeds | network | gain | CI clips | CI seeds |",
             "|---|---|---|---|---|---|---|---|"]
    for (kind, task, setting, net), g in rows.items():
        lines.append(f"| {kind} | {task} | {setting} | {len(g['seeds'])} | {net} | "
                     f"{g['gain']:+.2f} | ±{g['ci95_clips']:.2f} | ±{g['ci95_seeds']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m research.transfer.diff",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a transfer study's folder (transfer.json)")
    p.add_argument("--reference", required=True, help="another study of the same models")
    p.add_argument("--out", required=True, help="the .md to write (a .json beside it)")
    p.add_argument("--kinds", nargs=2, default=None, metavar=("MODEL_KIND", "REFERENCE_KIND"),
                   help="pair one model kind with another (e.g. halluaudio baseline)")
    p.add_argument("--other-models", action="store_true",
                   help="the studies scored other models of the same seeds (e.g. two "
                        "checkpoint rules); their untrained twins must score alike")
    args = p.parse_args(argv)
    recs = [json.loads((Path(f) / "transfer.json").read_text())
            for f in (args.model, args.reference)]
    if recs[0]["repeats"] != recs[1]["repeats"] or not (
            args.other_models or same_models(recs[0]["run"], recs[1]["run"])):
        raise SystemExit(f"the two studies scored other models or passes: {recs[0]['run']} "
                         f"({recs[0]['repeats']}) vs {recs[1]['run']} ({recs[1]['repeats']})"
                         "; --other-models pairs other models of the same seeds")
    twins = _check_twins(*recs, kinds=args.kinds) if args.other_models else None
    nets = (("trained", "untrained", "training") if args.kinds or args.other_models
            else ("trained", "untrained"))
    rows = {(*k, net): g for net in nets
            for k, g in paired_trained(*recs, net=net, kinds=args.kinds).items()}
    command = command_line("research.transfer.diff", argv)
    out = Path(args.out)
    names = [Path(f).name + (f" {k}" if args.kinds else "")
             for f, k in zip((args.model, args.reference), args.kinds or ("", ""))]
    md = markdown(rows, command, names)
    if twins:
        md += (f"\nOther models of the same seeds (`--other-models`): the untrained twins "
               f"scored {twins[0]} of {twins[1]} clip-settings differently (near-ties "
               "flipped by the machines' rounding), the rest alike.\n")
    out.write_text(md)
    out.with_suffix(".json").write_text(json.dumps(
        {"command": command, "rows": [{"model": k[0], "task": k[1], "setting": k[2],
                                       "network": k[3], **g} for k, g in rows.items()]},
        default=float))
    print(out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
