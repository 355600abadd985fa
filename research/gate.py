"""A recipe's gate on the test classes, read mechanically from ``research.cross_run_gain``.

Two readings of one ``gain.json`` (the paired gain of a model over a baseline on the same
test clips and episodes, per setting):

- ``positive``: the mean gain over the seeds is above zero in all four settings (5/10-way,
  1/5-shot) -- the test-class reading that makes a lever the candidate recipe;
- ``excludes-zero``: the 95% interval over the clips lies above zero in all four settings
  (gain minus its half-width > 0) -- issue 23's goal-1 paired criterion.

Prints each setting's gain and interval and the verdict; exits 0 if the gate passes and 1
if not, so that a queue runs its next stage only after a pass::

    python -m research.gate research/results/cross_run/tpool_long2x_vs_tpool/gain.json \
        --require positive
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from research.reproduce.paper import SETTING_NAMES as SETTINGS

REQUIREMENTS = ("positive", "excludes-zero")


def gate(paired_gain, require="positive"):
    """``({setting: (gain, ci95_clips)}, passed)`` for a ``gain.json``'s ``paired_gain``.

    Parameters
    ----------
    paired_gain : dict
        ``{setting: {"gain": float, "ci95_clips": float, ...}}`` as written by
        ``research.cross_run_gain``; all four settings must be present.
    require : {"positive", "excludes-zero"}
        Mean gain above zero, or the clip interval above zero, in every setting.
    """
    if require not in REQUIREMENTS:
        raise ValueError(f"require={require!r} is not one of {REQUIREMENTS}")
    missing = [s for s in SETTINGS if s not in paired_gain]
    if missing:
        raise ValueError(f"the paired gains lack the settings {missing}; found "
                         f"{sorted(paired_gain)}: is this a research.cross_run_gain file "
                         f"of a full reproduction (5/10-way, 1/5-shot)?")
    rows = {s: (paired_gain[s]["gain"], paired_gain[s]["ci95_clips"]) for s in SETTINGS}
    if require == "positive":
        passed = all(g > 0 for g, _ in rows.values())
    else:
        passed = all(g - ci > 0 for g, ci in rows.values())
    return rows, passed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("gain_json", type=Path, help="gain.json written by research.cross_run_gain")
    p.add_argument("--require", choices=REQUIREMENTS, default="positive")
    args = p.parse_args(argv)
    rows, passed = gate(json.loads(args.gain_json.read_text())["paired_gain"], args.require)
    print(f"{args.gain_json} ({args.require}): "
          + ", ".join(f"{s} {g:+.2f} ± {ci:.2f}" for s, (g, ci) in rows.items())
          + (" -> passes" if passed else " -> fails"))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
