"""Rule LP of ``research/results/long2x/RULES_label_prop.md``: label propagation.

Reads the screen written by ``python -m research.transfer.layers ... --union --versus-norm
batch_propagated_l2`` (rows ``VARIANT trained vs batch_propagated_l2``: each candidate of
:data:`research.transfer.layers.LABELPROP_GRID`, the propagated embeddings classified by
label propagation, minus the same embeddings classified by prototypes, on the same network,
clips and episodes). The candidate chosen is the one with the highest validation gain,
mean of 5-way 1- and 5-shot, with ``--shifts`` test-time shifts (ties go to the first in the
grid). It passes if its gain is positive in both settings on the validation classes, on the
probe classes and on the two scored as one call (``val+probe``: 10 classes, as the test
split). Prints the table and the verdict; exits 0 on a pass, 1 otherwise::

    python -m research.label_prop research/results/long2x/label_prop.json --shifts 8
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from research.transfer.layers import LABELPROP_GRID, labelprop_norm

REFERENCE = "batch_propagated_l2"
SETTINGS = ("5w1s", "5w5s")
SPLITS = ("val", "probe", "val+probe")


def gains(summary, variant, shifts, depth="block3"):
    """``{(alpha, balanced): {split: {setting: gain}}}`` for each split of :data:`SPLITS`.
    Raises ``ValueError`` naming a missing row."""
    suffix = "" if shifts == 1 else f"+tta{shifts}"
    rows = {(r["split"], r["norm"], r["setting"]): r["gain"] for r in summary
            if r["variant"] == f"{variant} trained vs {REFERENCE}" and r["depth"] == depth}
    out = {}
    for cand in LABELPROP_GRID:
        out[cand] = {}
        for split in SPLITS:
            out[cand][split] = {}
            for setting in SETTINGS:
                key = (split, labelprop_norm(*cand) + suffix, setting)
                if key not in rows:
                    raise ValueError(f"label_prop: no row {key} for {variant!r} at {shifts} "
                                     f"shifts; run research.transfer.layers with --union, "
                                     f"--norms {REFERENCE} and every label-propagation norm, "
                                     f"--versus-norm {REFERENCE}, --tta {shifts}")
                out[cand][split][setting] = float(rows[key])
    return out


def choose(table):
    """``(candidate, passed)`` by the rule in the module's docstring."""
    order = list(LABELPROP_GRID)
    best = max(order, key=lambda c: (np.mean(list(table[c]["val"].values())),
                                     -order.index(c)))
    passed = all(table[best][split][setting] > 0 for split in SPLITS for setting in SETTINGS)
    return best, passed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("screen", help="the JSON written by research.transfer.layers")
    p.add_argument("--shifts", type=int, default=8)
    p.add_argument("--variant", default="base_tpool1_long2x")
    args = p.parse_args(argv)
    with open(args.screen) as f:
        summary = json.load(f)["summary"]
    table = gains(summary, args.variant, args.shifts)
    print(f"gain over prototypes on the propagated embeddings ({args.shifts} shifts), "
          "5w1s / 5w5s: " + " | ".join(SPLITS))
    for (a, b), t in table.items():
        cells = " | ".join(f"{t[s]['5w1s']:+.2f} / {t[s]['5w5s']:+.2f}" for s in SPLITS)
        print(f"  alpha={a:<4} {'cmn  ' if b else 'plain'}: {cells}")
    (a, b), passed = choose(table)
    print(f"chosen on validation: alpha={a}, {'class mass normalised' if b else 'plain'} -> "
          + ("passes" if passed else "fails: the prototypes stay"))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
