"""Do two reproductions repeat each other? Per model and seed, from their results.json.

``python -m research.reproduce.compare RUN_A RUN_B`` prints, for every (model, seed)
that both runs trained, whether the training history repeats exactly (training loss,
training and validation accuracy, epoch by epoch; the epoch durations are ignored), the
first epoch where it does not, the epoch each run kept, and the test accuracies of both
in each setting. The header names each run's commit and machine (platform string, CPU and
torch's kernel capability where recorded).

This is how the docs state how far a number repeats: on one machine, across commits
whose training code is the same, and across machines (issue 28).
"""

from __future__ import annotations

import argparse
import sys

from .report import read_results

__all__ = ["compare_runs", "main"]

_KEYS = ("train_loss", "train_acc", "valid_acc")


def _read(folder):
    return read_results(folder, hint="Give --out folders of reproductions "
                        "(`python -m research.reproduce --out ...`).")


def _machine(results):
    m = results.get("machine") or {}
    if isinstance(m, list):
        return "; ".join(_machine({"machine": x}) for x in m)
    parts = [m.get("platform", "?")]
    for key in ("cpu", "torch_cpu_capability"):
        if m.get(key):
            parts.append(str(m[key]))
    return ", ".join(parts)


def _first_difference(ha, hb):
    """The first epoch (1-based) whose recorded numbers differ, or None."""
    for i, (a, b) in enumerate(zip(ha, hb), 1):
        if any(a.get(k) != b.get(k) for k in _KEYS):
            return i
    return None if len(ha) == len(hb) else min(len(ha), len(hb)) + 1


def compare_runs(a, b):
    """Per (model, seed) in both runs: does the history repeat, and the test numbers.

    Parameters
    ----------
    a, b : str or pathlib.Path
        Output folders of two reproductions.

    Returns
    -------
    list of dict
        ``model``, ``seed``, ``identical`` (history and test numbers), ``first_diff``
        (epoch, or None), ``kept`` (each run's kept epoch) and ``test`` (setting ->
        (accuracy of a, accuracy of b)).
    """
    ra, rb = _read(a), _read(b)
    rows = []
    for kind in sorted(set(ra["models"]) & set(rb["models"])):
        by_seed = {p["seed"]: p for p in rb["models"][kind]["per_seed"]}
        for pa in ra["models"][kind]["per_seed"]:
            pb = by_seed.get(pa["seed"])
            if pb is None:
                continue
            first = _first_difference(pa.get("history") or [], pb.get("history") or [])
            test = {s: (pa["test"][s]["accuracy"], pb["test"][s]["accuracy"])
                    for s in pa["test"] if s in pb["test"]}
            rows.append({"model": kind, "seed": pa["seed"], "first_diff": first,
                         "identical": (first is None and bool(pa.get("history")) and bool(test)
                                       and all(x == y for x, y in test.values())),
                         "kept": (pa.get("best_epoch"), pb.get("best_epoch")), "test": test})
    return rows


def markdown(a, b, rows):
    ra, rb = _read(a), _read(b)
    lines = [f"A: `{a}` at commit {ra.get('commit')}, machine {_machine(ra)}",
             f"B: `{b}` at commit {rb.get('commit')}, machine {_machine(rb)}", ""]
    if not rows:
        return "\n".join(lines + ["No model and seed in common."])
    settings = [s for s in rows[0]["test"] if all(s in r["test"] for r in rows)]
    lines += ["| model | seed | repeats exactly | first differing epoch | kept epoch A / B | "
              + " | ".join(f"{s} A / B" for s in settings) + " |",
              "|" + "---|" * (5 + len(settings))]
    for r in rows:
        cells = [f"{x:.2f} / {y:.2f}" for x, y in (r["test"][s] for s in settings)]
        lines.append(f"| {r['model']} | {r['seed']} | {'yes' if r['identical'] else 'no'} | "
                     f"{r['first_diff'] or '-'} | {r['kept'][0]} / {r['kept'][1]} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m research.reproduce.compare",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("a", help="--out folder of one reproduction")
    p.add_argument("b", help="--out folder of another")
    args = p.parse_args(argv)
    try:
        print(markdown(args.a, args.b, compare_runs(args.a, args.b)))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
