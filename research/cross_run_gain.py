"""Paired gain of a model from one reproduction over a baseline from another.

Two runs of ``python -m research.reproduce`` test their models on the same
episodes when they share the test clips, the seeds and the number of passes (the
episodes depend only on the seed and the clips' labels). This pairs, per seed and
clip, a model of one run with a baseline of another, e.g. HalluAudio trained with
20-way episodes against the baseline trained 5-way::

    python -m research.cross_run_gain --model docs/results/gpu_h100_way20:halluaudio \\
        --baseline docs/results/cpu_long:baseline --out research/results/cross_run

and writes ``gain.json`` and ``gain.md`` there; with ``--record`` it also files the paired
gain in the model run's ``results.json`` (key ``paired_gains``, one entry per baseline, with
this command) and as a section of its ``results.md``, so that a recipe's results carry
their gain over the default. Settings that change the test
episodes (classes, number of clips and queries, passes, log-mel settings) must match,
or it stops and says which. Not checked, because results.json does not hold them:
the clips' order (both runs must read the same ESC-50 copy or feature cache) and the
episode sampler's code between the two commits (``sklearn_hallu/sampling.py``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from research.reproduce.paper import PAPER_TABLES, SETTING_NAMES
from research.reproduce.summary import paired_gain

#: config keys that decide which clips are tested, and how
SAME_TEST = ("val_classes", "repeats", "n_mels", "n_frames")


def load(spec):
    """``folder:model`` -> (results.json of folder, that model's entry)."""
    folder, _, kind = spec.rpartition(":")
    res = json.loads((Path(folder) / "results.json").read_text())
    if kind not in res["models"]:
        raise SystemExit(f"{folder}/results.json has no model {kind!r}; it has "
                         f"{sorted(res['models'])}")
    return res, res["models"][kind]


def check_same_test(a, b, names, ma, mb):
    """Stop unless both runs tested the same clips the same way (so their episodes pair)."""
    logmel = [{k: v for k, v in r["config"]["logmel"].items() if k != "dtype"} for r in (a, b)]
    diff = [k for k in SAME_TEST if a["config"].get(k) != b["config"].get(k)]
    diff += ["logmel"] if logmel[0] != logmel[1] else []
    diff += ["quick"] if bool(a.get("quick")) != bool(b.get("quick")) else []
    seeds = {p["seed"]: p for p in mb["per_seed"]}
    for p in ma["per_seed"]:
        q = seeds.get(p["seed"])
        for s in SETTING_NAMES if q is not None else ():
            ta, tb = p["test"][s], q["test"][s]
            if (len(ta.get("per_clip", [])) != len(tb.get("per_clip", []))
                    or set(ta["per_class"]) != set(tb["per_class"])
                    or ta["n_queries"] != tb["n_queries"]):
                diff.append(f"the test clips of seed {p['seed']}, {s}")
    if diff:
        raise SystemExit(f"{names[0]} and {names[1]} tested differently ({', '.join(diff)}): "
                         "their episodes do not pair up")


def short(commit):
    """A run's commit, shortened (a merged run may list several)."""
    return ", ".join(c[:7] for c in (commit if isinstance(commit, list) else [commit]))


def where(machine):
    """The GPU or device of a run's machine record (a merged run may list several)."""
    ms = machine if isinstance(machine, list) else [machine]
    return ", ".join(str(m.get("gpu", m.get("device"))) for m in ms)


def _accuracies(entry, setting, seeds):
    """A model's accuracy in ``setting`` on each of ``seeds``."""
    return [p["test"][setting]["accuracy"] for p in entry["per_seed"] if p["seed"] in seeds]


def mean_accuracy(entry, setting, seeds):
    """A model's accuracy in ``setting``, averaged over ``seeds`` only."""
    return statistics.fmean(_accuracies(entry, setting, seeds))


def seed_sd(entry, setting, seeds):
    """Standard deviation over ``seeds`` of a model's per-seed accuracy in ``setting``."""
    accs = _accuracies(entry, setting, seeds)
    return statistics.stdev(accs) if len(accs) > 1 else float("nan")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="FOLDER:MODEL, e.g. runs/x:halluaudio")
    p.add_argument("--baseline", required=True, help="FOLDER:MODEL, e.g. runs/y:baseline")
    p.add_argument("--out", required=True)
    p.add_argument("--record", action="store_true",
                   help="also file the gain in the model run's results.json and results.md")
    args = p.parse_args(argv)
    (ra, ma), (rb, mb) = load(args.model), load(args.baseline)
    check_same_test(ra, rb, (args.model, args.baseline), ma, mb)
    gain = paired_gain(ma["per_seed"], mb["per_seed"])
    if gain is None:
        raise SystemExit("no seed was tested with per-clip results in both runs")
    out = {"model": args.model, "baseline": args.baseline,
           "model_run": {k: ra[k] for k in ("command", "commit", "machine")},
           "baseline_run": {k: rb[k] for k in ("command", "commit", "machine")},
           "paired_gain": gain}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "gain.json").write_text(json.dumps(out, indent=1))
    seeds = gain[SETTING_NAMES[0]]["seeds"]
    kinds = [args.model.rpartition(":")[2], args.baseline.rpartition(":")[2]]
    lines = [f"# {args.model} minus {args.baseline}, paired", "",
             f"Command: `{command(args)}`", "",
             f"Model run: `{ra['command']}` (commit {short(ra['commit'])}, "
             f"{where(ra['machine'])}).  ",
             f"Baseline run: `{rb['command']}` (commit {short(rb['commit'])}, "
             f"{where(rb['machine'])}).  ",
             f"Seeds {seeds}: the same test clips and episodes per seed. ± clips: 95% CI over "
             "the clips' paired differences (mean of the seeds); ± seeds: 95% t-interval over "
             "the per-seed gains.", "",
             "| setting | model | baseline | gain | ± clips | ± seeds | per seed | paper's gain |",
             "|---|---|---|---|---|---|---|---|"]
    for s in SETTING_NAMES:
        g = gain[s]
        paper = (f"{PAPER_TABLES[kinds[0]][s][0] - PAPER_TABLES['baseline'][s][0]:+.2f}"
                 if kinds[1] == "baseline" and kinds[0] in ("halluaudio", "time_concept")
                 else "-")
        lines.append(
            f"| {s} | {mean_accuracy(ma, s, seeds):.2f} | {mean_accuracy(mb, s, seeds):.2f} | "
            f"{g['gain']:+.2f} | {g['ci95_clips']:.2f} | {g['ci95_seeds']:.2f} | "
            + ", ".join(f"{x:+.2f}" for x in g["per_seed"]) + f" | {paper} |")
    lines += ["", "Spread over the seeds: standard deviation of each seed's accuracy, model / "
              "baseline.", "", "| setting | model | baseline |", "|---|---|---|"]
    lines += [f"| {s} | {seed_sd(ma, s, seeds):.2f} | {seed_sd(mb, s, seeds):.2f} |"
              for s in SETTING_NAMES]
    md = "\n".join(lines) + "\n"
    (Path(args.out) / "gain.md").write_text(md)
    if args.record:
        record(args, ra, gain)
    print(md)


RECORD_HEADING = "## Paired gains over other runs (research.cross_run_gain --record)"


def command(args):
    """The command line that writes this gain."""
    return (f"python -m research.cross_run_gain --model {args.model} --baseline "
            f"{args.baseline} --out {args.out}" + (" --record" if args.record else ""))


def record(args, res, gain):
    """File ``gain`` under the model run's ``paired_gains`` (``res``: its results.json as
    :func:`load` read it; an entry of the same baseline is replaced) and rewrite the
    matching section at the end of its ``results.md``."""
    folder, _, kind = args.model.rpartition(":")
    path = Path(folder) / "results.json"
    entries = [e for e in res.get("paired_gains", []) if e["baseline"] != args.baseline]
    entries.append({"model": kind, "baseline": args.baseline, "command": command(args),
                    "file": str(Path(args.out) / "gain.json"), "paired_gain": gain})
    res["paired_gains"] = entries
    path.write_text(json.dumps(res, indent=1))
    md_path = Path(folder) / "results.md"
    if md_path.exists():
        body = md_path.read_text().split("\n" + RECORD_HEADING)[0].rstrip("\n")
        section = [RECORD_HEADING, ""]
        for e in entries:
            section += [f"{e['model']} minus `{e['baseline']}` (`{e['command']}`; "
                        f"`{e['file']}`): points ± 95% CI over the clips; ± over the seeds.", "",
                        "| setting | gain |", "|---|---|"]
            section += [f"| {s} | {g['gain']:+.2f} ± {g['ci95_clips']:.2f}; ± "
                        f"{g['ci95_seeds']:.2f} |" for s, g in e["paired_gain"].items()]
            section.append("")
        md_path.write_text(body + "\n\n" + "\n".join(section))


if __name__ == "__main__":
    main()
