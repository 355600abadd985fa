"""The spread term (research/decorrelate.py) on 50 random 5-way, 10-clip sets of
base_ref's base clips.

Seeds 0-1, trained and untrained (eval-mode embeddings, one shift). Run from the main
clone: ``SKLEARN_HALLU_ESC50=... PYTHONPATH=. python research/results/rank/logs/term_probe.py``.
Printed on 2026-12-06: see logs/term_probe.txt.
"""

import numpy as np
import torch

from research.ablation import training_clips
from research.decorrelate import spread_term
from research.transfer.layers import seed_networks, tta_embeddings

y, split, features, keep = training_clips(None, "/work/main/.gpu/esc50_f16.npz")
X = features(1024, keep)
for seed in (0, 1):
    tr, tw, probe, va = seed_networks("research/results/pooling", "base_ref", seed, X, y, split)
    base = ~probe & ~va
    rng = np.random.RandomState(0)
    yb, cls = y[base], np.unique(y[base])
    for name, m in (("trained", tr), ("untrained", tw)):
        e = tta_embeddings(m, X[base], 1)["block3"]
        vals = []
        for _ in range(50):
            ways = rng.choice(cls, 5, replace=False)
            idx = np.concatenate([rng.choice(np.flatnonzero(yb == c), 10, replace=False)
                                  for c in ways])
            vals.append(float(spread_term(torch.as_tensor(e[idx]))))
        print(seed, name, f"episode term mean {np.mean(vals):.4f} sd {np.std(vals):.4f}",
              f"all-base {float(spread_term(torch.as_tensor(e))):.4f}")
