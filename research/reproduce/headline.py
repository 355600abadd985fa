"""The README's headline tables, printed from a reproduction's results.json.

``python -m research.reproduce.headline docs/results/cpu_headline
[--time docs/results/cpu_headline_time]`` prints, in Markdown:

* the ESC-50 table (baseline and HalluAudio, ours and the paper's): each mean over
  the seeds with the 95% CI over the test clips and, in brackets, the 95%
  t-interval over the seeds; the paired gain over the clips;
* with ``--time``, the same for the time-concept model of that run (Table 2);
* where every model was trained: the commits recorded per model and seed, and
  whether any model was trained at a commit other than the run's (the issue-28 rule:
  a headline comes from models trained by one commit).

Nothing is computed that the run did not compute; the script only lays out
``results.json``, so the README's numbers are reproducible from the files.
"""

from __future__ import annotations

import argparse
import sys

from .report import read_results, trained_elsewhere

__all__ = ["headline_tables", "main"]

SETTINGS = ("5-way 1-shot", "5-way 5-shot", "10-way 1-shot", "10-way 5-shot")
_NAMES = {"baseline": "baseline", "halluaudio": "HalluAudio with per-view losses",
          "time_concept": "time concept (Table 2)"}


def _row(label, cells):
    return f"| {label} | " + " | ".join(cells) + " |"


def _model_rows(results, kind):
    entry = results["models"][kind]
    n = len(entry["per_seed"])
    cells = [f"{m['accuracy']:.2f} ± {m['ci95_clips']:.2f} (± {m['ci95_seeds']:.2f})"
             for m in (entry["mean"][s] for s in SETTINGS)]
    rows = [_row(f"{_NAMES.get(kind, kind)} ({n} seeds)", cells)]
    paper = results["paper"].get(kind)
    if paper:
        if kind == "baseline":
            rows.append(_row(f"{kind}, paper (lower CI bound)", [
                f"{paper[s][0]:.2f} ({paper[s][0] - paper[s][1]:.2f})" for s in SETTINGS]))
        else:
            rows.append(_row(f"{_NAMES.get(kind, kind)}, paper",
                             [f"{paper[s][0]:.2f}" for s in SETTINGS]))
    gain = entry.get("paired_gain")
    if gain:
        rows.append(_row(f"{_NAMES.get(kind, kind)} - baseline, ours (paired)", [
            f"{gain[s]['gain']:+.2f} ± {gain[s]['ci95_clips']:.2f}" for s in SETTINGS]))
        if paper and results["paper"].get("baseline"):
            base = results["paper"]["baseline"]
            rows.append(_row(f"{_NAMES.get(kind, kind)} - baseline, paper", [
                f"{paper[s][0] - base[s][0]:+.2f}" for s in SETTINGS]))
    return rows


def _provenance(results, folder):
    commits = sorted({p["trained_at"]["commit"] for e in results["models"].values()
                      for p in e["per_seed"] if "trained_at" in p})
    missing = sum("trained_at" not in p for e in results["models"].values()
                  for p in e["per_seed"])
    n = sum(len(e["per_seed"]) for e in results["models"].values())
    lines = [f"`{folder}`: {n} models, trained at commit(s) "
             + (", ".join(f"`{c}`" for c in commits) or "(not recorded)")
             + (f"; {missing} without a record" if missing else "")]
    other = trained_elsewhere(results)
    if other:
        lines.append("NOT a one-commit run: " + "; ".join(f"{k} seed {s} at `{c}`"
                                                          for k, s, c in other))
    elif missing:
        lines.append("cannot tell whether one commit trained every model (a run older "
                     "than the per-model record)")
    else:
        lines.append("every model trained at the run's commit")
    return lines


def _check_headline_run(folder, results):
    """A quick run or another class split is not the paper's table: refuse it."""
    if results.get("quick"):
        raise ValueError(f"{folder}: a --quick run (a harness check, not a result).")
    if results.get("config", {}).get("class_split"):
        raise ValueError(f"{folder}: class split {results['config']['class_split']}, not the "
                         "paper's; the paper's rows would not apply.")


def _settings_line(results):
    cfg = results.get("config", {})
    return (f"prediction: embedding_norm {cfg.get('embedding_norm')}, test_time_shifts "
            f"{cfg.get('test_time_shifts', 1)}")


def headline_tables(folder, time_folder=None):
    """The headline's Markdown lines.

    Parameters
    ----------
    folder : str or pathlib.Path
        A reproduction of the baseline and HalluAudio (e.g. 5 seeds).
    time_folder : str or pathlib.Path or None
        A reproduction that also holds the time-concept model (e.g. 3 seeds).

    Returns
    -------
    list of str
    """
    results = read_results(folder)
    _check_headline_run(folder, results)
    for kind in ("baseline", "halluaudio"):
        if kind not in results["models"]:
            raise ValueError(f"{folder}: no {kind!r} in the run's models "
                             f"{sorted(results['models'])}; the headline compares the "
                             "baseline and HalluAudio (`--models baseline halluaudio`).")
    head = _row("model", list(SETTINGS))
    sep = "|" + "---|" * (len(SETTINGS) + 1)
    lines = [head, sep, *_model_rows(results, "baseline"), *_model_rows(results, "halluaudio"),
             "", *_provenance(results, folder), _settings_line(results)]
    if time_folder is not None:
        tr = read_results(time_folder)
        _check_headline_run(time_folder, tr)
        if "time_concept" not in tr["models"]:
            raise ValueError(f"{time_folder}: no 'time_concept' in the run's models "
                             f"{sorted(tr['models'])}; run it with `--models baseline "
                             "halluaudio time_concept`.")
        lines += ["", head, sep, *_model_rows(tr, "baseline")[:1],
                  *_model_rows(tr, "time_concept"), "", *_provenance(tr, time_folder),
                  _settings_line(tr)]
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m research.reproduce.headline",
                                description="Print the README's headline tables from a "
                                            "reproduction's results.json.")
    p.add_argument("folder", help="--out folder of the baseline + HalluAudio run")
    p.add_argument("--time", default=None, help="--out folder of the run with the time concept")
    args = p.parse_args(argv)
    try:
        print("\n".join(headline_tables(args.folder, args.time)))
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
