"""Merge reproductions of different seeds into one (``reproduce --stage merge``).

Scale-out: each seed of the long recipe is independent, so several processes,
machines or sessions can each run ``reproduce --seeds <s>`` into their own
folder. Merging reads their ``results.json`` files and rebuilds the across-seed
numbers (means, the seed t-intervals, the paired gains over the clips, Figure 3)
from the per-seed, per-clip results with the functions a run over all the seeds
uses (its seeds in ascending order). Nothing is trained or tested again; the
models stay where they are. A merged folder can itself be merged again.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .features import log
from .report import git_commit, read_results, write_outputs
from .summary import model_entry

#: config keys that may differ between merged runs (they do not change a result)
_RUN_ONLY = ("device", "verbose")
#: run-level keys that must agree (and their value in runs that predate them)
_SAME = ("quick", "features_stored_as", "dataset")
_SAME_DEFAULTS = {"features_stored_as": "float32", "dataset": "esc50"}


def _read(folder):
    return Path(folder) / "results.json", read_results(
        folder, f"--merge {folder}", "Give folders that a reproduction "
        "(`reproduce --out FOLDER --seeds ...`) has written.")


def _shown(cfg, k):
    return repr(cfg[k]) if k in cfg else "absent (a run older than that option)"


def _check_compatible(runs):
    """Raise ValueError naming the first setting in which two runs differ.

    Also refuses a run that did not finish every seed it was asked for, and two
    runs holding the same seed of a model.
    """
    for p, r in runs:
        for kind, entry in r["models"].items():
            missing = sorted(set(r["seeds"]) - {e["seed"] for e in entry["per_seed"]})
            if missing:
                raise ValueError(
                    f"{p}: {kind} lacks seeds {missing} of the run's seeds {r['seeds']} (an "
                    "interrupted run). Finish it (rerun its command: finished models are "
                    "reused) before merging.")
    (p0, r0), rest = runs[0], runs[1:]
    cfg0 = {k: v for k, v in r0["config"].items() if k not in _RUN_ONLY}
    for p, r in rest:
        cfg = {k: v for k, v in r["config"].items() if k not in _RUN_ONLY}
        for k in sorted(set(cfg0) | set(cfg)):
            if cfg0.get(k) != cfg.get(k):
                raise ValueError(
                    f"cannot merge {p0} and {p}: config {k!r} is {_shown(cfg0, k)} in one and "
                    f"{_shown(cfg, k)} in the other. Merge only runs of the same settings "
                    "(rerun one of them with the other's options).")
        for k in _SAME:
            default = _SAME_DEFAULTS.get(k)
            if r0.get(k, default) != r.get(k, default):
                raise ValueError(f"cannot merge {p0} and {p}: {k!r} is {r0.get(k, default)!r} "
                                 f"in one and {r.get(k, default)!r} in the other. Merge only "
                                 "runs of the same settings.")
        if set(r["models"]) != set(r0["models"]):
            raise ValueError(f"cannot merge {p0} and {p}: models {sorted(r0['models'])} vs "
                             f"{sorted(r['models'])}. Merge runs of the same models (or "
                             "rerun one with the other's --models).")
    seen = {}
    for p, r in runs:
        for kind, entry in r["models"].items():
            for e in entry["per_seed"]:
                key = (kind, e["seed"])
                if key in seen:
                    raise ValueError(f"seed {e['seed']} of {kind} is in both {seen[key]} and "
                                     f"{p}: merge runs of different seeds.")
                seen[key] = p


def _one_or_all(values):
    """The value when every run has the same one, else the list of them (flattened)."""
    unique = []
    for v in values:
        for x in v if isinstance(v, list) else [v]:
            if x not in unique:
                unique.append(x)
    return unique[0] if len(unique) == 1 else unique


def _sources(path, r):
    """Where a run's seeds came from: itself, or the sources of an earlier merge."""
    if r.get("merged_from"):
        return r["merged_from"]
    return [{"out": str(Path(path).parent), "seeds": r["seeds"], "commit": r["commit"],
             "machine": r["machine"], "command": r["command"]}]


def merge_runs(folders, out):
    """Merge the reproductions in ``folders`` into ``out`` (results.json, results.md, figures).

    Parameters
    ----------
    folders : list of str or pathlib.Path
        Output folders of reproductions with the same settings and different seeds.
    out : str or pathlib.Path
        Where the merged results go (may be one of ``folders``: its results.json
        is then replaced by the merged one).

    Returns
    -------
    results : dict
        As one run over all the seeds would write it, with ``merged_from`` (each
        source's folder, seeds, commit, machine and command).

    Raises
    ------
    ValueError
        When the runs differ in a setting that changes a result, or share a seed.
    """
    if len(folders) < 2:
        raise ValueError(f"--merge needs two folders at least; got {len(folders)}.")
    target = Path(out) / "results.json"
    if target.is_file() and Path(out).resolve() not in {Path(f).resolve() for f in folders}:
        raise ValueError(f"--out {out} holds another run's results.json, which the merge "
                         "would replace; give a new --out (or name that folder in --merge).")
    runs = sorted((_read(f) for f in folders), key=lambda pr: min(pr[1]["seeds"]))
    _check_compatible(runs)
    sources = [m for p, r in runs for m in _sources(p, r)]
    commits = _one_or_all([m["commit"] for m in sources])
    if isinstance(commits, list):
        log(f"merge: the runs come from commits {commits}; their settings agree, but code "
            "changed between them may change results that the settings do not show")
    first = runs[0][1]
    per_seed, floors = {}, {}
    for kind in first["models"]:
        per_seed[kind] = sorted((e for _, r in runs for e in r["models"][kind]["per_seed"]),
                                key=lambda e: e["seed"])
        fl = [r["models"][kind].get("untrained") for _, r in runs]
        floors[kind] = [f for x in fl for f in x] if all(fl) else None
    models = {kind: model_entry(ps, per_seed.get("baseline") if kind != "baseline" else None,
                                floors[kind])
              for kind, ps in per_seed.items()}
    sweeps = [(p, r["sweep"]) for p, r in runs if r.get("sweep")]
    timings = {}  # per-seed keys are unique; the runs' own totals are summed
    for i, (_, r) in enumerate(runs, 1):
        for k, v in r["timings_s"].items():
            if k != "total":
                timings[k if k not in timings else f"{k} (run {i})"] = v
    timings["total"] = sum(r["timings_s"].get("total", 0.0) for _, r in runs)
    results = {
        "config": {**first["config"],
                   **{k: _one_or_all([r["config"].get(k) for _, r in runs])
                      for k in _RUN_ONLY}},
        "models": models, "sweep": sweeps[0][1] if sweeps else None,
        **({"dataset": first["dataset"]} if "dataset" in first else {}),
        "paper": first["paper"],
        "command": "python -m research.reproduce " + " ".join(sys.argv[1:]),
        "machine": _one_or_all([m["machine"] for m in sources]),
        "commit": commits,
        "quick": first["quick"],
        "seeds": sorted({e["seed"] for entry in models.values() for e in entry["per_seed"]}),
        "timings_s": timings,
        "features_stored_as": first.get("features_stored_as", "float32"),
        "peak_rss_gib": max(r.get("peak_rss_gib", 0.0) for _, r in runs),
        "merged_from": sources,
        "merged_by": {"commit": git_commit()},
    }
    if len(sweeps) > 1:
        log(f"merge: several runs have a split sweep; kept {sweeps[0][0]}'s")
    Path(out).mkdir(parents=True, exist_ok=True)
    write_outputs(results, out)
    log(f"merged seeds {results['seeds']} of {len(runs)} runs into {out}")
    return results
