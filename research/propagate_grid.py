"""Rule G of ``research/results/long2x/RULES_propagate_grid.md``: the propagation's setting.

Reads the screen written by ``python -m research.transfer.layers ... --versus-norm
batch_propagated_l2`` (rows ``VARIANT trained vs batch_propagated_l2``: each setting of
:data:`research.transfer.layers.PROPAGATION_GRID` minus the current setting, 10
neighbours and ``alpha=0.5``, on the same network, clips and episodes). The setting chosen
is the one with the highest validation gain, mean of 5-way 1- and 5-shot, with ``--shifts``
test-time shifts (the current setting scores 0; ties go to the current setting, then to the
first in the grid). It passes if it is not the current setting and its gain is positive in
both settings on both the validation and the probe classes. Prints the table and the
verdict; exits 0 on a pass, 1 otherwise::

    python -m research.propagate_grid research/results/long2x/propagate_grid.json --shifts 8
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys

import numpy as np

from research.transfer.layers import PROPAGATION_GRID, grid_norm
from sklearn_hallu.nn import propagated_l2

#: the library's setting, ``batch_propagated_l2``'s: its function's defaults
CURRENT = tuple(inspect.signature(propagated_l2).parameters[name].default
                for name in ("n_neighbors", "alpha"))
REFERENCE = "batch_propagated_l2"
SETTINGS = ("5w1s", "5w5s")


def gains(summary, variant, shifts, depth="block3"):
    """``{(k, a): {split: {setting: gain}}}`` for ``split`` in ``val``, ``probe``; the
    current setting is 0 everywhere. Raises ``ValueError`` naming a missing row."""
    suffix = "" if shifts == 1 else f"+tta{shifts}"
    rows = {(r["split"], r["norm"], r["setting"]): r["gain"] for r in summary
            if r["variant"] == f"{variant} trained vs {REFERENCE}" and r["depth"] == depth}
    out = {}
    for k, a in PROPAGATION_GRID:
        out[(k, a)] = {}
        for split in ("val", "probe"):
            out[(k, a)][split] = {}
            for setting in SETTINGS:
                if (k, a) == CURRENT:
                    out[(k, a)][split][setting] = 0.0
                    continue
                key = (split, grid_norm(k, a) + suffix, setting)
                if key not in rows:
                    raise ValueError(f"propagate_grid: no row {key} for {variant!r} at "
                                     f"{shifts} shifts; run research.transfer.layers with "
                                     f"--norms {REFERENCE} and every grid norm, --versus-norm "
                                     f"{REFERENCE}, --tta {shifts}")
                out[(k, a)][split][setting] = float(rows[key])
    return out


def choose(table):
    """``(setting, passed)`` by the rule in the module's docstring."""
    order = [CURRENT] + [s for s in PROPAGATION_GRID if s != CURRENT]
    best = max(order, key=lambda s: (np.mean(list(table[s]["val"].values())),
                                     -order.index(s)))
    passed = best != CURRENT and all(table[best][split][setting] > 0
                                     for split in ("val", "probe") for setting in SETTINGS)
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
    print(f"gain over k={CURRENT[0]}, alpha={CURRENT[1]} ({args.shifts} shifts): "
          "val 5w1s / 5w5s | probe 5w1s / 5w5s")
    for (k, a), t in table.items():
        print(f"  k={k:>2} alpha={a:<4}: {t['val']['5w1s']:+.2f} / {t['val']['5w5s']:+.2f} | "
              f"{t['probe']['5w1s']:+.2f} / {t['probe']['5w5s']:+.2f}")
    (k, a), passed = choose(table)
    print(f"chosen on validation: k={k}, alpha={a} -> "
          + ("passes" if passed else "the current setting stays"))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
