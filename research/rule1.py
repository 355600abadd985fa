"""Rule 1 of a lever's screen, read mechanically from ``research.ensemble versus``'s JSON.

The lever passes if, at the given number of test-time shifts, the mean of its 5-way
1-shot and 5-shot gains over the reference (seeds pooled) is positive on BOTH the
validation and the probe classes (the rule of ``research/results/time_pool/RULES.md``
and the screens after it). Prints the two means and the verdict; exits 0 if it passes,
1 if not, so that a queue runs the test-class stage only after a pass::

    python -m research.rule1 research/results/deep4/versus_tpool1.json --shifts 8
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def rule1(rows, shifts=8):
    """``({split: mean gain}, passed)`` over the 5w1s and 5w5s rows at ``shifts``."""
    means = {}
    for split in ("val", "probe"):
        gains = [r["gain"] for r in rows if str(r["tta"]) == str(shifts)
                 and r["split"] == split and r["setting"] in ("5w1s", "5w5s")]
        if len(gains) != 2:
            raise ValueError(f"expected the 5w1s and 5w5s rows of split {split!r} at "
                             f"{shifts} shifts; found {len(gains)}")
        means[split] = sum(gains) / 2
    return means, all(m > 0 for m in means.values())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("versus_json", type=Path)
    p.add_argument("--shifts", type=int, default=8)
    args = p.parse_args(argv)
    rows = json.loads(args.versus_json.read_text())["rows"]
    means, passed = rule1(rows, args.shifts)
    print(f"{args.versus_json}: {args.shifts} shifts, mean of 5w1s and 5w5s: "
          + ", ".join(f"{k} {v:+.2f}" for k, v in means.items())
          + (" -> passes rule 1" if passed else " -> fails rule 1"))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
